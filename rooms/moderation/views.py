"""Moderation on the site: the room moderation page and the JSON endpoints room owners and
moderators use (the admin calls the same actions: rooms/moderation/admin.py)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rooms import limits, moderation
from rooms.http import (
    AuthenticatedRequest,
    View,
    active_user,
    bool_field,
    find_message,
    int_field,
    json_endpoint,
    read_payload,
    readable_room,
)
from rooms.models import (
    MAX_REASON_LENGTH,
    MAX_SLOW_MODE_SECONDS,
    ModerationAction,
    Restriction,
    Room,
)

# How many entries of the moderation log the moderation page shows.
MODERATION_LOG_ON_PAGE = 20


@login_required
def moderation_page(request: AuthenticatedRequest, slug: str) -> HttpResponse:
    """The room's owner and moderators: settings, mutes and bans, moderators, members."""
    room = readable_room(request, slug)
    if not room.can_moderate(request.user):
        raise PermissionDenied("you are not a moderator of this room")
    # Read before the lists: the page's stream resumes from it, so no change falls between.
    last_event_id = room.current_event_seq()
    is_owner = room.owner_id == request.user.pk
    return render(
        request,
        "rooms/moderation.html",
        {
            "room": room,
            "last_event_id": last_event_id,
            "restrictions": _current_restrictions(room),
            "members": room.memberships.select_related("user").order_by("user__username"),
            "is_owner": is_owner,
            "can_name_moderators": is_owner or request.user.has_perm("rooms.moderate_room"),
            "log": ModerationAction.objects.filter(room=room)
            .select_related("actor", "target_user")
            .order_by("-created_at", "-id")[:MODERATION_LOG_ON_PAGE],
            "max_minutes": moderation.MAX_RESTRICTION_MINUTES,
            "max_slow_mode_seconds": MAX_SLOW_MODE_SECONDS,
            "max_reason_length": MAX_REASON_LENGTH,
        },
    )


def _current_restrictions(room: Room) -> list[Restriction]:
    return list(
        Restriction.objects.active()
        .filter(room=room)
        .select_related("user", "created_by")
        .order_by("kind", "user__username")
    )


def restriction_as_data(restriction: Restriction) -> dict[str, Any]:
    return {
        "username": restriction.user.get_username(),
        "kind": restriction.kind,
        "until": restriction.expires_at,
        "reason": restriction.reason,
        "by": restriction.created_by.get_username() if restriction.created_by else None,
        "created": restriction.created_at,
    }


@require_http_methods(["DELETE"])
@json_endpoint()
@limits.rate_limited(limits.ACTIONS, methods=("DELETE",))
def room_member(request: AuthenticatedRequest, slug: str, username: str) -> JsonResponse:
    """The owner removes a member (Room.remove_member closes their streams of a private room)."""
    room = readable_room(request, slug)
    if room.owner_id != request.user.pk:
        raise PermissionDenied("only the room's owner can remove members")
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise Http404(f"{username} is not a member of this room")
    moderation.remove_member(request.user, room, user)
    return JsonResponse({"username": user.get_username(), "member": False})


def _message_view(apply: Any) -> View:
    """A moderator's action on one message (remove, restore); answers the message."""

    @require_POST
    @json_endpoint(fields={"POST": ("reason",)})
    @limits.rate_limited(limits.ACTIONS)
    def view(request: AuthenticatedRequest, slug: str, message_id: int) -> JsonResponse:
        message = find_message(readable_room(request, slug), message_id)
        apply(request.user, message, read_payload(request).get("reason"))
        return JsonResponse(message.as_event_data())

    view.__name__ = apply.__name__
    return view


remove_message = _message_view(moderation.remove_message)
restore_message = _message_view(moderation.restore_message)


@require_POST
@json_endpoint(fields={"POST": ("reason",)})
@limits.rate_limited(limits.ACTIONS)
def report_message(request: AuthenticatedRequest, slug: str, message_id: int) -> JsonResponse:
    room = readable_room(request, slug)
    message = find_message(room, message_id)
    report = moderation.report_message(request.user, message, read_payload(request).get("reason"))
    return JsonResponse(
        {"id": report.pk, "message": message.pk, "status": report.status}, status=201
    )


def _restriction_view(kind: str, lift: bool) -> View:
    fields = ("username", "reason") if lift else ("username", "minutes", "reason")

    @require_POST
    @json_endpoint(fields={"POST": fields})
    @limits.rate_limited(limits.ACTIONS)
    def view(request: AuthenticatedRequest, slug: str) -> JsonResponse:
        room = readable_room(request, slug)
        moderation.require_moderator(room, request.user)
        payload = read_payload(request)
        user = active_user(payload.get("username"))
        if lift:
            moderation.lift_restriction(request.user, room, user, kind, payload.get("reason"))
            return JsonResponse({"username": user.get_username(), kind: False})
        restriction = moderation.restrict(
            request.user, room, user, kind, int_field(payload, "minutes"), payload.get("reason")
        )
        return JsonResponse(
            {"username": user.get_username(), kind: True, "until": restriction.expires_at}
        )

    view.__name__ = f"{'un' if lift else ''}{kind}"
    return view


mute = _restriction_view(Restriction.MUTE, lift=False)
unmute = _restriction_view(Restriction.MUTE, lift=True)
ban = _restriction_view(Restriction.BAN, lift=False)
unban = _restriction_view(Restriction.BAN, lift=True)


@require_GET
@json_endpoint()
def room_restrictions(request: AuthenticatedRequest, slug: str) -> JsonResponse:
    """The room's current mutes and bans, for its moderators."""
    room = readable_room(request, slug)
    moderation.require_moderator(room, request.user)
    return JsonResponse(
        {"restrictions": [restriction_as_data(r) for r in _current_restrictions(room)]}
    )


@require_POST
@json_endpoint(fields={"POST": ("locked", "archived", "slow_mode_seconds", "topic", "reason")})
@limits.rate_limited(limits.ACTIONS)
def room_settings(request: AuthenticatedRequest, slug: str) -> JsonResponse:
    room = readable_room(request, slug)
    moderation.require_moderator(room, request.user)
    payload = read_payload(request)
    moderation.update_room(
        request.user,
        room,
        locked=bool_field(payload, "locked") if "locked" in payload else None,
        archived=bool_field(payload, "archived") if "archived" in payload else None,
        slow_mode_seconds=int_field(payload, "slow_mode_seconds"),
        topic=payload.get("topic"),
        reason=payload.get("reason"),
    )
    return JsonResponse(room.settings_data())


@require_POST
@json_endpoint(fields={"POST": ("username", "moderator")})
@limits.rate_limited(limits.ACTIONS)
def room_moderators(request: AuthenticatedRequest, slug: str) -> JsonResponse:
    room = readable_room(request, slug)
    payload = read_payload(request)
    user = active_user(payload.get("username"))
    moderator = bool_field(payload, "moderator") if "moderator" in payload else True
    membership = moderation.set_room_moderator(request.user, room, user, moderator)
    return JsonResponse({"username": user.get_username(), "role": membership.role})
