"""Incoming webhooks (POST /hooks/<id>/<secret>/ posts to the room as the hook's bot), and
the room owner's management of a room's webhooks, incoming and outgoing: JSON endpoints
under /rooms/<slug>/webhooks/ and a page that uses them with plain forms.

An incoming webhook is its URL: the secret in it is the only credential, so a wrong one
answers exactly like a missing hook (404), the owner may rotate it (the old URL stops
working at once), and each hook is rate-limited (CHAT_HOOK_POSTS_PER_MINUTE) and its body
size-limited (CHAT_MAX_HOOK_BYTES, refused with 413 before it is read: rooms/middleware.py).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rooms import limits
from rooms.http import (
    REFUSALS,
    AuthenticatedRequest,
    BadRequest,
    active_user,
    answers_forms,
    bool_field,
    json_endpoint,
    read_payload,
    readable_room,
    refusal,
    string_field,
)
from rooms.models import IncomingWebhook, OutgoingWebhook, Room, is_bot
from rooms.models.programs import MAX_TOKEN_NAME_LENGTH

# What a hook's body may carry: {"text"}, or Slack's incoming-webhook body, whose other
# fields are accepted and ignored (the author is always the hook's bot), or Slack's form
# encoding of it (payload=<that JSON>).
SLACK_FIELDS = frozenset({"text", "username", "icon_emoji", "icon_url", "channel", "mrkdwn"})
HOOK_FIELDS = SLACK_FIELDS | {"payload"}


@csrf_exempt
@require_POST
@limits.rate_limited(limits.HOOK_POSTS)
def incoming(request: HttpRequest, hook_id: int, secret: str) -> JsonResponse:
    """POST /hooks/<id>/<secret>/ {"text": "..."}: post the text to the hook's room as its bot.

    No session or token: the URL is the credential. 201 with the message, as a post's.
    """
    hook = (
        IncomingWebhook.objects.select_related("room", "bot", "bot__bot").filter(pk=hook_id).first()
    )
    if hook is None or not constant_time_compare(secret, hook.secret):
        return JsonResponse({"error": "no such webhook"}, status=404)
    try:
        text = _hook_text(read_payload(request, HOOK_FIELDS))
        if not hook.bot.is_active:
            raise PermissionDenied("the webhook's bot account is deactivated")
        message, _ = hook.room.post_message(hook.bot, text)
    except REFUSALS as exc:
        return refusal(exc)
    return JsonResponse(message.as_event_data(), status=201)


def _hook_text(payload: Any) -> str:
    if isinstance(payload, QueryDict) and "payload" in payload:
        try:
            payload = json.loads(str(payload["payload"]))
        except ValueError:
            raise BadRequest("payload is not valid JSON") from None
        if not isinstance(payload, dict):
            raise BadRequest("payload must be a JSON object")
        unknown = sorted(set(payload) - SLACK_FIELDS)
        if unknown:
            raise BadRequest(f"unknown field in payload: {unknown[0][:40]!r}")
    elif "payload" in payload:
        raise BadRequest("unknown field: 'payload'")
    text = string_field(payload, "text")
    if not text.strip():
        raise BadRequest("text is required")
    return text


# The room owner's management of its webhooks.


def owned_room(request: HttpRequest, slug: str) -> Room:
    """The room if the user owns it (404/403 as readable_room first)."""
    room = readable_room(request, slug)
    if room.owner_id is None or room.owner_id != request.user.pk:
        raise PermissionDenied("only the room's owner manages its webhooks")
    return room


def _name(payload: Any) -> str:
    name = string_field(payload, "name").strip()
    if not name:
        raise BadRequest("name is required")
    if len(name) > MAX_TOKEN_NAME_LENGTH:
        raise BadRequest(f"name is longer than {MAX_TOKEN_NAME_LENGTH} characters")
    return name


def _bot(room: Room, payload: Any) -> Any:
    """The bot the hook acts as (by username), made a member of the room if it is not."""
    user = active_user(payload.get("bot"))
    if not is_bot(user):
        raise BadRequest("bot must name a bot account (staff make them in the admin)")
    if not room.is_member(user):
        room.add_member(user)
    return user


def hooks_data(room: Room) -> dict[str, Any]:
    return {
        "incoming": [
            hook.as_data() for hook in room.incoming_hooks.select_related("bot").order_by("id")
        ],
        "outgoing": [
            hook.as_data() for hook in room.outgoing_hooks.select_related("bot").order_by("id")
        ],
    }


FORMS = {"done": "room-webhooks", "back": "room-webhooks"}


@require_http_methods(["GET", "POST"])
@answers_forms(**FORMS, failure="The webhook was not made")
@json_endpoint(fields={"POST": ("name", "bot")})
@limits.rate_limited(limits.ACTIONS)
def incoming_hooks(request: AuthenticatedRequest, slug: str) -> JsonResponse:
    """GET: the room's webhooks, both kinds. POST {"name", "bot"}: a new incoming webhook."""
    room = owned_room(request, slug)
    if request.method == "GET":
        return JsonResponse(hooks_data(room))
    payload = read_payload(request)
    name = _name(payload)
    with transaction.atomic():
        hook = IncomingWebhook.objects.create(
            room=room, bot=_bot(room, payload), name=name, created_by=request.user
        )
    return JsonResponse(hook.as_data(), status=201)


