"""The user streams' side of the hub: every event of the site, in position order, routed to
the open user streams (GET /events/) of the people it concerns.

Every event, a room's or a user's own, has a site-wide position handed out in its writing
transaction in commit order, with no holes (rooms/models/log.py:next_position). The
SiteChannel hands events to user streams strictly in position order, once each, filling
any hole from the log, as a RoomChannel does with a room's seqs. A user stream follows the
rooms its user is a member of (and may read); the user's own events say when that set
changes (room_joined, room_left), and they are routed in the same order as everything else,
so a room starts or stops flowing exactly at its event. Each frame is encoded once per
process, the same bytes for every user stream it goes to.
"""

from __future__ import annotations

import asyncio
import json
from typing import NamedTuple

from rooms import metrics
from rooms.event_types import LoggedEvent, UserEventType, UserLoggedEvent
from rooms.stream import log
from rooms.stream.log import SiteEvent, position_of
from rooms.stream.ordered import OrderedChannel
from rooms.stream.outbox import Delivery, Outbox
from rooms.stream.sse import encode_frame
from rooms.stream.subscriber import MAX_QUEUED_FRAMES, Subscriber


def encode_room_frame(event: LoggedEvent) -> bytes:
    """A room's event on the user stream: its position as the id, and the room and seq
    around the event's data (the room stream's frame of it, with its room named)."""
    data = f'{{"room":{json.dumps(event.room)},"seq":{event.seq},"data":{event.data}}}'
    return encode_frame(event.position, event.type, data)


class UserSubscriber(Subscriber):
    """One open user stream: the rooms it follows, and, until it has read where it starts
    from, every event of the site that arrives meanwhile (`backlog`)."""

    __slots__ = ("backlog", "rooms")

    def __init__(self, user_id: int, session: str = "") -> None:
        super().__init__(0, user_id, session)
        self.rooms: set[int] = set()
        self.backlog: list[SiteEvent] | None = []


class Ephemeral(NamedTuple):
    """A typing or presence frame of a room, waiting its turn behind events."""

    room_id: int
    frame: bytes


