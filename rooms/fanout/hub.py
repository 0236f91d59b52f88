"""The per-process registry of open streams, and in-order delivery to them.

A RoomChannel exists while a room has open streams in this process. Events reach it
from the fan-out backend in whatever order their transactions published them; the
channel hands them to its subscribers strictly in seq order, once each, filling any
hole from the event log before going on. Each event is encoded once per process.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import SyncToAsync
from django.db import close_old_connections, connections

from rooms.event_types import CHANGE_TYPES, SNAPSHOT_TYPES, LoggedEvent, Recheck

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_SECS = 15
HEARTBEAT_FRAME = b": keep-alive\n\n"
# A subscriber that has this many frames waiting is too slow to keep up: it is closed and
# resumes from its last id, instead of growing the process's memory without bound.
MAX_QUEUED_FRAMES = 2000
# How often to re-read the log for a missing seq before giving up on it (it is always
# committed before any later seq is published, so one read almost always finds it).
GAP_FILL_ATTEMPTS = 5
GAP_FILL_RETRY_SECS = 0.2


# Recent frames kept per room for replay, so that a crowd reconnecting after a blip reads
# them from memory rather than each from the log. Events never change once written.
RECENT_FRAMES_PER_ROOM = 2000
RECENT_ROOMS = 64


class _CachedRoom:
    __slots__ = ("frames", "generation", "messages")

    def __init__(self) -> None:
        self.frames: dict[int, bytes] = {}
        # seq -> the message whose state the frame carries (posted, edited, restored).
        self.messages: dict[int, int] = {}
        # Bumped whenever a message changes: a log read begun before that may be stale.
        self.generation = 0


class RecentFrames:
    """The last frames of the most recently active rooms, by seq. Used on the loop only.

    A frame that carries a message (posted, edited, restored) goes stale once the message
    changes (edited, deleted, removed, restored): delivering that change drops the
    message's older frames, so a replay reads them from the log, which has the present.
    """

    def __init__(self, per_room: int = RECENT_FRAMES_PER_ROOM, rooms: int = RECENT_ROOMS):
        self.per_room = per_room
        self.max_rooms = rooms
        self.rooms: collections.OrderedDict[int, _CachedRoom] = collections.OrderedDict()

    def _room(self, room_id: int) -> _CachedRoom:
        cached = self.rooms.get(room_id)
        if cached is None:
            cached = self.rooms[room_id] = _CachedRoom()
            while len(self.rooms) > self.max_rooms:
                self.rooms.popitem(last=False)
        else:
            self.rooms.move_to_end(room_id)
        return cached

    def generation(self, room_id: int) -> int:
        """Pass it to add() with frames read from the log after this call."""
        cached = self.rooms.get(room_id)
        return cached.generation if cached is not None else 0

    def add(
        self, room_id: int, event: LoggedEvent, frame: bytes, generation: int | None = None
    ) -> None:
        """Keep the frame of a delivered event (or, with `generation`, of one read from the
        log: dropped if a message changed since that read began)."""
        cached = self._room(room_id)
        if generation is not None and generation != cached.generation:
            return
        if event.message_id is not None:
            if event.type in CHANGE_TYPES:
                self._forget_older(cached, event.message_id, event.seq)
            if event.type in SNAPSHOT_TYPES:
                cached.messages[event.seq] = event.message_id
        cached.frames[event.seq] = frame
        if len(cached.frames) > self.per_room + self.per_room // 4:
            # Keep the newest per_room seqs.
            keep = sorted(cached.frames)[-self.per_room :]
            cached.frames = {seq: cached.frames[seq] for seq in keep}
            cached.messages = {
                seq: message for seq, message in cached.messages.items() if seq in cached.frames
            }

    @staticmethod
    def _forget_older(cached: _CachedRoom, message_id: int, seq: int) -> None:
        cached.generation += 1
        stale = [s for s, m in cached.messages.items() if m == message_id and s < seq]
        for s in stale:
            del cached.messages[s]
            cached.frames.pop(s, None)

    def get(self, room_id: int, after: int, upto: int) -> list[bytes] | None:
        """Frames after+1..upto, or None unless every one of them is here."""
        cached = self.rooms.get(room_id)
        if cached is None or upto <= after or upto - after > len(cached.frames):
            return None
        frames = cached.frames
        try:
            return [frames[seq] for seq in range(after + 1, upto + 1)]
        except KeyError:
            return None

    def clear(self) -> None:
        self.rooms.clear()


def encode_frame(seq: int, type: str, data: str) -> bytes:
    """One SSE frame, as django-eventstream writes it; data is one line of JSON."""
    return f"event: {type}\nid: {seq}\ndata: {data}\n\n".encode()


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


class StreamDatabaseSyncToAsync(SyncToAsync):
    """channels' database_sync_to_async, except that an SQLite connection stays open.

    Streams and the hub do their DB work in one worker thread (thread-sensitive, outside any
    request). channels closes the thread's connections around every call, which with
    CONN_MAX_AGE=0 means opening SQLite (and running its PRAGMAs) each time: most of the cost
    of opening a stream. An SQLite connection is a file handle, so this thread keeps one;
    PostgreSQL connections still go back to their pool after each call.
    """

    def thread_handler(self, loop: Any, *args: Any, **kwargs: Any) -> Any:
        _close_old_connections()
        try:
            return super().thread_handler(loop, *args, **kwargs)
        finally:
            _close_old_connections()


def _close_old_connections() -> None:
    for conn in connections.all(initialized_only=True):
        if conn.vendor != "sqlite":
            continue
        if conn.connection is not None and (conn.errors_occurred or conn.in_atomic_block):
            conn.close()  # not known to be healthy: start afresh next time
        # Keep it past CONN_MAX_AGE: close_old_connections() below would close it.
        conn.close_at = None
    close_old_connections()


def stream_database_sync_to_async(func: Callable[..., Any]) -> Any:
    return StreamDatabaseSyncToAsync(func, thread_sensitive=True)


def _load_events(room_id: int, after: int, before: int) -> list[LoggedEvent]:
    from rooms.models import RoomEvent

    return RoomEvent.objects.read(room_id, after, before)


def _load_head(room_id: int) -> int:
    """The room's newest seq."""
    from rooms.models import Room

    return Room.objects.filter(pk=room_id).values_list("last_event_seq", flat=True).first() or 0


