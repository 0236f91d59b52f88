"""The admin of bots, tokens and webhooks: staff make bot accounts here (a bot has no
password: it works with tokens, which its staff or the bot itself make)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from rooms.models import ApiToken, Bot, IncomingWebhook, OutgoingWebhook


class BotForm(forms.ModelForm[Bot]):
    """A new bot is a new account: its username here, and never a password."""

    username = forms.CharField(
        max_length=150, help_text="The bot's account: its messages show this name."
    )

    class Meta:
        model = Bot
        fields = ["description"]

    def clean_username(self) -> str:
        username = str(self.cleaned_data["username"]).strip()
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("an account with this name exists")
        return username


@admin.register(Bot)
class BotAdmin(admin.ModelAdmin[Bot]):
    list_display = ["user", "description", "created_at"]
    search_fields = ["user__username"]
    list_select_related = ["user"]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = BotForm
        return super().get_form(request, obj, change=change, **kwargs)

    actions = ["make_tokens"]

    @admin.action(description="Make a write token for each selected bot")
    def make_tokens(self, request: HttpRequest, queryset: QuerySet[Bot]) -> TemplateResponse:
        """Show the new tokens on the answer itself, once: never stored (nor in messages,
        which live in a cookie or the session)."""
        made = [
            (bot.user, ApiToken.objects.create_token(bot.user, "made in the admin", "write")[1])
            for bot in queryset.select_related("user")
        ]
        return TemplateResponse(
            request,
            "admin/rooms/bot/tokens.html",
            {**self.admin_site.each_context(request), "made": made, "title": "New bot tokens"},
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["user", "created_at"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Bot, form: Any, change: bool) -> None:
        with transaction.atomic():
            if not change:
                # No password: create_user with None sets an unusable one.
                obj.user = get_user_model().objects.create_user(form.cleaned_data["username"])
            super().save_model(request, obj, form, change)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = [
        "name",
        "user",
        "scope",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["scope"]
    search_fields = ["user__username", "name", "prefix"]
    list_select_related = ["user"]
    readonly_fields = ["user", "prefix", "created_at", "last_used_at", "revoked_at"]
    fields = [
        "user",
        "name",
        "scope",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a token is shown once, to the person who makes it (their settings page)

    @admin.action(description="Revoke the selected tokens (their streams close)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            token.revoke()
        messages.success(request, "Revoked.")


class WebhookAdmin:
    """To look at and delete: a room's owner makes webhooks on the site, where the bot, the
    room and the URL are checked (rooms/programs/hooks.py); the admin would skip that."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(IncomingWebhook)
class IncomingWebhookAdmin(WebhookAdmin, admin.ModelAdmin[IncomingWebhook]):
    list_display = ["name", "room", "bot", "created_by", "created_at"]
    list_select_related = ["room", "bot", "created_by"]
    exclude = ["secret"]


@admin.register(OutgoingWebhook)
class OutgoingWebhookAdmin(WebhookAdmin, admin.ModelAdmin[OutgoingWebhook]):
    # LIMITATION: deleting the last hook of a room here leaves Room.has_outgoing_hooks set:
    # its posts then look for hooks (one query) and find none.
    list_display = ["name", "room", "bot", "url", "failures", "paused_until", "last_error"]
    list_select_related = ["room", "bot"]
    exclude = ["secret"]
