"""Rooms, their members, their messages, and the append-only event log of each room.

Every change that a room's viewers must see is written as a RoomEvent in the same
transaction as the change itself. A room's events are numbered 1, 2, 3, ... with no
holes (`Room.last_event_seq` is bumped under the room's row lock), which is what lets a
stream detect a missing event and fetch it, and lets a client resume with a plain
`Last-Event-ID`. Nothing ever deletes or trims that log.
"""

from __future__ import annotations

import enum
import json
import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import RegexValidator
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.utils import timezone

from rooms.event_types import (
    SNAPSHOT_TYPES,
    EventType,
    LoggedEvent,
    Recheck,
    who_may_lose_access,
)

MAX_MESSAGE_LENGTH = 4000
MAX_ROOM_NAME_LENGTH = 80
MAX_CLIENT_ID_LENGTH = 64

# Tab, newline and carriage return are the only control characters a message may hold.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

validate_room_slug = RegexValidator(
    r"^[a-z0-9]+(?:-[a-z0-9]+)*\Z",
    "A room slug is 1-50 lowercase letters, digits and single hyphens, "
    "starting and ending with a letter or digit.",
)
validate_client_id = RegexValidator(
    r"^[A-Za-z0-9_.:-]{1,64}\Z",
    "client_id is 1-64 characters from A-Z, a-z, 0-9 and _ . : -",
)


