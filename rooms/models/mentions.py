"""Mentions: `@username` (a member of the room, matched without regard to case) and `@room`
(every member) in a message's text; a row per person told (Mention), which counts, the inbox
and the emails read. Every message of a direct message is a mention of its other people.

Parsed in the transaction that posts or edits the message (Room.post_message, Message.edit):
a body without "@" costs nothing, one with any number of "@" tokens one query for the names
(and one insert for the rows).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, models
from django.utils import timezone

# At most this many distinct names are looked up per message: a message of 1,000 "@"
# tokens notifies at most this many people by name (@room aside).
MAX_MENTIONED_NAMES = 50
# @room is for the room's owner and moderators, and for anyone in a room of fewer members
# than this. Elsewhere it stays plain text: the message is posted, nobody is told.
ROOM_MENTION_MAX_MEMBERS = 20
ROOM_MENTION = "room"
# "@" then a username's characters (Django's: letters, digits, and . + - _), not inside a
# word or an address ("bob@example.com" mentions nobody). A name's trailing punctuation
# ("@bob.") is tried without it too.
# LIMITATION: usernames with "@" in them cannot be mentioned.
MENTION_TOKEN = re.compile(r"(?<![\w@.+-])@([\w.+-]{1,150})")
TRAILING_PUNCTUATION = ".+-"


def mention_tokens(body: str) -> tuple[set[str], bool]:
    """The lowercased names a body may mention (at most MAX_MENTIONED_NAMES tokens), and
    whether it says @room."""
    if "@" not in body:
        return set(), False
    names: set[str] = set()
    tokens = 0
    room = False
    seen: set[str] = set()
    for match in MENTION_TOKEN.finditer(body):
        token = match.group(1).lower()
        stripped = token.rstrip(TRAILING_PUNCTUATION)
        if stripped == ROOM_MENTION:
            room = True
            continue
        if stripped in seen:
            continue
        seen.add(stripped)
        tokens += 1
        if tokens > MAX_MENTIONED_NAMES:
            break
        names.add(token)
        if stripped:
            names.add(stripped)
    return names, room


@dataclass
class Mentioned:
    """Who a message mentions: the members' usernames as stored (what the message JSON
    shows), whether @room applied, and the ids of the people to tell (never the author)."""

    names: list[str] = field(default_factory=list)
    room: bool = False
    user_ids: set[int] = field(default_factory=set)


def find_mentioned(
    room: Any, author: Any, body: str, may_mention_room: Callable[[], bool]
) -> Mentioned:
    """Who `body`, written by `author` in `room`, mentions. Only members can be mentioned:
    a name of anyone else does nothing and shows nothing.

    No query without "@" (but for a DM: its people); otherwise one (two when @room is said
    by someone who may not, in a room too big for it). `may_mention_room` is asked only when
    the body says @room.
    """
    names, room_token = mention_tokens(body)
    direct = room.kind == "dm"
    if not names and not room_token and not direct:
        return Mentioned()
    rows: list[tuple[int, str]]
    everyone = direct
    if room_token and not direct:
        if may_mention_room():
            rows = list(_members(room).values_list("pk", "username"))
            everyone = True
        else:
            rows = list(_members(room).values_list("pk", "username")[:ROOM_MENTION_MAX_MEMBERS])
            everyone = len(rows) < ROOM_MENTION_MAX_MEMBERS
            if not everyone and names:
                rows = _named(room, names)
    elif direct:
        rows = list(_members(room).values_list("pk", "username"))
    else:
        # The common case, a name or a few: no queryset is built (building one costs about
        # as much as running _named's statement).
        rows = _named(room, names)
    mentioned = Mentioned(room=room_token and everyone and not direct)
    for pk, username in rows:
        named = username.lower() in names
        if named:
            mentioned.names.append(username)
        if (named or everyone) and pk != author.pk:
            mentioned.user_ids.add(pk)
    mentioned.names.sort()
    return mentioned


def _members(room: Any) -> Any:
    """The room's active members (a queryset of users)."""
    return get_user_model().objects.filter(memberships__room=room, is_active=True)


def _named(room: Any, names: set[str]) -> list[tuple[int, str]]:
    """The active members of the room of those names: (id, username).

    The statement written out, as it runs on every post that names someone: the ORM took
    about as long to build it as the database to run it (docs/benchmark.md, round two).
    """
    quote = connection.ops.quote_name
    users = quote(get_user_model()._meta.db_table)
    memberships = quote(apps.get_model("rooms", "Membership")._meta.db_table)
    placeholders = ", ".join(["%s"] * len(names))
    with connection.cursor() as cursor:
        cursor.execute(
            # The names first (the index of migration 0015), then each one's membership
            # (the unique room-and-user index): as quick in a room of 10,000 as of 10.
            f"SELECT u.id, u.username FROM {users} u"
            f" WHERE LOWER(u.username) IN ({placeholders}) AND u.is_active AND EXISTS"
            f" (SELECT 1 FROM {memberships} m WHERE m.room_id = %s AND m.user_id = u.id)",
            [*sorted(names), room.pk],
        )
        return [(pk, username) for pk, username in cursor.fetchall()]


