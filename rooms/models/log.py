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

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models
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
    # The event's place among all events of the site, in commit order (next_position): the
    # id of the user stream (GET /events/), which carries every room of its user.
    position = models.PositiveBigIntegerField(unique=True)

    objects = RoomEventQuerySet.as_manager()

    class Meta:
        constraints = [
            # Serves replay: room = X and seq > last_event_id ORDER BY seq.
            models.UniqueConstraint(fields=["room", "seq"], name="roomevent_unique_room_seq"),
        ]
        indexes = [
            # Serves the user stream's replay: these rooms, after this position.
            models.Index(fields=["room", "position"], name="roomevent_room_position"),
        ]

    def __str__(self) -> str:
        return f"{self.room_id}:{self.seq} {self.type}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValidationError("room events are append-only")
        super().save(*args, **kwargs)


class UserEvent(models.Model):
    """An event for one user's streams only: they joined or left a room (or lost access to
    it), were added to a direct message, or moved their read position. Append-only, numbered
    from the same site-wide positions as room events, so that the user stream replays both
    in one order."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveBigIntegerField(unique=True)
    type = models.CharField(max_length=32)
    # The room the event is about, by id: the stream starts or stops following it.
    room = models.ForeignKey("rooms.Room", on_delete=models.CASCADE, related_name="+")
    data = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "position"], name="userevent_user_position")]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.position} {self.type}"


class EventCounter(models.Model):
    """One row: the newest site-wide event position handed out (next_position)."""

    value = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"position {self.value}"


def next_position(count: int = 1) -> int:
    """Hand out the next site-wide event position (or the last of the next `count`, for an
    import that writes many events at once). Must run inside the writing transaction.

    The UPDATE takes the counter's row lock until commit (on SQLite, writers are serialized
    anyway), so positions are handed out in commit order with no holes: a rolled-back
    transaction gives its position back. A stream that sees position n+2 before n+1 knows
    n+1 is still coming, as with a room's seqs.
    """
    table = connection.ops.quote_name(EventCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET value = value + %s WHERE id = 1 RETURNING value", [count]
        )
        row = cursor.fetchone()
    if row is not None:
        return int(row[0])
    # The row is gone (a test flushed the tables): start again after the newest position.
    newest = max(
        RoomEvent.objects.aggregate(m=models.Max("position"))["m"] or 0,
        UserEvent.objects.aggregate(m=models.Max("position"))["m"] or 0,
    )
    EventCounter.objects.create(pk=1, value=newest + count)
    return newest + count


def current_position() -> int:
    """The newest committed position (0 before the first event)."""
    value = EventCounter.objects.filter(pk=1).values_list("value", flat=True).first()
    return int(value or 0)