class NotAllowed(Exception):
    """An action the rules forbid; says why, with the HTTP status that fits."""

    def __init__(self, message: str, status: int = 403, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


MAX_REASON_LENGTH = 500
MAX_SLOW_MODE_SECONDS = 6 * 3600


def clean_message_body(body: object) -> str:
    """Return the body as stored, or raise ValidationError saying what is wrong."""
    if not isinstance(body, str):
        raise ValidationError("body must be a string")
    body = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not body:
        raise ValidationError("body must not be empty")
    if len(body) > MAX_MESSAGE_LENGTH:
        raise ValidationError(f"body is longer than {MAX_MESSAGE_LENGTH} characters")
    if CONTROL_CHARACTERS.search(body):
        raise ValidationError("body must not contain control characters")
    return body


def encode_event_data(data: dict[str, Any]) -> str:
    # Compact and on one line: it becomes a single `data:` line on the wire as it is.
    return json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


class RoomQuerySet(models.QuerySet["Room"]):
    def create_with_owner(self, owner: Any, **fields: Any) -> Room:
        """A new room, its owner its first member (the site's form and the admin)."""
        with transaction.atomic():
            room = self.create(owner=owner, **fields)
            room.add_member(owner, role=Membership.ROLE_OWNER)
        return room

    def visible_to(self, user: Any) -> RoomQuerySet:
        """Rooms the user may read: every public room, and private rooms they belong to."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(Q(private=False) | Q(memberships__user=user)).distinct()


class Room(models.Model):
    slug = models.SlugField(max_length=50, unique=True, validators=[validate_room_slug])
    name = models.CharField(max_length=MAX_ROOM_NAME_LENGTH)
    private = models.BooleanField(default=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_rooms"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Read-only for everyone but moderators.
    locked = models.BooleanField(default=False)
    # Read-only for everyone, and off the list of rooms to join.
    archived = models.BooleanField(default=False)
    # Minimum seconds between two posts by the same person (moderators excepted); 0 = off.
    slow_mode_seconds = models.PositiveIntegerField(default=0)
    # The seq of the newest RoomEvent of this room. Bumped with an UPDATE, which takes the
    # row lock, so two transactions can never hand out the same seq or leave a hole.
    last_event_seq = models.PositiveBigIntegerField(default=0, editable=False)

    objects = RoomQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]
        permissions = [("moderate_room", "Can moderate every room")]

    def __str__(self) -> str:
        return self.slug

    def get_absolute_url(self) -> str:
        return f"/rooms/{self.slug}/"

    @property
    def channel(self) -> str:
        """The django-eventstream channel name of this room."""
        return f"room-{self.pk}"

    def is_member(self, user: Any) -> bool:
        return user.is_authenticated and self.memberships.filter(user=user).exists()

    def access_for(self, user: Any) -> Access:
        """The one rule of who may read this room: its pages, history, stream and replay.

        HIDDEN (answered like a missing room, 404) for anyone not logged in or deactivated
        and for outsiders of a private room; BANNED (403) for those who could otherwise
        read it but are banned from it; READ for everyone else.
        """
        if not user.is_authenticated or not user.is_active:
            return Access.HIDDEN
        if self.private and not self.is_member(user):
            return Access.HIDDEN
        if self.restriction_for(user, Restriction.BAN) is not None:
            return Access.BANNED
        return Access.READ

    def can_read(self, user: Any) -> bool:
        return self.access_for(user) is Access.READ

    def role_of(self, user: Any) -> str | None:
        if not user.is_authenticated:
            return None
        return self.memberships.filter(user=user).values_list("role", flat=True).first()

    def can_moderate(self, user: Any) -> bool:
        """Site moderators moderate every room; the owner and room moderators theirs."""
        if not user.is_authenticated or not user.is_active:
            return False
        if user.has_perm("rooms.moderate_room"):
            return True
        return self.role_of(user) in (Membership.ROLE_OWNER, Membership.ROLE_MODERATOR)

    def restriction_for(self, user: Any, kind: str) -> Restriction | None:
        """The user's active mute or ban in this room, if any."""
        if not user.is_authenticated:
            return None
        return Restriction.objects.active().filter(room=self, user=user, kind=kind).first()

    def check_can_post(self, user: Any) -> None:
        """Raise NotAllowed saying why the user may not post here now.

        Runs on every post: two queries (role, restrictions) before the rate checks, and the
        permission lookup only when the room is locked or slow.
        """
        if self.archived:
            raise NotAllowed("the room is archived")
        role = self.role_of(user)
        kinds = {
            restriction.kind: restriction
            for restriction in Restriction.objects.active().filter(room=self, user=user)
        }

        def moderator() -> bool:
            if role in (Membership.ROLE_OWNER, Membership.ROLE_MODERATOR):
                return True
            return bool(user.is_active and user.has_perm("rooms.moderate_room"))

        if self.locked and not moderator():
            raise NotAllowed("the room is locked")
        if Restriction.BAN in kinds:
            raise NotAllowed("you are banned from this room")
        mute = kinds.get(Restriction.MUTE)
        if mute is not None:
            until = f" until {mute.expires_at.isoformat()}" if mute.expires_at else ""
            raise NotAllowed(f"you are muted in this room{until}")
        if role is None:
            raise NotAllowed("join the room first")
        limit = settings.CHAT_POSTS_PER_MINUTE
        if limit:
            now = timezone.now()
            recent = list(
                Message.objects.filter(author=user, created_at__gt=now - timedelta(minutes=1))
                .order_by("-created_at")
                .values_list("created_at", flat=True)[:limit]
            )
            if len(recent) >= limit:
                # Free again once the oldest of those is a minute old.
                seconds = max(1, int(60 - (now - recent[-1]).total_seconds() + 0.999))
                raise NotAllowed(
                    f"too many messages: at most {limit} a minute; wait {seconds} seconds",
                    status=429,
                    retry_after=seconds,
                )
        if self.slow_mode_seconds and not moderator():
            last = (
                Message.objects.filter(room=self, author=user)
                .order_by("-id")
                .values_list("created_at", flat=True)
                .first()
            )
            if last is not None:
                wait = self.slow_mode_seconds - (timezone.now() - last).total_seconds()
                if wait > 0:
                    seconds = max(1, int(wait + 0.999))
                    raise NotAllowed(
                        f"slow mode: wait {seconds} more seconds", status=429, retry_after=seconds
                    )

    def current_event_seq(self) -> int:
        """The newest committed event seq, read fresh from the database."""
        return Room.objects.filter(pk=self.pk).values_list("last_event_seq", flat=True).get()

    # Writing. Each method is one transaction holding the change and its event.

    def next_event_seq(self) -> int:
        """Hand out the room's next seq. Must run inside the transaction that uses it.

        The UPDATE takes the room's row lock until commit, so two transactions can never
        get the same seq, and a rolled-back one gives its seq back.
        """
        Room.objects.filter(pk=self.pk).update(last_event_seq=F("last_event_seq") + 1)
        seq = self.current_event_seq()
        self.last_event_seq = seq
        return seq

    def append_event(
        self,
        type: str,
        data: dict[str, Any] | str,
        *,
        seq: int | None = None,
        message_id: int | None = None,
        subject: int | None = None,
        became_private: bool = False,
    ) -> RoomEvent:
        """Add an event to this room's log; publish it once the transaction commits.

        Must run inside the transaction that makes the change the event describes. `seq`
        is one from next_event_seq() when the change had to know it first.
        """
        from rooms import events

        if seq is None:
            seq = self.next_event_seq()
        encoded = data if isinstance(data, str) else encode_event_data(data)
        logged = LoggedEvent(
            seq,
            type,
            encoded,
            message_id,
            subject,
            who_may_lose_access(type, private=self.private, became_private=became_private),
        )
        event = RoomEvent.objects.create(
            room=self,
            seq=seq,
            type=type,
            data=encoded,
            message_id=message_id,
            subject=subject,
            recheck=logged.recheck,
        )
        events.publish_on_commit(self.pk, logged)
        return event

    def post_message(self, author: Any, body: str, client_id: str = "") -> tuple[Message, bool]:
        """Store a message and its event. Return (message, created).

        With a client_id the post is idempotent: a retry returns the first message.
        """
        body = clean_message_body(body)
        if client_id:
            existing = Message.objects.filter(author=author, client_id=client_id).first()
            if existing is not None:
                return existing, False
        try:
            with transaction.atomic():
                # Lock the room first, so the checks and the post see the same state
                # (two quick posts cannot both slip through slow mode).
                room = Room.objects.select_for_update().get(pk=self.pk)
                room.check_can_post(author)
                seq = self.next_event_seq()
                message = Message.objects.create(
                    room=self, author=author, body=body, client_id=client_id, state_seq=seq
                )
                self.append_event(
                    EventType.MESSAGE_POSTED,
                    message.as_event_data(),
                    seq=seq,
                    message_id=message.pk,
                )
        except IntegrityError:
            # A concurrent retry with the same key committed first.
            if not client_id:
                raise
            return Message.objects.get(author=author, client_id=client_id), False
        return message, True

    def add_member(self, user: Any, role: str = "member") -> tuple[Membership, bool]:
        with transaction.atomic():
            membership, created = Membership.objects.get_or_create(
                room=self, user=user, defaults={"role": role}
            )
            if created:
                self.append_event(
                    EventType.MEMBER_JOINED,
                    {"room": self.slug, "user": user.get_username()},
                    subject=user.pk,
                )
        return membership, created

    def remove_member(self, user: Any) -> bool:
        """Remove a member (their streams of a private room close). Return whether they were one."""
        with transaction.atomic():
            deleted, _ = Membership.objects.filter(room=self, user=user).delete()
            if not deleted:
                return False
            self.append_event(
                EventType.MEMBER_LEFT,
                {"room": self.slug, "user": user.get_username()},
                subject=user.pk,
            )
        return True


class Access(enum.Enum):
    """What Room.access_for answers."""

    READ = "read"
    HIDDEN = "hidden"
    BANNED = "banned"


class Membership(models.Model):
    ROLE_OWNER = "owner"
    ROLE_MODERATOR = "moderator"
    ROLE_MEMBER = "member"
    ROLE_CHOICES = [(ROLE_OWNER, "owner"), (ROLE_MODERATOR, "moderator"), (ROLE_MEMBER, "member")]

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=ROLE_CHOICES, default=ROLE_MEMBER)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # Serves "is this user a member of this room", asked on every post and stream.
            models.UniqueConstraint(fields=["room", "user"], name="membership_unique_room_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.room}"


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="messages"
    )
    body = models.TextField(max_length=MAX_MESSAGE_LENGTH)
    client_id = models.CharField(max_length=MAX_CLIENT_ID_LENGTH, blank=True, default="")
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
            "body": self.visible_body,
            "created": self.created_at,
            "edited": self.edited_at,
            "deleted": self.is_deleted,
            "removed": self.is_removed,
            "client_id": self.client_id or None,
        }

    def check_author_can_change(self, user: Any) -> None:
        if self.author_id != user.pk:
            raise NotAllowed("you can only change your own messages")
        if self.is_deleted:
            raise NotAllowed("the message was deleted", status=409)
        if self.is_removed:
            raise NotAllowed("the message was removed by a moderator", status=409)
        room = self.room
        if room.archived:
            raise NotAllowed("the room is archived")
        if room.locked and not room.can_moderate(user):
            raise NotAllowed("the room is locked")
        if room.restriction_for(user, Restriction.BAN) is not None:
            raise NotAllowed("you are banned from this room")
        if room.restriction_for(user, Restriction.MUTE) is not None:
            raise NotAllowed("you are muted in this room")

    def edit(self, body: str) -> None:
        body = clean_message_body(body)
        with transaction.atomic():
            self.body = body
            self.edited_at = timezone.now()
            self.record_change(EventType.MESSAGE_EDITED, ["body", "edited_at"])

    def erase(self) -> None:
        """Leave a tombstone: the row stays in history, its text is gone for good.

        The text is erased from the message and from every event of the log that carried
        it, in the same transaction: nothing (history, replay, admin, a backup taken later)
        can show it again. Deleting a message in the admin does exactly this too.
        """
        with transaction.atomic():
            self.body = ""
            self.deleted_at = timezone.now()
            self.record_change(
                EventType.MESSAGE_DELETED,
                ["body", "deleted_at"],
                {"id": self.pk, "room": self.room.slug, "deleted": True},
            )
            RoomEvent.objects.redact(self)

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


