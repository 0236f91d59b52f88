"""Mutes and bans, reports, and the moderation log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from rooms.models.common import MAX_REASON_LENGTH


class RestrictionQuerySet(models.QuerySet["Restriction"]):
    def active(self) -> RestrictionQuerySet:
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))


class Restriction(models.Model):
    """A mute (can read, cannot post) or a ban (cannot read, post or replay) in one room."""

    MUTE = "mute"
    BAN = "ban"
    KIND_CHOICES = [(MUTE, "mute"), (BAN, "ban")]

    room = models.ForeignKey("rooms.Room", on_delete=models.CASCADE, related_name="restrictions")
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

    message = models.ForeignKey("rooms.Message", on_delete=models.CASCADE, related_name="reports")
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
    TOPIC = "topic"
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
            TOPIC,
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
        "rooms.Room",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="moderation_actions",
    )
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="moderation_actions_received",
    )
    message = models.ForeignKey(
        "rooms.Message",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="moderation_actions",
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
