"""One open stream's side of the fan-out: a bounded queue of frames and the means to wake
its writer. A subscriber that falls MAX_QUEUED_FRAMES behind is closed and resumes from its
last id, so a slow reader never grows the process's memory without bound."""

from __future__ import annotations

import asyncio
import collections

from rooms import metrics

# A subscriber that has this many frames waiting is too slow to keep up: it is closed and
# resumes from its last id, instead of growing the process's memory without bound.
MAX_QUEUED_FRAMES = 2000

# Queued to a stream in place of a frame: check your access again before going on.
RECHECK = b""


class Subscriber:
    """One open stream: a bounded queue of frames and the means to wake its writer."""

    __slots__ = ("closed_reason", "frames", "room_id", "session", "user_id", "waiter")

    def __init__(self, room_id: int, user_id: int, session: str = "") -> None:
        self.room_id = room_id
        self.user_id = user_id
        # A digest of the session the stream was opened with, to close it on logout.
        self.session = session
        # (seq, frame); seq is None for heartbeats and RECHECK.
        self.frames: collections.deque[tuple[int | None, bytes]] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None
        self.closed_reason: str | None = None

    def push(self, seq: int | None, frame: bytes) -> None:
        if self.closed_reason is not None:
            return
        if len(self.frames) >= MAX_QUEUED_FRAMES:
            metrics.STREAM_OVERFLOWS.inc()
            self.close("overflow")
            return
        self.frames.append((seq, frame))
        self._wake()

    def close(self, reason: str) -> None:
        if self.closed_reason is None:
            self.closed_reason = reason
            self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Return once there is something to write, or the stream must close."""
        if self.frames or self.closed_reason is not None:
            return
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None