class SiteChannel(OrderedChannel[SiteEvent]):
    """Every event of the site, handed to this process's user streams in position order."""

    def __init__(self) -> None:
        super().__init__()
        self.loading: asyncio.Task[None] | None = None
        # user id -> their open user streams; room id -> the user streams following it.
        self.users: dict[int, set[UserSubscriber]] = {}
        self.followers: dict[int, set[UserSubscriber]] = {}
        # Streams still reading where they start from: they get every event meanwhile.
        self.starting: set[UserSubscriber] = set()
        # Events on their way to the streams, a slice of them per turn of the loop, and the
        # typing and presence frames that came behind them.
        self.outbox: Outbox[SiteEvent | Ephemeral] = Outbox(self.begin, self.overflow)

    def __str__(self) -> str:
        return "site"

    # Subscribing, on the loop.

    async def subscribe(self, subscriber: UserSubscriber) -> None:
        """Start collecting the site's events for the stream; return once the channel knows
        its head (so that whatever the stream reads from the log next covers the rest)."""
        self.users.setdefault(subscriber.user_id, set()).add(subscriber)
        self.starting.add(subscriber)
        if self.loading is None:
            self.loading = asyncio.get_running_loop().create_task(self._load())
        await asyncio.shield(self.loading)
        if self.head is None:
            self.unsubscribe(subscriber)
            raise RuntimeError("the site channel could not read its head")

    async def _load(self) -> None:
        try:
            self.head = await log.load_position()
        except Exception:
            self.loading = None  # the next stream tries again
            raise
        self.drain()

    def start(self, subscriber: UserSubscriber, rooms: set[int], after: int) -> None:
        """The stream has sent everything up to position `after`, following `rooms` as they
        were then: route what came in meanwhile, and from now on everything as it comes."""
        backlog = subscriber.backlog or []
        subscriber.backlog = None
        self.starting.discard(subscriber)
        for room_id in rooms:
            self._follow(subscriber, room_id)
        for event in backlog:
            if position_of(event) > after:
                self._route(subscriber, event, self.frame(event))

    def unsubscribe(self, subscriber: UserSubscriber) -> None:
        # Gone: a fan-out under way, which chose its streams before, passes it by (and does
        # not make it follow a room again).
        subscriber.close("gone")
        self.starting.discard(subscriber)
        streams = self.users.get(subscriber.user_id)
        if streams is not None:
            streams.discard(subscriber)
            if not streams:
                del self.users[subscriber.user_id]
        for room_id in list(subscriber.rooms):
            self._unfollow(subscriber, room_id)
        subscriber.rooms = set()
        if not self.users and self.loading is not None and self.loading.done():
            # Nobody left to hand events to: forget the head; the next stream reads it again.
            self.loading = None
            self.head = None
            self.pending.clear()
            self.outbox.clear()
            self.target = 0

    def subscribers(self) -> list[UserSubscriber]:
        return [s for streams in self.users.values() for s in streams]

    # Events, on the loop: from the fan-out backend, in any order.

    def offer(self, event: SiteEvent) -> None:
        if self.users:
            super().offer(event)

    def catch_up(self, committed: int) -> None:
        if self.users and self.head is not None:
            super().catch_up(committed)

    def number(self, event: SiteEvent) -> int:
        return position_of(event)

    async def read(self, after: int, before: int) -> list[SiteEvent]:
        events: list[SiteEvent] = await log.load_site(after, before)
        return events

    def failed(self) -> None:
        for subscriber in self.subscribers():
            subscriber.close("error")

    def deliver(self, event: SiteEvent) -> None:
        """Hand the event on after the events before it, a slice of its streams per turn of
        the loop (rooms/stream/outbox.py): who gets it is decided when its turn comes, once
        the events before it have moved the streams' rooms (room_joined, room_left)."""
        self.outbox.add(event)

    def offer_ephemeral(self, room_id: int, frame: bytes) -> None:
        """A typing or presence frame of a room, to the started streams following it: now,
        unless events are on their way, in which case after them (one may be the room_left
        that ends a stream's following it)."""
        if self.outbox.busy():
            self.outbox.add(Ephemeral(room_id, frame))
            return
        for follower in self.followers.get(room_id, ()):
            if follower.backlog is None:  # still starting: it would send it out of place
                follower.push(None, frame)

    def overflow(self) -> None:
        streams = self.subscribers()
        metrics.STREAM_OVERFLOWS.inc(len(streams))
        for subscriber in streams:
            subscriber.close("overflow")

    def begin(self, event: SiteEvent | Ephemeral) -> Delivery:
        """The user streams the event goes to now (a starting one keeps it in its backlog),
        and what hands it to one of them."""
        if isinstance(event, Ephemeral):
            followers = [s for s in self.followers.get(event.room_id, ()) if s.backlog is None]
            frame = event.frame
            return followers, lambda subscriber: subscriber.push(None, frame)
        for subscriber in self.starting:
            backlog = subscriber.backlog
            if backlog is not None:
                if len(backlog) >= MAX_QUEUED_FRAMES:
                    subscriber.close("overflow")
                backlog.append(event)
        if isinstance(event, UserLoggedEvent):
            targets = self.users.get(event.user_id, ())
        else:
            targets = self.followers.get(event[0], ())
        started = [s for s in targets if s.backlog is None]
        if not started:
            return (), self.nobody
        frame = self.frame(event)
        metrics.EVENTS_DELIVERED.inc(len(started))

        def hand(subscriber: UserSubscriber) -> None:
            self._route(subscriber, event, frame)

        return started, hand

    @staticmethod
    def nobody(subscriber: UserSubscriber) -> None:
        pass

    @staticmethod
    def frame(event: SiteEvent) -> bytes:
        if isinstance(event, UserLoggedEvent):
            return encode_frame(event.position, event.type, event.data)
        return encode_room_frame(event[1])

    def _route(self, subscriber: UserSubscriber, event: SiteEvent, frame: bytes) -> None:
        if subscriber.closed_reason is not None:
            return  # gone since its event's turn began
        if isinstance(event, UserLoggedEvent):
            if event.user_id != subscriber.user_id:
                return
            if event.type == UserEventType.ROOM_JOINED:
                self._follow(subscriber, event.room_id)
            elif event.type == UserEventType.ROOM_LEFT:
                self._unfollow(subscriber, event.room_id)
            subscriber.push(event.position, frame)
        elif event[0] in subscriber.rooms:
            subscriber.push(event[1].position, frame)

    def _follow(self, subscriber: UserSubscriber, room_id: int) -> None:
        subscriber.rooms.add(room_id)
        self.followers.setdefault(room_id, set()).add(subscriber)

    def _unfollow(self, subscriber: UserSubscriber, room_id: int) -> None:
        subscriber.rooms.discard(room_id)
        followers = self.followers.get(room_id)
        if followers is not None:
            followers.discard(subscriber)
            if not followers:
                del self.followers[room_id]
