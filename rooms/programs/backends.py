"""Bots cannot log in with a password (they work with tokens only)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from rooms.models import Bot


class BotsCannotLogIn:
    """Before ModelBackend: a bot's username ends the password check, whatever the password
    (PermissionDenied stops Django from asking the next backends). A bot has no usable
    password already (Bot.save); this holds even if staff gave it one. It has no get_user:
    no session is ever logged in through it (and Django's test client's force_login looks
    for the first backend that has one)."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, **kwargs: Any
    ) -> None:
        if username is None:
            return None
        field = get_user_model().USERNAME_FIELD
        if Bot.objects.filter(**{f"user__{field}": username}).exists():
            raise PermissionDenied("bots cannot log in")
        return None
