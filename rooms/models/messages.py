"""Messages: posted, edited, deleted by their author, removed and restored by moderators."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from rooms.event_types import QUOTE_AFFECTING_TYPES, EventType
from rooms.formatting import render_message
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
from rooms.models.reactions import MAX_EMOJI_PER_MESSAGE, Reaction
from rooms.models.uploads import Upload

# A reply shows the start of the message it answers, as that message reads now.
REPLY_EXCERPT_LENGTH = 100


class MessageQuerySet(models.QuerySet["Message"]):
    def for_display(self) -> MessageQuerySet:
        """What as_event_data reads, in a fixed number of queries for a whole page: the
        author, the room, the message replied to (and its author), files and reactions."""
        return self.select_related("author", "room", "reply_to__author").prefetch_related(
            "attachments",
            models.Prefetch("reactions", Reaction.objects.select_related("user").order_by("id")),
        )


class Message(models.Model):
    room = models.ForeignKey("rooms.Room", on_delete=models.PROTECT, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="messages"
    )
    body = models.TextField(max_length=MAX_MESSAGE_LENGTH)
    # The body rendered (rooms/formatting.py) when it was posted or edited: pages and events
    # carry this HTML as it is. Emptied with the body when the message is deleted.
    html = models.TextField(blank=True, default="", editable=False)
    # The message this one answers (in the same room). Its FK index serves "the replies to
    # a message" when that message changes (refresh_replies).
    reply_to = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replies"
    )
    # Pinned by a moderator: listed in the room's header.
    pinned_at = models.DateTimeField(null=True, blank=True)
    pinned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
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

    objects = MessageQuerySet.as_manager()

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
    def is_tombstone(self) -> bool:
        return self.is_removed or self.is_deleted

    @property
    def visible_body(self) -> str:
        return "" if self.is_tombstone else self.body

    @property
    def visible_html(self) -> str:
        return "" if self.is_tombstone else self.html

    @property
    def is_pinned(self) -> bool:
        """Pinned, and still showing something to pin (a tombstone is not listed)."""
        return self.pinned_at is not None and not self.is_tombstone

    def as_event_data(self) -> dict[str, Any]:
        """The message as clients see it, in history pages and in stream events.

        The same bytes for everyone (encode once): whether the reader reacted is for the page
        to see in `reactions`' users.
        """
        return {
            "id": self.pk,
            "room": self.room.slug,
            "author": self.author.get_username(),
            "bot": self.from_bot,
            "body": self.visible_body,
            "html": self.visible_html,
            "created": self.created_at,
            "edited": self.edited_at,
            "deleted": self.is_deleted,
            "removed": self.is_removed,
            "client_id": self.client_id or None,
            "attachments": self.attachments_data(),
            "mentions": self.visible_mentions,
            "mentions_room": self.mentions_room and not self.is_removed and not self.is_deleted,
            "reply_to": self.reply_to_data(),
            "reactions": self.reactions_data(),
            "pinned": self.is_pinned,
        }

    @property
    def visible_mentions(self) -> list[str]:
        """Who it mentions, as long as it shows its text: a tombstone mentions nobody."""
        if self.is_removed or self.is_deleted:
            return []
        return list(self.mentions)

    def reply_to_data(self) -> dict[str, Any] | None:
        """The message this one answers, as it is NOW: a deleted or removed one's text is
        never quoted (the page says "deleted"), an edited one is quoted as edited."""
        quoted = self.reply_to
        if quoted is None:
            return None
        return {
            "id": quoted.pk,
            "author": quoted.author.get_username(),
            "excerpt": excerpt(quoted.visible_body),
            "deleted": quoted.is_deleted,
            "removed": quoted.is_removed,
        }

    def reactions_data(self) -> list[dict[str, Any]]:
        """Per emoji, in the order each was first used: how many and who (oldest first)."""
        if self.is_tombstone:
            return []
        prefetched = "reactions" in getattr(self, "_prefetched_objects_cache", {})
        reactions = (
            self.reactions.all()  # for_display's: oldest first, with their users
            if prefetched
            else self.reactions.select_related("user").order_by("id")
        )
        by_emoji: dict[str, list[str]] = {}
        for reaction in reactions:
            by_emoji.setdefault(reaction.emoji, []).append(reaction.user.get_username())
        return [
            {"emoji": emoji, "count": len(users), "users": users}
            for emoji, users in by_emoji.items()
        ]

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
        html = render_message(body)
        with transaction.atomic():
            self.body = body
            self.html = html
            self.edited_at = timezone.now()
            fields = ["body", "html", "edited_at"]
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
            self.html = ""
            self.deleted_at = timezone.now()
            # Nobody is told about it any more: counts drop, no email goes.
            self.mentions = []
            self.mentions_room = False
            self.mention_rows.all().delete()
            self.record_change(
                EventType.MESSAGE_DELETED,
                ["body", "html", "deleted_at", "mentions", "mentions_room"],
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
        event = room.append_event(
            type,
            self.as_event_data() if data is None else data,
            seq=self.state_seq,
            message_id=self.pk,
        )
        if type in QUOTE_AFFECTING_TYPES:
            self.refresh_replies(redact=type == EventType.MESSAGE_DELETED)
        return event

    def refresh_replies(self, redact: bool) -> None:
        """Give every reply to this message its new quote, as an event of its own
        (message_quote_updated, the reply as it is now), in the caller's transaction.

        That event is a change of the reply: replays and the streams' recent frames send the
        reply's present state instead of its older snapshots, which quoted the old text.
        With `redact` (this message was deleted) the older snapshots of each reply are
        overwritten in the log too, as the deleted message's own are.

        LIMITATION: one event per reply, so changing a message with many replies writes as
        many events (the author's edits and deletions are rate-limited).
        """
        for reply in Message.objects.filter(reply_to=self).select_related("author", "room"):
            reply.reply_to = self
            reply.record_change(EventType.MESSAGE_QUOTE_UPDATED, [])
            if redact:
                RoomEvent.objects.redact(reply.pk, encode_event_data(reply.as_event_data()))

    def set_reaction(self, user: Any, emoji: str, present: bool) -> bool:
        """Add (or, with present=False, take back) the user's reaction; return whether
        anything changed. The caller has checked the room's write rule."""
        with transaction.atomic():
            # The room's lock first (as a post takes it): two reactions at once cannot both
            # be the 21st emoji.
            list(type(self.room).objects.locked().filter(pk=self.room_id).values("pk"))
            if present:
                emojis = set(self.reactions.values_list("emoji", flat=True))
                if emoji not in emojis and len(emojis) >= MAX_EMOJI_PER_MESSAGE:
                    raise NotAllowed(
                        f"a message has at most {MAX_EMOJI_PER_MESSAGE} different emoji",
                        status=409,
                    )
                _, changed = Reaction.objects.get_or_create(message=self, user=user, emoji=emoji)
                kind = EventType.REACTION_ADDED
            else:
                changed = bool(
                    Reaction.objects.filter(message=self, user=user, emoji=emoji).delete()[0]
                )
                kind = EventType.REACTION_REMOVED
            if changed:
                if hasattr(self, "_prefetched_objects_cache"):
                    self._prefetched_objects_cache.pop("reactions", None)
                self.record_change(kind, [])
        return changed

    def set_pinned(self, user: Any, pinned: bool) -> bool:
        """Pin or unpin; return whether anything changed. The caller checked can_moderate."""
        if pinned and self.is_tombstone:
            raise NotAllowed("a deleted or removed message cannot be pinned", status=409)
        if pinned == (self.pinned_at is not None):
            return False
        with transaction.atomic():
            self.pinned_at = timezone.now() if pinned else None
            self.pinned_by = user if pinned else None
            self.record_change(
                EventType.MESSAGE_PINNED if pinned else EventType.MESSAGE_UNPINNED,
                ["pinned_at", "pinned_by"],
            )
        return True


def excerpt(text: str) -> str:
    """The start of a text on one line, at most REPLY_EXCERPT_LENGTH characters."""
    line = " ".join(text.split())
    if len(line) <= REPLY_EXCERPT_LENGTH:
        return line
    return line[: REPLY_EXCERPT_LENGTH - 1].rstrip() + "…"