class MentionQuerySet(models.QuerySet["Mention"]):
    def shown(self) -> MentionQuerySet:
        """Mentions whose message still shows its text (not deleted, not removed)."""
        return self.filter(message__deleted_at__isnull=True, message__removed_at__isnull=True)

    def unread(self) -> MentionQuerySet:
        return self.filter(read_at__isnull=True)


class Mention(models.Model):
    """One person told about one message: named in it, @room, or a DM's message."""

    # No index of their own for message and user: the unique (message, user) serves a
    # message's rows, and (user, -message) a person's. Every index is written on every post
    # that mentions someone (docs/benchmark.md, round three).
    message = models.ForeignKey(
        "rooms.Message", on_delete=models.CASCADE, related_name="mention_rows", db_index=False
    )
    # The message's room, here so counts per room need not join the messages to find it.
    # No index of its own either: the counts' index starts with the person, and a room that
    # has mentions has messages, so it cannot be deleted (Message.room protects it).
    room = models.ForeignKey(
        "rooms.Room", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mentions", db_index=False
    )
    # When they were mentioned: the post, or the edit that added them.
    created_at = models.DateTimeField(default=timezone.now)
    # Set when they read the room past the message (Room.mark_read).
    read_at = models.DateTimeField(null=True, blank=True)
    # Set when an email told them about it (rooms/notifications.py): never twice.
    emailed_at = models.DateTimeField(null=True, blank=True)
    # A message of a direct message (every one tells its other people), not a name.
    direct = models.BooleanField(default=False)

    objects = MentionQuerySet.as_manager()

    class Meta:
        constraints = [
            # One row per person and message: an edit that keeps a mention keeps its row.
            models.UniqueConstraint(fields=["message", "user"], name="mention_unique_message_user"),
        ]
        indexes = [
            # Serves the unread counts (read_states): user = X and room = Y, unread.
            models.Index(
                fields=["user", "room"],
                condition=models.Q(read_at__isnull=True),
                name="mention_unread_user_room",
            ),
            # Serves the inbox: user = X, newest message first.
            models.Index(fields=["user", "-message"], name="mention_user_message"),
            # Serves the email sweep: unread, not emailed, older than the delay.
            models.Index(
                fields=["created_at"],
                condition=models.Q(read_at__isnull=True, emailed_at__isnull=True),
                name="mention_to_email",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in #{self.message_id}"


def store_mentions(message: Any, mentioned: Mentioned) -> None:
    """The rows of a new message's mentions (one insert), in the post's transaction."""
    if mentioned.user_ids:
        direct = message.room.kind == "dm"
        # Written out for the same reason as _named: this runs on every post that names
        # someone, and on every message of a direct message.
        created = connection.ops.adapt_datetimefield_value(timezone.now())
        table = connection.ops.quote_name(Mention._meta.db_table)
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} (message_id, room_id, user_id, created_at, direct)"
                " VALUES (%s, %s, %s, %s, %s)",
                [
                    (message.pk, message.room_id, pk, created, direct)
                    for pk in sorted(mentioned.user_ids)
                ],
            )


def update_mentions(message: Any, mentioned: Mentioned) -> None:
    """After an edit: tell those it now mentions, withdraw it from those it no longer does
    (their counts drop). A kept mention keeps its row, read or not."""
    existing = set(message.mention_rows.values_list("user_id", flat=True))
    gone = existing - mentioned.user_ids
    if gone:
        message.mention_rows.filter(user_id__in=gone).delete()
    store_mentions(
        message,
        Mentioned(mentioned.names, mentioned.room, mentioned.user_ids - existing),
    )


class NotificationEmail(models.Model):
    """One email that told a person about mentions and DMs (rooms/notifications.py): at most
    one per CHAT_NOTIFY_EMAIL_AFTER_MINUTES per person, the newest says when the next may go."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_emails"
    )
    sent_at = models.DateTimeField(default=timezone.now)
    # How many mentions and DM messages it told of.
    mentions = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            # Serves "when did this person last get one": user = X, newest first.
            models.Index(fields=["user", "-sent_at"], name="notification_email_user_sent"),
        ]

    def __str__(self) -> str:
        return f"email to {self.user_id} at {self.sent_at}"