def _load_heads(room_ids: list[int]) -> dict[int, int]:
    from rooms.models import Room

    return dict(Room.objects.filter(pk__in=room_ids).values_list("pk", "last_event_seq"))


load_events = stream_database_sync_to_async(_load_events)
load_head = stream_database_sync_to_async(_load_head)
load_heads = stream_database_sync_to_async(_load_heads)


class RoomChannel:
    """The open streams of one room in this process, and the last seq handed to them."""

    def __init__(self, room_id: int) -> None:
        self.room_id = room_id
        self.subscribers: set[Subscriber] = set()
        # Seq of the last event handed to subscribers; None until read from the log.
        self.head: int | None = None
        # The newest seq known to be committed: from a publish, or read from the log.
        self.target = 0
        # Events that arrived ahead of a hole, by seq.
        self.pending: dict[int, LoggedEvent] = {}
        self.filling = False
        self.ready = asyncio.Event()

    async def load(self) -> None:
        try:
            self.head = await load_head(self.room_id)
        finally:
            self.ready.set()
        self._drain()

    def offer(self, event: LoggedEvent) -> None:
        if self.head is not None and event.seq <= self.head:
            return  # already delivered (or before this channel opened: streams replay it)
        self.pending[event.seq] = event
        self.target = max(self.target, event.seq)
        self._drain()

    def catch_up(self, committed: int) -> None:
        """Deliver whatever the log holds up to `committed` that was never offered."""
        self.target = max(self.target, committed)
        self._drain()

    def _drain(self) -> None:
        if self.head is None:
            return
        self._deliver_pending()
        if self.head < self.target and not self.filling:
            self.filling = True
            # A context of its own: offer() may run in a callback that carries the context of
            # the thread that published (a request's), whose asgiref state must not leak
            # into the hub's DB trips.
            asyncio.get_running_loop().create_task(self._fill_gaps(), context=contextvars.Context())

    def _deliver_pending(self) -> None:
        assert self.head is not None
        for seq in [s for s in self.pending if s <= self.head]:
            del self.pending[seq]
        while self.head + 1 in self.pending:
            self._deliver(self.pending.pop(self.head + 1))

    def _deliver(self, event: LoggedEvent) -> None:
        self.head = event.seq
        frame = encode_frame(event.seq, event.type, event.data)
        hub.recent.add(self.room_id, event, frame)
        recheck, subject = event.recheck, event.subject
        for subscriber in self.subscribers:
            subscriber.push(event.seq, frame)
            # Whoever may have lost access checks again before anything later is sent. This
            # holds whether the event was published or read from the log after a lost one.
            if recheck == Recheck.EVERYONE or (
                recheck == Recheck.SUBJECT and subscriber.user_id == subject
            ):
                subscriber.push(None, RECHECK)

    async def _fill_gaps(self) -> None:
        """Read what is missing between the head and the target from the log."""
        attempts = 0
        try:
            while self.head is not None and self.head < self.target:
                upto = min(self.pending) if self.pending else self.target + 1
                rows = await load_events(self.room_id, self.head, upto)
                for event in rows:
                    if event.seq == self.head + 1:
                        self._deliver(event)
                self._deliver_pending()
                if rows:
                    attempts = 0
                    continue
                if self.head >= self.target:
                    break
                attempts += 1
                if attempts < GAP_FILL_ATTEMPTS:
                    await asyncio.sleep(GAP_FILL_RETRY_SECS)
                    continue
                # Should not happen: a seq is only published once every earlier one committed.
                # Move on rather than stall the room; a stream that reconnects reads the log.
                skip_to = (min(self.pending) if self.pending else self.target + 1) - 1
                logger.error(
                    "room %s: seq %s..%s missing from the log; skipping them",
                    self.room_id,
                    self.head + 1,
                    skip_to,
                )
                self.head = skip_to
                self._deliver_pending()
                attempts = 0
        except Exception:
            logger.exception("room %s: reading the log failed; closing its streams", self.room_id)
            # The streams resume from their last id on reconnect, which reads the log.
            for subscriber in list(self.subscribers):
                subscriber.close("error")
            self.pending.clear()
            self.target = self.head or 0
        finally:
            self.filling = False


