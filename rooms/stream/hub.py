"""The per-process registry of open streams, and in-order delivery to them.

A RoomChannel exists while a room has open streams in this process. Events reach it
from the fan-out backend in whatever order their transactions published them; the
channel hands them to its subscribers strictly in seq order, once each, filling any
hole from the event log before going on. Each event is encoded once per process.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rooms import metrics
from rooms.event_types import LoggedEvent, Recheck, UserLoggedEvent
from rooms.loop_calls import loop_calls
from rooms.stream import log
from rooms.stream.ordered import OrderedChannel
from rooms.stream.outbox import Delivery, Outbox
from rooms.stream.site import SiteChannel, UserSubscriber
from rooms.stream.sse import HEARTBEAT_FRAME, encode_frame
from rooms.stream.subscriber import RECHECK, Subscriber

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_SECS = 15


class RoomChannel(OrderedChannel[LoggedEvent]):
    """The open streams of one room in this process, and the last seq handed to them."""

    def __init__(self, room_id: int) -> None:
        super().__init__()
        self.room_id = room_id
        self.subscribers: set[Subscriber] = set()
        self.ready = asyncio.Event()
        # Frames on their way to the streams, a slice of them per turn of the loop: an
        # event's, or (event None) a typing or presence frame that came behind events.
        self.outbox: Outbox[tuple[LoggedEvent | None, bytes]] = Outbox(self.begin, self.overflow)

    def __str__(self) -> str:
        return f"room {self.room_id}"

    async def load(self) -> None:
        try:
            self.head = await log.load_head(self.room_id)
        finally:
            self.ready.set()
        self.drain()

    def number(self, event: LoggedEvent) -> int:
        return event.seq

    async def read(self, after: int, before: int) -> list[LoggedEvent]:
        events: list[LoggedEvent] = await log.load_events(self.room_id, after, before)
        return events

    def failed(self) -> None:
        for subscriber in list(self.subscribers):
            subscriber.close("error")

    def deliver(self, event: LoggedEvent) -> None:
        """Hand the event to the room's open streams, after the events before it: a slice
        of the streams per turn of the loop (rooms/stream/outbox.py). Its frame is kept for
        replays at once: a stream that opens now starts after it and replays it."""
        frame = encode_frame(event.seq, event.type, event.data)
        log.recent.add(self.room_id, event, frame)
        self.outbox.add((event, frame))

    def offer_ephemeral(self, frame: bytes) -> None:
        """A frame without an id (typing, presence): now, unless events are on their way, in
        which case after them (a stream that lost access to the room must not get it)."""
        if self.outbox.busy():
            self.outbox.add((None, frame))
        else:
            for subscriber in self.subscribers:
                subscriber.push(None, frame)

    def overflow(self) -> None:
        metrics.STREAM_OVERFLOWS.inc(len(self.subscribers))
        for subscriber in list(self.subscribers):
            subscriber.close("overflow")

    def begin(self, item: tuple[LoggedEvent | None, bytes]) -> Delivery:
        """The streams open when the frame's turn comes, and what hands it to one of them."""
        event, frame = item
        if event is None:
            return list(self.subscribers), lambda subscriber: subscriber.push(None, frame)
        seq, recheck, subject = event.seq, event.recheck, event.subject
        metrics.EVENTS_DELIVERED.inc(len(self.subscribers))

        def hand(subscriber: Subscriber) -> None:
            subscriber.push(seq, frame)
            # Whoever may have lost access checks again before anything later is sent. This
            # holds whether the event was published or read from the log after a lost one.
            if recheck == Recheck.EVERYONE or (
                recheck == Recheck.SUBJECT and subscriber.user_id == subject
            ):
                subscriber.push(None, RECHECK)

        return list(self.subscribers), hand


