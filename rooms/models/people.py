"""A person's own choices: how they hear about messages, and what others see of them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class Notify(models.TextChoices):
    """What a person is told about, on the desktop and by email."""

    ALL = "all", "All messages"
    MENTIONS = "mentions", "Mentions and direct messages"
    NOTHING = "nothing", "Nothing"


class Preferences(models.Model):
    """One row per person who changed a setting; everyone else has the defaults."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences"
    )
    notify = models.CharField(max_length=10, choices=Notify.choices, default=Notify.MENTIONS)
    email_notifications = models.BooleanField(
        default=True, help_text="Email me about mentions and direct messages I have not read."
    )
    share_presence = models.BooleanField(
        default=True, help_text="Show others when I am here and when I am typing."
    )

    class Meta:
        verbose_name_plural = "preferences"

    def __str__(self) -> str:
        return f"preferences of {self.user}"

    @classmethod
    def of(cls, user: Any) -> Preferences:
        """The person's preferences, unsaved defaults if they never changed one."""
        found = cls.objects.filter(user=user).first()
        return found if found is not None else cls(user=user)
