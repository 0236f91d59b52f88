"""Messages: posted, edited, deleted by their author, removed and restored by moderators."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from rooms.event_types import EventType
from rooms.models.common import (
    MAX_CLIENT_ID_LENGTH,
    MAX_MESSAGE_LENGTH,
    MAX_REASON_LENGTH,
    NotAllowed,
    clean_message_body,
    encode_event_data,
)
from rooms.models.log import RoomEvent
from rooms.models.mentions import find_mentioned, update_mentions
from rooms.models.uploads import Upload


class Message(models.Model):
    room = models.ForeignKey("rooms.Room", on_delete=models.PROTECT, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="messages"
    )
    body = models.TextField(max_length=MAX_MESSAGE_LENGTH)
    client_id = models.CharField(max_length=MAX_CLIENT_ID_LENGTH, blank=True, default="")
    # Posted by a bot account (rooms/models/programs.py): read with the message, so that
    # showing it costs no query of the author's.
    from_bot = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Removed by a moderator: the text stays here (it can be restored), clients get none.
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    removal_reason = models.CharField(max_length=MAX_REASON_LENGTH, blank=True, default="")
    # The seq of the room event that last changed the message (posted, edited, deleted,
    # removed, restored): the log's older snapshots of it are stale.
    state_seq = models.PositiveBigIntegerField(default=0, editable=False)
    # Who the text mentions (rooms/models/mentions.py), kept with it so that the message's
    # data needs no query: the members' usernames it names, and whether @room applied.
    mentions = models.JSONField(default=list, blank=True, editable=False)
    mentions_room = models.BooleanField(default=False, editable=False)

    class Meta:
        indexes = [
            # Serves the history pages: room = X and id < before, newest first.
            models.Index(fields=["room", "id"], name="message_room_id"),
            # Serves the per-person post limit: author = X and created_at > a minute ago.
            models.Index(fields=["author", "created_at"], name="message_author_created"),
        ]
        constraints = [
            # Serves idempotent posts: one message per (author, client_id).
            models.UniqueConstraint(
                fields=["author", "client_id"],
                condition=~Q(client_id=""),
                name="message_unique_author_client_id",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} in {self.room_id}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def is_removed(self) -> bool:
        return self.removed_at is not None

    @property
    def visible_body(self) -> str:
        return "" if self.is_removed or self.is_deleted else self.body

    def as_event_data(self) -> dict[str, Any]:
        """The message as clients see it, in history pages and in stream events."""
        return {
            "id": self.pk,
            "room": self.room.slug,
            "author": self.author.get_username(),
            "bot": self.from_bot,
            "body": self.visible_body,
            "created": self.created_at,
            "edited": self.edited_at,
            "deleted": self.is_deleted,
            "removed": self.is_removed,
            "client_id": self.client_id or None,
            "attachments": self.attachments_data(),
            "mentions": self.visible_mentions,
            "mentions_room": self.mentions_room and not self.is_removed and not self.is_deleted,
        }

    @property
    def visible_mentions(self) -> list[str]:
        """Who it mentions, as long as it shows its text: a tombstone mentions nobody."""
        if self.is_removed or self.is_deleted:
            return []
        return list(self.mentions)

    def attachments_data(self) -> list[dict[str, Any]]:
        """Its files, as long as it shows them: a tombstone shows none."""
        if self.is_removed or self.is_deleted:
            return []
        return [upload.as_data(self.room.slug) for upload in self.attachments.all()]

    def check_author_can_change(self, user: Any) -> None:
        """Raise NotAllowed unless `user` may edit or delete this message now."""
        if self.author_id != user.pk:
            raise NotAllowed("you can only change your own messages")
        if self.is_deleted:
            raise NotAllowed("the message was deleted", status=409)
        if self.is_removed:
            raise NotAllowed("the message was removed by a moderator", status=409)
        self.room.check_can_write(user)

    def edit(self, body: str) -> None:
        """Change the text; who it mentions follows it: an added mention tells its person,
        a removed one is withdrawn (rooms/models/mentions.py)."""
        body = clean_message_body(body)
        with transaction.atomic():
            self.body = body
            self.edited_at = timezone.now()
            fields = ["body", "edited_at"]
            # No "@" now and no mention before: nothing to look up (a DM's rows stay).
            if "@" in body or self.mentions or self.mentions_room:
                room = self.room
                mentioned = find_mentioned(
                    room, self.author, body, lambda: room.can_moderate(self.author)
                )
                if room.kind != "dm":
                    update_mentions(self, mentioned)
                self.mentions = mentioned.names
                self.mentions_room = mentioned.room
                fields += ["mentions", "mentions_room"]
            self.record_change(EventType.MESSAGE_EDITED, fields)

    def erase(self) -> None:
        """Leave a tombstone: the row stays in history, its text is gone for good.

        The text is erased from the message and from every event of the log that carried
        it, in the same transaction: nothing (history, replay, admin, a backup taken later)
        can show it again. Its files are no longer served, and the worker deletes them.
        Deleting a message in the admin does exactly this too.
        """
        with transaction.atomic():
            self.body = ""
            self.deleted_at = timezone.now()
            # Nobody is told about it any more: counts drop, no email goes.
            self.mentions = []
            self.mentions_room = False
            self.mention_rows.all().delete()
            self.record_change(
                EventType.MESSAGE_DELETED,
                ["body", "deleted_at", "mentions", "mentions_room"],
                {"id": self.pk, "room": self.room.slug, "deleted": True},
            )
            RoomEvent.objects.redact(self.pk, encode_event_data(self.as_event_data()))
            Upload.objects.discard_of(self)

    def record_change(
        self, type: str, fields: list[str], data: dict[str, Any] | None = None
    ) -> RoomEvent:
        """Save the changed fields and write the change's event, in the caller's transaction.

        `data` defaults to the whole message as it is now.
        """
        room = self.room
        self.state_seq = room.next_event_seq()
        self.save(update_fields=[*fields, "state_seq"])
        return room.append_event(
            type,
            self.as_event_data() if data is None else data,
            seq=self.state_seq,
            message_id=self.pk,
        )