class RoomEventQuerySet(models.QuerySet["RoomEvent"]):
    def read(
        self, room_id: int, after: int, before: int | None = None, limit: int | None = None
    ) -> list[LoggedEvent]:
        """The room's events after seq `after` (and before `before`), oldest first.

        An event that carried a message as it was then (posted, edited, restored) comes
        with the message as it is now if it changed since: a replay never shows text that
        the history would not show now (edited away, deleted, removed by a moderator).
        Every reader of the log goes through here.
        """
        rows = self.filter(room_id=room_id, seq__gt=after)
        if before is not None:
            rows = rows.filter(seq__lt=before)
        rows = rows.order_by("seq")
        if limit is not None:
            rows = rows[:limit]
        fetched = list(
            rows.values_list(
                "seq", "type", "data", "message_id", "message__state_seq", "subject", "recheck"
            )
        )
        stale = {
            message_id
            for seq, type, _, message_id, state_seq, _, _ in fetched
            if message_id is not None and type in SNAPSHOT_TYPES and (state_seq or 0) > seq
        }
        present: dict[int, str] = {}
        if stale:
            for message in Message.objects.filter(pk__in=stale).select_related("room", "author"):
                present[message.pk] = encode_event_data(message.as_event_data())
        return [
            LoggedEvent(
                seq,
                type,
                present[message_id]
                if message_id in present and type in SNAPSHOT_TYPES and (state_seq or 0) > seq
                else data,
                message_id,
                subject,
                recheck,
            )
            for seq, type, data, message_id, state_seq, subject, recheck in fetched
        ]

    def redact(self, message: Message) -> int:
        """Overwrite every event that carried the message's text with its tombstone.

        The one rewrite the append-only log allows: a message its author deleted.
        """
        tombstone = encode_event_data(message.as_event_data())
        return self.filter(message=message, type__in=SNAPSHOT_TYPES).update(data=tombstone)