class Hub:
    """Room id -> RoomChannel for the open streams of this process."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.rooms: dict[int, RoomChannel] = {}
        # The user streams (GET /events/): every event of the site, by position.
        self.site = SiteChannel()
        # User id -> how many streams they have open in this process.
        self.user_streams: collections.Counter[int] = collections.Counter()
        self.heartbeat_task: asyncio.Task[None] | None = None
        # Set by a fan-out backend that subscribes per room (Redis): awaited before a new
        # room's head is read, so that no event falls between the two.
        self.on_room_opened: Callable[[int], Awaitable[None]] | None = None
        self.on_room_closed: Callable[[int], None] | None = None
        # Set by a fan-out backend that subscribes per room (Redis): awaited before the
        # site channel's head is read, so that no event falls between the two.
        self.on_site_opened: Callable[[], Awaitable[None]] | None = None
        self.on_site_closed: Callable[[], None] | None = None

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:
            # A new event loop (tests start one per test): forget the old loop's streams.
            self.loop = loop
            self.rooms = {}
            self.site = SiteChannel()
            self.user_streams = collections.Counter()
            log.recent.clear()
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
        # Gone: a fan-out under way, which chose its streams before, passes it by.
        subscriber.close("gone")
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

    async def subscribe_user(self, subscriber: UserSubscriber) -> None:
        """Start collecting every event of the site for this user stream (see SiteChannel)."""
        self._bind()
        self.user_streams[subscriber.user_id] += 1
        first = not self.site.users
        try:
            if first and self.on_site_opened is not None:
                await self.on_site_opened()
            await self.site.subscribe(subscriber)
        except BaseException:
            self.unsubscribe_user(subscriber)
            raise

    def unsubscribe_user(self, subscriber: UserSubscriber) -> None:
        if subscriber not in self.site.users.get(subscriber.user_id, ()):
            return
        self.site.unsubscribe(subscriber)
        self.user_streams[subscriber.user_id] -= 1
        if self.user_streams[subscriber.user_id] <= 0:
            del self.user_streams[subscriber.user_id]
        if not self.site.users and self.on_site_closed is not None:
            self.on_site_closed()

    def all_subscribers(self) -> list[Subscriber]:
        """Every open stream of this process, room streams and user streams."""
        streams: list[Subscriber] = [s for c in self.rooms.values() for s in c.subscribers]
        streams.extend(self.site.subscribers())
        return streams

    def open_rooms(self) -> list[int]:
        return list(self.rooms)

    def stream_count(self) -> int:
        return sum(len(channel.subscribers) for channel in self.rooms.values()) + len(
            self.site.subscribers()
        )

    # Entry points for fan-out backends: on the loop, or from any thread.

    def offer(self, room_id: int, event: LoggedEvent, site: bool = True) -> None:
        """A room's event, to its room streams and (unless `site` is False: it reaches the
        site channel another way) to the user streams."""
        channel = self.rooms.get(room_id)
        if channel is not None:
            channel.offer(event)
        if site:
            self.site.offer((room_id, event))

    def offer_ephemeral(self, room_id: int, frame: bytes) -> None:
        """A typing or presence frame (no id): now, to the room's streams and to the user
        streams following the room, outside the seq order (it moves no position).

        LIMITATION: a stream whose reader just lost access may get one more such frame while
        the event that took it (a ban in a hole of the seqs) waits to be delivered in order.
        """
        channel = self.rooms.get(room_id)
        if channel is not None:
            channel.offer_ephemeral(frame)
        self.site.offer_ephemeral(room_id, frame)

    def offer_user(self, event: UserLoggedEvent) -> None:
        self.site.offer(event)

    def offer_site(self, room_id: int, event: LoggedEvent) -> None:
        """A room's event for the user streams only (its room streams got it another way)."""
        self.site.offer((room_id, event))

    async def catch_up(self) -> None:
        """Deliver what the log holds beyond each open room's head (after a lost publish)."""
        room_ids = list(self.rooms)
        if not room_ids and not self.site.users:
            return
        metrics.FANOUT_CATCH_UPS.inc()
        if room_ids:
            heads = await log.load_heads(room_ids)
            for room_id, committed in heads.items():
                channel = self.rooms.get(room_id)
                if channel is not None:
                    channel.catch_up(committed)
        if self.site.users:
            self.site.catch_up(await log.load_position())

    def revoke_user(self, user_id: int) -> None:
        """Close every open stream of the user (password changed, deactivated, ...)."""
        for subscriber in self.all_subscribers():
            if subscriber.user_id == user_id:
                subscriber.close("revoked")

    def revoke_session(self, session: str) -> None:
        """Close every open stream opened with this session (logged out)."""
        for subscriber in self.all_subscribers():
            if subscriber.session == session:
                subscriber.close("revoked")

    def revoke_other_sessions(self, user_id: int, session: str, previous: str) -> None:
        """Close every open stream of the user except the session's, now known by its new key
        (it changed the password: a later logout must still find its streams)."""
        for subscriber in self.all_subscribers():
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
            # With the writer's answers and other events of the same burst: one wake-up.
            loop_calls(loop).call(func, *args)

    async def _heartbeat(self) -> None:
        # One timer for the whole process rather than one per stream.
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL_SECS)
            for subscriber in self.all_subscribers():
                if not subscriber.frames:
                    subscriber.push(None, HEARTBEAT_FRAME)


hub = Hub()
