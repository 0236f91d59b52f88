"""The append-only event log of each room: the record that streams replay and resume from.

Every change that a room's viewers must see is written as a RoomEvent in the same
transaction as the change itself. A room's events are numbered 1, 2, 3, ... with no holes
(`Room.last_event_seq` is bumped under the room's row lock), which is what lets a stream
detect a missing event and fetch it, and lets a client resume with a plain
`Last-Event-ID`. Nothing ever deletes or trims that log. Reading it is rooms/stream/log.py's
job alone.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from rooms.event_types import SNAPSHOT_TYPES, EventType, Recheck


class RoomEventQuerySet(models.QuerySet["RoomEvent"]):
    def redact(self, message_id: int, tombstone: str) -> int:
        """Overwrite every event that carried the message's text with its tombstone.

        The one rewrite the append-only log allows: a message its author deleted.
        """
        return self.filter(message_id=message_id, type__in=SNAPSHOT_TYPES).update(data=tombstone)


class RoomEvent(models.Model):
    """One entry of a room's permanent, append-only event log: the source of truth for replay.

    Rows are never deleted and never changed, with one exception: deleting a message
    overwrites the events that carried its text with its tombstone (RoomEventQuerySet.redact).
    """

    room = models.ForeignKey("rooms.Room", on_delete=models.PROTECT, related_name="events")
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=32, choices=EventType.choices)
    # Already-encoded JSON: written to the wire as it is, never decoded on the hot path.
    data = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    # The message the event is about; its FK index serves the redaction of a deleted one.
    message = models.ForeignKey(
        "rooms.Message", on_delete=models.PROTECT, null=True, blank=True, related_name="events"
    )
    # The user the event is about (joined, left, role changed, muted, banned, ...), by id.
    subject = models.PositiveBigIntegerField(null=True, blank=True)
    # Whose open streams must check their access again once this event is delivered.
    recheck = models.CharField(max_length=8, choices=Recheck.choices, blank=True, default="")

    objects = RoomEventQuerySet.as_manager()

    class Meta:
        constraints = [
            # Serves replay: room = X and seq > last_event_id ORDER BY seq.
            models.UniqueConstraint(fields=["room", "seq"], name="roomevent_unique_room_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.room_id}:{self.seq} {self.type}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValidationError("room events are append-only")
        super().save(*args, **kwargs)
