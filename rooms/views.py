"""The pages: the lobby, a room, its members. (The JSON API is rooms/api.py, accounts are
rooms/accounts.py, moderation's page rooms/moderation/views.py.)"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render

from rooms.api import HISTORY_PAGE_DEFAULT, history_around
from rooms.http import AuthenticatedRequest, readable_room
from rooms.models import (
    MAX_ATTACHMENTS_PER_MESSAGE,
    MAX_MESSAGE_LENGTH,
    MAX_ROOM_NAME_LENGTH,
    Membership,
    Message,
    NotAllowed,
    NotifyLevel,
    Restriction,
    Room,
)
from rooms.models.log import current_position
from rooms.models.messages import excerpt


@login_required
def lobby(request: AuthenticatedRequest) -> HttpResponse:
    member_of = set(request.user.memberships.values_list("room_id", flat=True))
    rooms = Room.objects.visible_to(request.user).select_related("owner")
    return render(
        request,
        "rooms/lobby.html",
        {
            "my_rooms": [room for room in rooms if room.pk in member_of],
            "other_rooms": [
                room for room in rooms if room.pk not in member_of and not room.archived
            ],
            "max_name_length": MAX_ROOM_NAME_LENGTH,
            "position": current_position(),
        },
    )


@login_required
def room_page(request: AuthenticatedRequest, slug: str) -> HttpResponse:
    room = readable_room(request, slug)
    # The ids current *before* the history is read: the streams resume from them, so an
    # event committed between this render and the stream's connect is not lost. The user's
    # site position first: every event after it comes on the user stream, and those up to
    # the room's seq read next are in the history (the page skips them by seq).
    position = current_position()
    last_event_id = room.current_event_seq()
    around = _around(request, room)
    if around is not None:
        # A search result: open at that message, with history on both sides of it.
        page, has_more, has_newer = history_around(room, around, HISTORY_PAGE_DEFAULT)
    else:
        page = list(
            Message.objects.filter(room=room).for_display().order_by("-id")[:HISTORY_PAGE_DEFAULT]
        )
        page.reverse()
        has_more, has_newer = len(page) == HISTORY_PAGE_DEFAULT, False
    return render(
        request,
        "rooms/room.html",
        {
            "room": room,
            "room_title": _title(room, request.user),
            "messages_page": page,
            "has_more": has_more,
            "has_newer": has_newer,
            "around": around,
            "last_event_id": last_event_id,
            "position": position,
            **_membership_of(room, request.user),
            "is_member": room.is_member(request.user),
            "can_moderate": room.can_moderate(request.user),
            "notice": _notice(room, request.user),
            "mute": room.restriction_for(request.user, Restriction.MUTE),
            "max_message_length": MAX_MESSAGE_LENGTH,
            "max_upload_bytes": settings.CHAT_MAX_UPLOAD_BYTES,
            "max_attachments": MAX_ATTACHMENTS_PER_MESSAGE,
            "presence_heartbeat_seconds": settings.CHAT_PRESENCE_HEARTBEAT_SECONDS,
            "typing_interval_seconds": settings.CHAT_TYPING_INTERVAL_SECONDS,
            "pinned": _pinned(room),
            "common_emoji": COMMON_EMOJI,
        },
    )


def _membership_of(room: Room, user: Any) -> dict[str, Any]:
    """The member's read position and notification level here (None for a reader)."""
    row = Membership.objects.filter(room=room, user=user).values("last_read", "notify").first()
    return {
        "last_read": row["last_read"] if row else None,
        "notify_level": row["notify"] if row else None,
        "notify_levels": NotifyLevel.choices,
    }


# The reaction picker's choices (any single emoji may be sent through the API).
COMMON_EMOJI = ("👍", "❤️", "😄", "🎉", "🤔", "👀", "🙏", "🔥", "✅", "😢")
# The room's header lists at most this many pinned messages, the newest pins first.
MAX_PINNED_LISTED = 20


def _pinned(room: Room) -> list[Message]:
    pinned = list(
        Message.objects.filter(
            room=room, pinned_at__isnull=False, deleted_at__isnull=True, removed_at__isnull=True
        )
        .select_related("author")
        .order_by("-pinned_at")[:MAX_PINNED_LISTED]
    )
    for message in pinned:
        message.excerpt = excerpt(message.body)  # type: ignore[attr-defined]
    return pinned


def _title(room: Room, user: Any) -> str:
    """A room's name; a DM has none of its own: the page names it by the other people in it."""
    if not room.is_dm:
        return room.name
    others = [name for name in room.member_names() if name != user.get_username()]
    return ", ".join(others) or user.get_username()


def _around(request: AuthenticatedRequest, room: Room) -> int | None:
    """The message ?around=<id> asks the page to open at, if it is one of this room's."""
    raw = request.GET.get("around", "")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        return None
    return Message.objects.filter(room=room, pk=int(raw)).values_list("pk", flat=True).first()


# The reasons a member cannot write that the room page explains above its composer.
NOTICES = frozenset({"archived", "locked", "muted"})


def _notice(room: Room, user: Any) -> str:
    """Why a member cannot write here now (the room's one write rule), if the page explains
    it, in the words of templates/rooms/_room_notice.html."""
    try:
        if room.is_member(user):
            room.check_can_write(user)
    except NotAllowed as exc:
        return exc.reason if exc.reason in NOTICES else ""
    return ""


@login_required
def members_page(request: AuthenticatedRequest, slug: str) -> HttpResponse:
    room = readable_room(request, slug)
    members = room.memberships.select_related("user").order_by("user__username")
    return render(
        request,
        "rooms/members.html",
        {
            "room": room,
            "members": members,
            "is_owner": room.owner_id == request.user.pk,
            "is_member": room.is_member(request.user),
            "can_moderate": room.can_moderate(request.user),
        },
    )
