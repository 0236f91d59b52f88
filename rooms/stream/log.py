"""Reading the event log: the only code that does. Each room's recent frames are kept in
memory so that a crowd resuming after a blip is served without reading the log, and
concurrent reads from the same id share one query.

A replay never shows text the history would not show now: an event that carried a message
as it was then (posted, edited, restored) comes with the message as it is now if it has
changed since (edited, deleted, removed by a moderator). The frames kept in memory follow
the same rule: delivering a change drops the message's older frames.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

from django_eventstream.storage import EventDoesNotExist

__all__ = ["EventDoesNotExist", "load_events", "load_head", "load_heads", "read", "recent"]

from rooms.event_types import CHANGE_TYPES, SNAPSHOT_TYPES, LoggedEvent, UserLoggedEvent
from rooms.models import Message, Room, RoomEvent, UserEvent, encode_event_data
from rooms.models.log import current_position
from rooms.stream.db import database_sync_to_async

# Events read at once by a replay: a long absence is sent in batches.
REPLAY_BATCH_EVENTS = 1000
# Recent frames kept per room for replay, so that a crowd reconnecting after a blip reads
# them from memory rather than each from the log. Events never change once written.
RECENT_FRAMES_PER_ROOM = 2000
RECENT_ROOMS = 64


_EVENT_FIELDS = (
    "seq",
    "type",
    "data",
    "message_id",
    "message__state_seq",
    "subject",
    "recheck",
    "position",
    "room__slug",
    "room_id",
)
_Row = tuple[int, str, str, int | None, int | None, int | None, str, int, str, int]


def _present(fetched: list[_Row]) -> list[tuple[int, LoggedEvent]]:
    """(room id, event) for rows of the log, each message snapshot as the message is now."""
    stale = {
        row[3]
        for row in fetched
        if row[3] is not None and row[1] in SNAPSHOT_TYPES and (row[4] or 0) > row[0]
    }
    present: dict[int, str] = {}
    if stale:
        for message in Message.objects.filter(pk__in=stale).for_display():
            present[message.pk] = encode_event_data(message.as_event_data())
    return [
        (
            room_id,
            LoggedEvent(
                seq,
                type,
                present[message_id]
                if message_id in present and type in SNAPSHOT_TYPES and (state_seq or 0) > seq
                else data,
                message_id,
                subject,
                recheck,
                position,
                slug,
            ),
        )
        for (seq, type, data, message_id, state_seq, subject, recheck, position, slug, room_id) in (
            fetched
        )
    ]


def read(
    room_id: int, after: int, before: int | None = None, limit: int | None = None
) -> list[LoggedEvent]:
    """The room's events after seq `after` (and before `before`), oldest first, each message
    snapshot as the message is now."""
    rows = RoomEvent.objects.filter(room_id=room_id, seq__gt=after)
    if before is not None:
        rows = rows.filter(seq__lt=before)
    rows = rows.order_by("seq")
    if limit is not None:
        rows = rows[:limit]
    return [event for _, event in _present(list(rows.values_list(*_EVENT_FIELDS)))]


# An event of the user streams: (room id, a room's event) or one user's own event.
SiteEvent = tuple[int, LoggedEvent] | UserLoggedEvent


def position_of(event: SiteEvent) -> int:
    return event.position if isinstance(event, UserLoggedEvent) else event[1].position


def _merge(
    room_rows: list[tuple[int, LoggedEvent]], user_rows: list[UserLoggedEvent], limit: int
) -> list[SiteEvent]:
    """Both lists (each in position order, each at most `limit` long) as one, in position
    order, cut where a full list stops: what lies beyond it is not known yet."""
    merged: list[SiteEvent] = sorted([*room_rows, *user_rows], key=position_of)
    ends = [position_of(rows[-1]) for rows in (room_rows, user_rows) if len(rows) >= limit]
    if ends:
        merged = [event for event in merged if position_of(event) <= min(ends)]
    return merged


def _user_events(rows: Any, limit: int) -> list[UserLoggedEvent]:
    fields = ("position", "user_id", "room_id", "type", "data")
    return [UserLoggedEvent(*row) for row in rows.order_by("position").values_list(*fields)[:limit]]


def read_site(after: int, before: int, limit: int = REPLAY_BATCH_EVENTS) -> list[SiteEvent]:
    """Every event of the site (rooms' and users') with a position between the two."""
    rooms = RoomEvent.objects.filter(position__gt=after, position__lt=before).order_by("position")
    users = UserEvent.objects.filter(position__gt=after, position__lt=before)
    return _merge(
        _present(list(rooms.values_list(*_EVENT_FIELDS)[:limit])),
        _user_events(users, limit),
        limit,
    )


def read_for_user(
    user_id: int, room_ids: list[int], after: int, upto: int, limit: int = REPLAY_BATCH_EVENTS
) -> list[SiteEvent]:
    """A batch of the user stream's replay: the events of these rooms and the user's own
    after position `after`, up to `upto`, in position order."""
    rooms = RoomEvent.objects.filter(
        room_id__in=room_ids, position__gt=after, position__lte=upto
    ).order_by("position")
    users = UserEvent.objects.filter(user_id=user_id, position__gt=after, position__lte=upto)
    return _merge(
        _present(list(rooms.values_list(*_EVENT_FIELDS)[:limit])) if room_ids else [],
        _user_events(users, limit),
        limit,
    )


def head(room_id: int) -> int:
    """The room's newest committed seq (0 for a room that does not exist)."""
    return Room.objects.filter(pk=room_id).values_list("last_event_seq", flat=True).first() or 0


def heads(room_ids: list[int]) -> dict[int, int]:
    return dict(Room.objects.filter(pk__in=room_ids).values_list("pk", "last_event_seq"))


def read_batch(room_id: int, after: int) -> list[LoggedEvent]:
    """The next batch of a replay after `after`; EventDoesNotExist if that id is unknown."""
    current = Room.objects.filter(pk=room_id).values_list("last_event_seq", flat=True).first()
    if current is None or after > current:
        raise EventDoesNotExist(f"event {after} does not exist in room {room_id}", current or 0)
    return read(room_id, after, limit=REPLAY_BATCH_EVENTS)


load_events = database_sync_to_async(read)
load_site = database_sync_to_async(read_site)
load_position = database_sync_to_async(current_position)
load_head = database_sync_to_async(head)
load_heads = database_sync_to_async(heads)
read_events = database_sync_to_async(read_batch)


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


recent = RecentFrames()


# Reads of the log in flight, by (room, after): a crowd resuming from the same id shares one.
_log_reads: dict[tuple[int, int], asyncio.Future[list[LoggedEvent]]] = {}


async def read_shared(room_id: int, after: int, share: bool = True) -> list[LoggedEvent]:
    """A batch of the log after `after` for a replay, shared with concurrent readers."""
    if not share:
        events: list[LoggedEvent] = await read_events(room_id, after)
        return events
    key = (room_id, after)
    pending = _log_reads.get(key)
    if pending is None or pending.get_loop() is not asyncio.get_running_loop():
        pending = asyncio.ensure_future(read_events(room_id, after))
        _log_reads[key] = pending

        def forget(done: asyncio.Future[Any], key: tuple[int, int] = key) -> None:
            if _log_reads.get(key) is done:
                del _log_reads[key]
            if not done.cancelled():
                done.exception()  # retrieved: each waiter sees it through the shield

        pending.add_done_callback(forget)
    return await asyncio.shield(pending)