class Hub:
    """Room id -> RoomChannel for the open streams of this process."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.rooms: dict[int, RoomChannel] = {}
        # User id -> how many streams they have open in this process.
        self.user_streams: collections.Counter[int] = collections.Counter()
        self.heartbeat_task: asyncio.Task[None] | None = None
        # Set by a fan-out backend that subscribes per room (Redis): awaited before a new
        # room's head is read, so that no event falls between the two.
        self.on_room_opened: Callable[[int], Awaitable[None]] | None = None
        self.on_room_closed: Callable[[int], None] | None = None
        self.recent = RecentFrames()

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:
            # A new event loop (tests start one per test): forget the old loop's streams.
            self.loop = loop
            self.rooms = {}
            self.user_streams = collections.Counter()
            self.recent.clear()
            self.heartbeat_task = loop.create_task(self._heartbeat())
        return loop

    async def subscribe(self, subscriber: Subscriber) -> int:
        """Start handing the room's events after its head to this subscriber; return that head."""
        self._bind()
        self.user_streams[subscriber.user_id] += 1
        channel = self.rooms.get(subscriber.room_id)
        if channel is None:
            channel = RoomChannel(subscriber.room_id)
            self.rooms[subscriber.room_id] = channel
            channel.subscribers.add(subscriber)
            try:
                if self.on_room_opened is not None:
                    await self.on_room_opened(subscriber.room_id)
                await channel.load()
                assert channel.head is not None
                # Events offered while loading went to pending: the head is where we start.
                return channel.head
            except BaseException:
                for other in list(channel.subscribers):
                    other.close("error")
                    self.user_streams[other.user_id] -= 1
                if self.rooms.get(subscriber.room_id) is channel:
                    del self.rooms[subscriber.room_id]
                raise
        else:
            channel.subscribers.add(subscriber)
            await channel.ready.wait()
            if channel.head is None:
                raise RuntimeError(f"room {subscriber.room_id}: its channel failed to open")
            return channel.head

    def unsubscribe(self, subscriber: Subscriber) -> None:
        channel = self.rooms.get(subscriber.room_id)
        if channel is None or subscriber not in channel.subscribers:
            return
        channel.subscribers.discard(subscriber)
        self.user_streams[subscriber.user_id] -= 1
        if self.user_streams[subscriber.user_id] <= 0:
            del self.user_streams[subscriber.user_id]
        if not channel.subscribers and self.rooms.get(subscriber.room_id) is channel:
            del self.rooms[subscriber.room_id]
            if self.on_room_closed is not None:
                self.on_room_closed(subscriber.room_id)

    def open_rooms(self) -> list[int]:
        return list(self.rooms)

    def stream_count(self) -> int:
        return sum(len(channel.subscribers) for channel in self.rooms.values())

    # Entry points for fan-out backends: on the loop, or from any thread.

    def offer(self, room_id: int, event: LoggedEvent) -> None:
        channel = self.rooms.get(room_id)
        if channel is not None:
            channel.offer(event)

    async def catch_up(self) -> None:
        """Deliver what the log holds beyond each open room's head (after a lost publish)."""
        room_ids = list(self.rooms)
        if not room_ids:
            return
        heads = await load_heads(room_ids)
        for room_id, committed in heads.items():
            channel = self.rooms.get(room_id)
            if channel is not None:
                channel.catch_up(committed)

    def revoke_user(self, user_id: int) -> None:
        """Close every open stream of the user (password changed, deactivated, ...)."""
        for channel in list(self.rooms.values()):
            for subscriber in list(channel.subscribers):
                if subscriber.user_id == user_id:
                    subscriber.close("revoked")

    def revoke_session(self, session: str) -> None:
        """Close every open stream opened with this session (logged out)."""
        for channel in list(self.rooms.values()):
            for subscriber in list(channel.subscribers):
                if subscriber.session == session:
                    subscriber.close("revoked")

    def revoke_other_sessions(self, user_id: int, session: str, previous: str) -> None:
        """Close every open stream of the user except the session's, now known by its new key
        (it changed the password: a later logout must still find its streams)."""
        for channel in list(self.rooms.values()):
            for subscriber in list(channel.subscribers):
                if subscriber.user_id != user_id:
                    continue
                if subscriber.session in (session, previous):
                    subscriber.session = session
                else:
                    subscriber.close("revoked")

    def call_threadsafe(self, func: Callable[..., None], *args: Any) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return  # no stream was ever opened in this process: nobody to tell
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            func(*args)
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(func, *args, context=contextvars.Context())

    async def _heartbeat(self) -> None:
        # One timer for the whole process rather than one per stream.
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL_SECS)
            for channel in list(self.rooms.values()):
                for subscriber in channel.subscribers:
                    if not subscriber.frames:
                        subscriber.push(None, HEARTBEAT_FRAME)


hub = Hub()
