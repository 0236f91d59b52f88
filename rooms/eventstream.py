"""django-eventstream's storage and channel-manager interfaces, backed by our own tables.

A thin adapter: RoomEventStorage reads the permanent room event log through
rooms/stream/log.py (nothing expires, unlike the library's DjangoModelStorage), and
RoomChannelManager asks the one access rule (Room.access_for) and never lets a client pick
its channels with `?channel=`. Our own stream (rooms/stream/consumer.py) calls those two
directly; this is for anything that uses the library's own API (`get_current_event_id`,
`send_event` from a shell or a task).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django_eventstream.channelmanager import ChannelManagerBase
from django_eventstream.event import Event
from django_eventstream.storage import EventDoesNotExist, StorageBase

from rooms.event_types import EventType
from rooms.models import Room
from rooms.stream import log
from rooms.stream.sse import CHANNEL_PREFIX


def room_id_from_channel(channel: str) -> int | None:
    if not channel.startswith(CHANNEL_PREFIX):
        return None
    number = channel.removeprefix(CHANNEL_PREFIX)
    if not number.isdigit() or len(number) > 18:
        return None
    return int(number)


class RoomEventStorage(StorageBase):
    """Events of channel `room-<id>`, numbered by the room's own seq (1, 2, 3, ...)."""

    def get_current_id(self, channel: str) -> int:
        room_id = room_id_from_channel(channel)
        if room_id is None:
            return 0
        return log.head(room_id)

    def get_events(self, channel: str, last_id: int, limit: int = 100) -> list[Event]:
        """Events after last_id, oldest first. An id from the future does not exist."""
        room_id = room_id_from_channel(channel)
        if room_id is None:
            raise EventDoesNotExist(f"no such channel: {channel}", 0)
        last_id = int(last_id)
        current = self.get_current_id(channel)
        if last_id < 0 or last_id > current:
            raise EventDoesNotExist(f"event {last_id} does not exist in {channel}", current)
        events = log.read(room_id, last_id, limit=limit)
        return [Event(channel, event.type, event.data, id=event.seq) for event in events]

    def append_event(self, channel: str, event_type: str, data: str) -> Event:
        """Append an event written through django-eventstream's `send_event`.

        `data` arrives JSON-encoded. The event goes into the room's permanent log and is
        published after commit like every other event of the room.
        """
        room_id = room_id_from_channel(channel)
        if room_id is None:
            raise ValueError(f"not a room channel: {channel!r}")
        if event_type in EventType.values and event_type != EventType.CUSTOM:
            raise ValueError(f"{event_type!r} is written by the room models, not send_event")
        with transaction.atomic():
            room = Room.objects.get(pk=room_id)
            event = room.append_event(event_type, data)
        return Event(channel, event_type, data, id=event.seq)


class RoomChannelManager(ChannelManagerBase):
    """Who may read which room. The channel always comes from the URL, never the query."""

    def get_channels_for_request(self, request: Any, view_kwargs: dict[str, Any]) -> set[str]:
        room = view_kwargs.get("room")
        if isinstance(room, Room):
            return {room.channel}
        slug = view_kwargs.get("slug")
        room_id = Room.objects.filter(slug=slug).values_list("pk", flat=True).first()
        return {f"{CHANNEL_PREFIX}{room_id}"} if room_id is not None else set()

    def can_read_channel(self, user: Any, channel: str) -> bool:
        room_id = room_id_from_channel(channel)
        if user is None or room_id is None:
            return False
        room = Room.objects.filter(pk=room_id).first()
        return room is not None and room.can_read(user)

    def is_channel_reliable(self, channel: str) -> bool:
        return True
