"""What programs use: personal API tokens, bot accounts, and a room's webhooks.

An API token is shown once, when it is made, and stored only as a digest: a token is
`chat_<prefix>_<secret>`, the prefix (shown in lists, to tell tokens apart) and the sha256
of the whole token (what a request's token is looked up by) are all the database holds.
A token acts for its person with its scope: "read" (GET and HEAD, and the streams) or
"write" (everything the person may do through the JSON API).

A bot is an account a staff member made in the admin: it has no password (it cannot log in
on the site) and works with tokens only; its messages say they are from a bot.

An incoming webhook posts to its room as its bot, from anything that can POST JSON to its
secret URL; an outgoing webhook sends each new message of its room to a URL of the owner's,
signed (rooms/programs/outgoing.py), and posts the reply back as its bot.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

TOKEN_START = "chat_"
TOKEN_PREFIX_LENGTH = 8
MAX_TOKEN_NAME_LENGTH = 100
# last_used_at is written at most this often per token: a program polling many times a second
# costs one UPDATE a minute, not one per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_digest(token: str) -> str:
    """What a token is stored and found by. The token holds 256 random bits: a plain sha256
    suffices (no salt or slow hash needed, unlike a password)."""
    return hashlib.sha256(token.encode()).hexdigest()


def bot_ids(user_ids: set[int]) -> set[int]:
    """Which of these accounts are bots (one query)."""
    return set(Bot.objects.filter(user_id__in=user_ids).values_list("user_id", flat=True))


def is_bot(user: Any) -> bool:
    """Whether the account is a bot. Free when the user was loaded with its bot
    (select_related("bot"): the token lookup and the session's user do, see
    rooms/programs/tokens.py), else one query."""
    if not getattr(user, "is_authenticated", False):
        return False
    try:
        user.bot  # noqa: B018
    except Bot.DoesNotExist:
        return False
    return True


class Bot(models.Model):
    """Marks an account as a bot: made by staff in the admin, with no usable password."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="bot"
    )
    description = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"bot {self.user}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        # A bot works with tokens only: no password may log it in, whatever it had.
        if self.user.has_usable_password():
            self.user.set_unusable_password()
            self.user.save(update_fields=["password"])


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def create_token(
        self, user: Any, name: str, scope: str, expires_at: Any = None
    ) -> tuple[ApiToken, str]:
        """Make a token; return it and its text (shown once: only its digest is stored)."""
        prefix = secrets.token_hex(TOKEN_PREFIX_LENGTH // 2)
        text = f"{TOKEN_START}{prefix}_{secrets.token_urlsafe(32)}"
        token = self.create(
            user=user,
            name=name,
            scope=scope,
            expires_at=expires_at,
            prefix=prefix,
            digest=token_digest(text),
        )
        return token, text

    def of_text(self, text: str) -> ApiToken | None:
        """The token this text is, with its user and whether they are a bot, if any."""
        if not text.startswith(TOKEN_START) or len(text) > 200:
            return None
        return self.filter(digest=token_digest(text)).select_related("user", "user__bot").first()


class ApiToken(models.Model):
    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Read and write"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=MAX_TOKEN_NAME_LENGTH)
    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.READ)
    # Shown in lists; the digest is what requests are matched by (unique: serves that lookup).
    prefix = models.CharField(max_length=TOKEN_PREFIX_LENGTH, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({TOKEN_START}{self.prefix}_…)"

    @property
    def display(self) -> str:
        return f"{TOKEN_START}{self.prefix}_…"

    def is_valid(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return (
            self.revoked_at is None
            and (self.expires_at is None or self.expires_at > now)
            and self.user.is_active
        )

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.WRITE

    @property
    def stream_key(self) -> str:
        """What the streams opened with this token are known by (as a session's streams are
        by the session's key): revoking the token closes them."""
        return f"token:{self.digest}"

    def note_use(self, now: Any = None) -> None:
        """Remember that it was used: at most one write per LAST_USED_RESOLUTION."""
        now = now or timezone.now()
        if self.last_used_at is None or now - self.last_used_at >= LAST_USED_RESOLUTION:
            self.last_used_at = now
            ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)

    def revoke(self) -> None:
        """Stop it working, and close the streams it opened, in every process."""
        from rooms import events

        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])
            events.revoke_session_on_commit(self.stream_key)

    def as_data(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "name": self.name,
            "scope": self.scope,
            "prefix": self.display,
            "created": self.created_at,
            "expires": self.expires_at,
            "last_used": self.last_used_at,
            "revoked": self.revoked_at,
        }


def new_hook_secret() -> str:
    return secrets.token_urlsafe(24)


class IncomingWebhook(models.Model):
    """POST /hooks/<id>/<secret>/ posts to `room` as `bot`."""

    room = models.ForeignKey("rooms.Room", on_delete=models.CASCADE, related_name="incoming_hooks")
    bot = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="incoming_hooks"
    )
    name = models.CharField(max_length=MAX_TOKEN_NAME_LENGTH)
    secret = models.CharField(max_length=64, default=new_hook_secret)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"incoming hook {self.name} of {self.room_id}"

    def path(self) -> str:
        return f"/hooks/{self.pk}/{self.secret}/"

    def rotate(self) -> None:
        self.secret = new_hook_secret()
        self.save(update_fields=["secret"])

    def as_data(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "name": self.name,
            "bot": self.bot.get_username(),
            "path": self.path(),
            "created": self.created_at,
        }


class OutgoingWebhook(models.Model):
    """Each new message of `room` (or only those mentioning `bot`) goes to `url`, signed
    with `secret`; a reply `{"text": ...}` posts back as `bot`."""

    room = models.ForeignKey("rooms.Room", on_delete=models.CASCADE, related_name="outgoing_hooks")
    bot = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="outgoing_hooks"
    )
    name = models.CharField(max_length=MAX_TOKEN_NAME_LENGTH)
    url = models.URLField(max_length=500)
    mentions_only = models.BooleanField(default=False)
    secret = models.CharField(max_length=64, default=new_hook_secret)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # The circuit breaker: failures in a row, and until when sends are skipped.
    failures = models.PositiveIntegerField(default=0)
    paused_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"outgoing hook {self.name} of {self.room_id}"

    def as_data(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "name": self.name,
            "bot": self.bot.get_username(),
            "url": self.url,
            "mentions_only": self.mentions_only,
            "failures": self.failures,
            "paused_until": self.paused_until,
            "last_error": self.last_error,
            "created": self.created_at,
        }
