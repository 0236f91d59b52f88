"""One open stream's side of the fan-out: a bounded queue of frames and the means to wake
its writer. A subscriber that falls MAX_QUEUED_FRAMES behind is closed and resumes from its
last id, so a slow reader never grows the process's memory without bound.

A live stream whose writer is idle, with nothing queued, has a frame written from where it
was pushed (`send_now`), without waking the stream's task: the server's send of an SSE
chunk does no waiting unless the socket's buffer is full, and a task wake-up per stream
per event was most of what delivering it cost. Should the send have to wait, the rest of it
is handed to the stream's task (`unfinished`), which finishes it before anything else, and
frames queue behind it as before. Order holds: a frame is written from here only when the
queue is empty and no write is under way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from rooms import metrics

logger = logging.getLogger(__name__)

# A subscriber that has this many frames waiting is too slow to keep up: it is closed and
# resumes from its last id, instead of growing the process's memory without bound.
MAX_QUEUED_FRAMES = 2000

# Queued to a stream in place of a frame: check your access again before going on.
RECHECK = b""


class Subscriber:
    """One open stream: a bounded queue of frames and the means to wake its writer."""

    __slots__ = (
        "closed_reason",
        "frames",
        "last_sent",
        "room_id",
        "send_now",
        "session",
        "unfinished",
        "user_id",
        "waiter",
    )

    def __init__(self, room_id: int, user_id: int, session: str = "") -> None:
        self.room_id = room_id
        self.user_id = user_id
        # A digest of the session the stream was opened with, to close it on logout.
        self.session = session
        # (seq, frame); seq is None for heartbeats and RECHECK. A list, taken whole by the
        # writer (take): an empty one is small, and most streams' stays empty.
        self.frames: list[tuple[int | None, bytes]] = []
        self.waiter: asyncio.Future[None] | None = None
        self.closed_reason: str | None = None
        # The last id its writer sent: a frame at or below it was sent by the replay.
        self.last_sent = 0
        # Set by the live stream: write one frame now, return what is left of a send that
        # must wait (None once it is written).
        self.send_now: Callable[[int | None, bytes], Unfinished | None] | None = None
        self.unfinished: Unfinished | None = None

    def push(self, seq: int | None, frame: bytes) -> None:
        if self.closed_reason is not None:
            return
        waiter = self.waiter
        if (
            waiter is not None
            and self.send_now is not None
            and frame is not RECHECK
            and not waiter.done()
        ):
            # Its writer waits with nothing queued and nothing under way: write it from here.
            if not self.to_send(seq):
                return
            try:
                self.unfinished = self.send_now(seq, frame)
            except (Exception, asyncio.CancelledError):
                # Not into the hub's delivery loop: the other streams get the event all the
                # same (and a CancelledError from a send is this stream's, not the loop's).
                logger.exception("a stream of user %s: writing failed", self.user_id)
                self.close("error")
                return
            if self.unfinished is not None:
                self._wake()  # the socket is full: its task finishes the send
            return
        if len(self.frames) >= MAX_QUEUED_FRAMES:
            metrics.STREAM_OVERFLOWS.inc()
            self.close("overflow")
            return
        self.frames.append((seq, frame))
        self._wake()

    def to_send(self, seq: int | None) -> bool:
        """Whether a frame with this id is still to be written, taking it as written if so:
        one at or below the last id sent was sent by the replay. A frame without an id (a
        heartbeat, typing) always is."""
        if seq is None:
            return True
        if seq <= self.last_sent:
            return False
        self.last_sent = seq
        return True

    def take(self) -> list[tuple[int | None, bytes]]:
        """What is queued, in order; the queue starts again, empty."""
        frames, self.frames = self.frames, []
        return frames

    def close(self, reason: str) -> None:
        if self.closed_reason is None:
            self.closed_reason = reason
            self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Return once there is something to write, or the stream must close; first finish
        a send begun from push that had to wait."""
        if self.frames or self.closed_reason is not None:
            return
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None
        unfinished, self.unfinished = self.unfinished, None
        if unfinished is not None:
            await unfinished


def send_at_once(send: Callable[[Any], Awaitable[None]], message: Any) -> Unfinished | None:
    """Run the ASGI `send` of `message` as far as it goes without waiting: None if it is
    done, else what is left of it, to be awaited (by the stream's task)."""
    sending = send(message).__await__()
    try:
        waiting_on = next(sending)
    except StopIteration:
        return None
    return Unfinished(sending, waiting_on)


class Unfinished:
    """What is left of a send that had to wait: awaiting it goes on from where it stopped."""

    __slots__ = ("sending", "waiting_on")

    def __init__(self, sending: Generator[Any, Any, Any], waiting_on: Any) -> None:
        self.sending = sending
        self.waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, None]:
        sending, waiting_on = self.sending, self.waiting_on
        while True:
            try:
                value = yield waiting_on
            except BaseException as exc:  # cancelled while it waited: the send is told
                try:
                    waiting_on = sending.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    waiting_on = sending.send(value)
                except StopIteration:
                    return
