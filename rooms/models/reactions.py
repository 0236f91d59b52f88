"""Reactions: one person's emoji on one message, at most once per emoji."""

from __future__ import annotations

import emoji as emoji_data
from django.conf import settings
from django.db import models
from django.utils import timezone

# At most this many different emoji under one message: a row of chips, not a wall.
MAX_EMOJI_PER_MESSAGE = 20
MAX_EMOJI_LENGTH = 32

# Short names a client may send instead of the emoji itself (a keyboard without emoji).
SHORT_NAMES = {
    "+1": "👍",
    "thumbsup": "👍",
    "-1": "👎",
    "thumbsdown": "👎",
    "heart": "❤️",
    "smile": "😄",
    "laughing": "😆",
    "tada": "🎉",
    "eyes": "👀",
    "rocket": "🚀",
    "thinking": "🤔",
    "pray": "🙏",
    "fire": "🔥",
    "check": "✅",
    "cry": "😢",
    "wave": "👋",
}


def clean_emoji(value: object) -> str | None:
    """The emoji as stored (a short name becomes its emoji), or None unless it is exactly one
    emoji (a person, a flag, a family or a skin tone count as one)."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if value in SHORT_NAMES:
        return SHORT_NAMES[value]
    if not value or len(value) > MAX_EMOJI_LENGTH:
        return None
    return value if emoji_data.is_emoji(value) else None


class Reaction(models.Model):
    message = models.ForeignKey("rooms.Message", on_delete=models.CASCADE, related_name="reactions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    emoji = models.CharField(max_length=MAX_EMOJI_LENGTH)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # One per person per emoji per message; its index also serves "the reactions
            # of these messages" (history pages prefetch them by message).
            models.UniqueConstraint(
                fields=["message", "user", "emoji"], name="reaction_unique_message_user_emoji"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.emoji} on {self.message_id}"