def _incoming_hook(request: HttpRequest, slug: str, hook_id: int) -> IncomingWebhook:
    room = owned_room(request, slug)
    hook = room.incoming_hooks.select_related("bot").filter(pk=hook_id).first()
    if hook is None:
        raise Http404("no such webhook")
    return hook


@require_POST
@answers_forms(**FORMS, failure="The webhook's URL was not changed")
@json_endpoint()
@limits.rate_limited(limits.ACTIONS)
def rotate_incoming_hook(request: AuthenticatedRequest, slug: str, hook_id: int) -> JsonResponse:
    """POST: a new secret; the old URL answers 404 from now on."""
    hook = _incoming_hook(request, slug, hook_id)
    hook.rotate()
    return JsonResponse(hook.as_data())


@require_POST
@answers_forms(**FORMS, failure="The webhook was not deleted")
@json_endpoint()
@limits.rate_limited(limits.ACTIONS)
def delete_incoming_hook(request: AuthenticatedRequest, slug: str, hook_id: int) -> JsonResponse:
    hook = _incoming_hook(request, slug, hook_id)
    hook.delete()
    return JsonResponse({"deleted": hook_id})


@require_http_methods(["GET", "POST"])
@answers_forms(**FORMS, failure="The webhook was not made")
@json_endpoint(fields={"POST": ("name", "bot", "url", "mentions_only")})
@limits.rate_limited(limits.ACTIONS)
def outgoing_hooks(request: AuthenticatedRequest, slug: str) -> JsonResponse:
    """GET: the room's webhooks, both kinds. POST {"name", "bot", "url", "mentions_only"}: a
    new outgoing webhook; its URL must be https and reach a public address (outgoing.py)."""
    from rooms.programs import outgoing

    room = owned_room(request, slug)
    if request.method == "GET":
        return JsonResponse(hooks_data(room))
    payload = read_payload(request)
    name = _name(payload)
    url = string_field(payload, "url").strip()
    try:
        outgoing.check_url(url)
    except outgoing.UnsafeURL as exc:
        raise BadRequest(f"url: {exc}") from None
    with transaction.atomic():
        hook = OutgoingWebhook.objects.create(
            room=room,
            bot=_bot(room, payload),
            name=name,
            url=url,
            mentions_only=bool_field(payload, "mentions_only"),
            created_by=request.user,
        )
        Room.objects.filter(pk=room.pk).update(has_outgoing_hooks=True)
    data = hook.as_data()
    # Shown to the owner when it is made (and on the webhooks page): the receiver needs it
    # to check the signature.
    data["secret"] = hook.secret
    return JsonResponse(data, status=201)


@require_POST
@answers_forms(**FORMS, failure="The webhook was not deleted")
@json_endpoint()
@limits.rate_limited(limits.ACTIONS)
def delete_outgoing_hook(request: AuthenticatedRequest, slug: str, hook_id: int) -> JsonResponse:
    room = owned_room(request, slug)
    with transaction.atomic():
        deleted, _ = room.outgoing_hooks.filter(pk=hook_id).delete()
        if not deleted:
            raise Http404("no such webhook")
        if not room.outgoing_hooks.exists():
            Room.objects.filter(pk=room.pk).update(has_outgoing_hooks=False)
    return JsonResponse({"deleted": hook_id})


@login_required
@require_GET
def webhooks_page(request: AuthenticatedRequest, slug: str) -> HttpResponse:
    """The owner's page of the room's webhooks: their URLs and secrets, forms for the rest."""
    room = owned_room(request, slug)
    return render(
        request,
        "rooms/webhooks.html",
        {
            "room": room,
            "incoming": room.incoming_hooks.select_related("bot").order_by("id"),
            "outgoing": room.outgoing_hooks.select_related("bot").order_by("id"),
            "base_url": request.build_absolute_uri("/").rstrip("/"),
        },
    )