class RoomEvent(models.Model):
    """One entry of a room's permanent, append-only event log: the source of truth for replay.

    Rows are never deleted and never changed, with one exception: deleting a message
    overwrites the events that carried its text with its tombstone (RoomEventQuerySet.redact).
    """

    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="events")
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=32, choices=EventType.choices)
    # Already-encoded JSON: written to the wire as it is, never decoded on the hot path.
    data = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    # The message the event is about; its FK index serves the redaction of a deleted one.
    message = models.ForeignKey(
        "Message", on_delete=models.PROTECT, null=True, blank=True, related_name="events"
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


class RestrictionQuerySet(models.QuerySet["Restriction"]):
    def active(self) -> RestrictionQuerySet:
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))


class Restriction(models.Model):
    """A mute (can read, cannot post) or a ban (cannot read, post or replay) in one room."""

    MUTE = "mute"
    BAN = "ban"
    KIND_CHOICES = [(MUTE, "mute"), (BAN, "ban")]

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="restrictions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="restrictions"
    )
    kind = models.CharField(max_length=8, choices=KIND_CHOICES)
    reason = models.CharField(max_length=MAX_REASON_LENGTH, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # None: until lifted.
    expires_at = models.DateTimeField(null=True, blank=True)

    objects = RestrictionQuerySet.as_manager()

    class Meta:
        constraints = [
            # Serves "is this user muted/banned here", asked on every post and stream.
            models.UniqueConstraint(
                fields=["room", "user", "kind"], name="restriction_unique_room_user_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.user} in {self.room}"

    @property
    def is_active(self) -> bool:
        return self.expires_at is None or self.expires_at > timezone.now()


class Report(models.Model):
    """A member's report of a message, for moderators to resolve or dismiss."""

    OPEN = "open"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"
    STATUS_CHOICES = [(OPEN, "open"), (RESOLVED, "resolved"), (DISMISSED, "dismissed")]

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports_made"
    )
    reason = models.CharField(max_length=MAX_REASON_LENGTH)
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default=OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One report per message per reporter.
            models.UniqueConstraint(fields=["message", "reporter"], name="report_unique_reporter"),
        ]
        indexes = [
            # Serves the admin's queue of open reports, newest first.
            models.Index(fields=["status", "-created_at"], name="report_status_created"),
        ]

    def __str__(self) -> str:
        return f"report #{self.pk} on message #{self.message_id}"


# How the moderation log names actions nobody took by hand (a restriction that expired).
SYSTEM_ACTOR_NAME = "system"


class ModerationAction(models.Model):
    """The moderation log: who did what, to whom, when and why. Never edited."""

    REMOVE_MESSAGE = "remove_message"
    RESTORE_MESSAGE = "restore_message"
    MUTE = "mute"
    UNMUTE = "unmute"
    BAN = "ban"
    UNBAN = "unban"
    LOCK = "lock"
    UNLOCK = "unlock"
    ARCHIVE = "archive"
    UNARCHIVE = "unarchive"
    SLOW_MODE = "slow_mode"
    ADD_MODERATOR = "add_moderator"
    REMOVE_MODERATOR = "remove_moderator"
    RESOLVE_REPORT = "resolve_report"
    DISMISS_REPORT = "dismiss_report"
    RENAME = "rename"
    MAKE_PRIVATE = "make_private"
    MAKE_PUBLIC = "make_public"
    ERASE_MESSAGE = "erase_message"
    REMOVE_MEMBER = "remove_member"
    ACTION_CHOICES = [
        (value, value.replace("_", " "))
        for value in (
            REMOVE_MESSAGE,
            RESTORE_MESSAGE,
            MUTE,
            UNMUTE,
            BAN,
            UNBAN,
            LOCK,
            UNLOCK,
            ARCHIVE,
            UNARCHIVE,
            SLOW_MODE,
            ADD_MODERATOR,
            REMOVE_MODERATOR,
            RESOLVE_REPORT,
            DISMISS_REPORT,
            RENAME,
            MAKE_PRIVATE,
            MAKE_PUBLIC,
            ERASE_MESSAGE,
            REMOVE_MEMBER,
        )
    ]

    # None: the system, e.g. a mute or ban that ended because its time ran out.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="moderation_actions",
    )
    action = models.CharField(max_length=32, choices=ACTION_CHOICES)
    room = models.ForeignKey(
        Room, on_delete=models.PROTECT, null=True, blank=True, related_name="moderation_actions"
    )
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="moderation_actions_received",
    )
    message = models.ForeignKey(
        Message, on_delete=models.PROTECT, null=True, blank=True, related_name="moderation_actions"
    )
    reason = models.CharField(max_length=MAX_REASON_LENGTH, blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.get_action_display()} at {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def actor_name(self) -> str:
        return self.actor.get_username() if self.actor is not None else SYSTEM_ACTOR_NAME
