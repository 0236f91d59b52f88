"""The JSON API of rooms, members and messages (the stream is rooms/stream/consumer.py,
moderation's endpoints rooms/moderation/views.py). Request plumbing is rooms/http.py's."""

from __future__ import annotations

import functools
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.views.decorators.http import require_http_methods, require_POST

from rooms import limits, presence, writer
from rooms.http import (
    REFUSALS,
    AuthenticatedRequest,
    BadRequest,
    Payload,
    active_user,
    answers_forms,
    attachment_ids,
    bool_field,
    find_message,
    int_field,
    int_param,
    is_browser_form,
    json_endpoint,
    json_error,
    read_payload,
    readable_room,
    refusal,
    string_field,
)
from rooms.models import (
    MAX_ROOM_NAME_LENGTH,
    Membership,
    Message,
    NotAllowed,
    NotifyLevel,
    Restriction,
    Room,
    clean_message_body,
    has_hidden_characters,
    validate_client_id,
    validate_room_slug,
)
from rooms.models.reactions import clean_emoji
from rooms.models.rooms import read_states

MAX_DM_PEOPLE = 8
HISTORY_PAGE_DEFAULT = 50
HISTORY_PAGE_MAX = 200
# The largest id the databases store (a signed 64-bit integer): larger ones are no message.
MAX_ID = 2**63 - 1
POST_MESSAGE_FIELDS = ("body", "client_id", "attachments", "reply_to")


# Slugs no room may take: the site's own words. A private room's slug is "not available" to
# those who cannot see the room, in the same words, so a 409 does not tell them it exists.
RESERVED_ROOM_SLUGS = frozenset(
    {"about", "accounts", "admin", "api", "events", "help", "login", "logout", "members"}
    | {"moderators", "new", "rooms", "settings", "signup", "static", "staff", "support"}
)
SLUG_NOT_AVAILABLE = "this slug is not available"


@require_http_methods(["GET", "POST"])
@answers_forms(done="room", back="lobby", failure="The room was not created")
@json_endpoint(fields={"POST": ("slug", "name", "private")})
@limits.rate_limited(limits.ROOMS, limits.ROOMS_PER_ADDRESS)
def rooms_collection(request: AuthenticatedRequest) -> JsonResponse:
    if request.method == "GET":
        return JsonResponse({"rooms": _rooms_of(request.user)})

    payload = read_payload(request)
    slug = string_field(payload, "slug").strip()
    name = string_field(payload, "name").strip() or slug
    private = bool_field(payload, "private")
    if not slug:
        raise BadRequest("slug is required")
    if len(slug) > 50:
        raise BadRequest("slug is longer than 50 characters")
    validate_room_slug(slug)
    if len(name) > MAX_ROOM_NAME_LENGTH:
        raise BadRequest(f"name is longer than {MAX_ROOM_NAME_LENGTH} characters")
    if has_hidden_characters(name):
        raise BadRequest("name must not contain control or invisible formatting characters")
    if slug in RESERVED_ROOM_SLUGS:
        return json_error(409, SLUG_NOT_AVAILABLE)
    try:
        room = Room.objects.create_with_owner(request.user, slug=slug, name=name, private=private)
    except IntegrityError:
        taken = Room.objects.filter(slug=slug).first()
        if taken is not None and not taken.can_read(request.user) and taken.private:
            # The same answer as a reserved slug: a private room stays indistinguishable.
            return json_error(409, SLUG_NOT_AVAILABLE)
        return json_error(409, "a room with this slug already exists")
    return JsonResponse(room.as_data(True), status=201)


def _rooms_of(user: Any) -> list[dict[str, Any]]:
    """Every room the user may see, and where they stand in those they are a member of.

    Three queries whatever the number of rooms: the rooms, the read states (read_states),
    and the people of the user's DMs.
    """
    rooms = list(Room.objects.visible_to(user).select_related("owner"))
    states = read_states(user)
    people: dict[int, list[str]] = {}
    dms = [room.pk for room in rooms if room.is_dm]
    if dms:
        for room_id, username in (
            Membership.objects.filter(room__in=dms)
            .order_by("user__username")
            .values_list("room_id", "user__username")
        ):
            people.setdefault(room_id, []).append(username)
    listed = []
    for room in rooms:
        state = states.get(room.pk)
        data = room.as_data(state is not None, people.get(room.pk))
        if state is not None:
            data.update(state._asdict())
        listed.append(data)
    return listed


@require_POST
@json_endpoint(fields={"POST": ("usernames",)})
@limits.rate_limited(limits.DMS)
def direct_messages(request: AuthenticatedRequest) -> JsonResponse:
    """POST /dms/ {"usernames": [...]}: the DM with exactly these people (1 to 8 others),
    201 if it is new, 200 if it existed."""
    usernames = read_payload(request).get("usernames")
    if not isinstance(usernames, list) or not all(isinstance(name, str) for name in usernames):
        raise BadRequest("usernames must be a list of usernames")
    wanted = {name.strip() for name in usernames if name.strip()}
    wanted.discard(request.user.get_username())
    if not wanted:
        raise BadRequest("name at least one other person")
    if len(wanted) > MAX_DM_PEOPLE:
        raise BadRequest(f"a direct message is with at most {MAX_DM_PEOPLE} other people")
    found = list(get_user_model().objects.filter(username__in=wanted, is_active=True))
    unknown = sorted(wanted - {user.get_username() for user in found})
    if unknown:
        raise BadRequest(f"no such user: {', '.join(unknown)}")
    room, created = Room.objects.direct_message(request.user, found)
    data = room.as_data(True)
    data.update(read_states(request.user, room.pk)[room.pk]._asdict())
    return JsonResponse(data, status=201 if created else 200)


@require_POST
@json_endpoint(fields={"POST": ("up_to",)})
@limits.rate_limited(limits.READ_MARKS)
def mark_read(request: AuthenticatedRequest, slug: str) -> JsonResponse:
    """POST /rooms/<slug>/read/ {"up_to": <message id>}: move the read position forward."""
    room = readable_room(request, slug)
    up_to = int_field(read_payload(request), "up_to")
    if up_to is None:
        raise BadRequest("up_to is required")
    state = room.mark_read(request.user, up_to)
    return JsonResponse({"room": room.slug, **state._asdict()})


@require_POST
@answers_forms(done="room", back="room", failure="Your choice was not saved")
@json_endpoint(fields={"POST": ("level",)})
@limits.rate_limited(limits.ACTIONS)
def notification_level(request: AuthenticatedRequest, slug: str) -> JsonResponse:
    """POST /rooms/<slug>/notifications/ {"level": "default" | "all" | "mentions" | "mute"}:
    what the member is told about in this room."""
    room = readable_room(request, slug)
    level = string_field(read_payload(request), "level").strip()
    if level not in NotifyLevel.values:
        raise BadRequest(f"level must be one of {', '.join(NotifyLevel.values)}")
    state = room.set_notify_level(request.user, level)
    return JsonResponse({"room": room.slug, **state._asdict()})


@require_POST
@answers_forms(done="room", back="room", failure="You did not join the room")
@json_endpoint()
@limits.rate_limited(limits.MEMBERSHIP_CHANGES)
def join_room(request: AuthenticatedRequest, slug: str) -> JsonResponse:
    room = readable_room(request, slug)  # a private room is only visible to members
    # A muted person may leave, once: joining again while muted would be a way to write
    # events (member_joined, member_left) for every open page of the room.
    if not room.is_member(request.user) and room.restriction_for(request.user, Restriction.MUTE):
        raise PermissionDenied("you are muted in this room")
    _, created = room.add_member(request.user)
    return JsonResponse(room.as_data(True), status=201 if created else 200)


@require_POST
@answers_forms(done="room", back="room-members-page", failure="You did not leave the room")
@json_endpoint()
@limits.rate_limited(limits.MEMBERSHIP_CHANGES)
def leave_room(request: AuthenticatedRequest, slug: str) -> JsonResponse:
    room = readable_room(request, slug)
    if room.owner_id == request.user.pk:
        return json_error(409, "the owner cannot leave their own room")
    room.remove_member(request.user)
    return JsonResponse(room.as_data(False))


@require_http_methods(["GET", "POST"])
@answers_forms(done="room-members-page", back="room-members-page", failure="Nobody was added")
@json_endpoint(fields={"POST": ("username",)})
@limits.rate_limited(limits.ACTIONS)
def room_members(request: AuthenticatedRequest, slug: str) -> JsonResponse:
    room = readable_room(request, slug)
    if request.method == "GET":
        members = room.memberships.select_related("user").order_by("user__username")
        return JsonResponse(
            {"members": [{"username": m.user.get_username(), "role": m.role} for m in members]}
        )
    if room.is_dm:
        return json_error(409, "nobody can be added to a direct message: start a new one")
    if room.owner_id != request.user.pk:
        raise PermissionDenied("only the room's owner can add members")
    user = active_user(read_payload(request).get("username"))
    membership, created = room.add_member(user)
    return JsonResponse(
        {"username": user.get_username(), "role": membership.role}, status=201 if created else 200
    )


@require_POST
@json_endpoint()
def typing(request: AuthenticatedRequest, slug: str) -> HttpResponse:
    """POST /rooms/<slug>/typing/: tell the room's readers that one is typing (204).

    Whoever may write there (Room.check_can_write), once per CHAT_TYPING_INTERVAL_SECONDS
    (429 otherwise, and nothing is published). Nothing is published for a person who does
    not share their presence; the answer is the same.
    """
    room = readable_room(request, slug)
    room.check_can_write(request.user)
    limits.check_typing_interval(room, request.user)
    presence.signal_typing(room, request.user)
    return HttpResponse(status=204)


@require_http_methods(["GET", "POST"])
@json_endpoint(fields={"POST": ("tab", "here")})
@limits.rate_limited(limits.PRESENCE_REPORTS)
def room_presence(request: AuthenticatedRequest, slug: str) -> JsonResponse:
    """GET /rooms/<slug>/presence/: who is here now and who was recently.

    POST {"tab": <the page's id>, "here": true}: this page shows the room (a heartbeat);
    "here": false: it goes away. Answers the list, as GET does. See rooms/presence.py.
    """
    room = readable_room(request, slug)
    if request.method == "GET":
        return JsonResponse(presence.people_here(room))
    payload = read_payload(request)
    tab = string_field(payload, "tab")
    if not presence.TAB_ID.fullmatch(tab):
        raise BadRequest("tab must be 1 to 64 letters, digits, - or _")
    here = bool_field(payload, "here") if "here" in payload else True
    return JsonResponse(presence.report(room, request.user, tab, here))


@require_http_methods(["GET", "POST"])
async def room_messages(request: HttpRequest, slug: str) -> HttpResponseBase:
    """GET: a page of history. POST: a new message, through the process's writer.

    A post needs no thread of its own: its checks and its write run in the writer's thread,
    on the writer's connection, in a transaction with the other posts that wait
    (rooms/writer.py). A browser's own form post goes the sync way, which answers it with
    a page (answers_forms), as does every GET.
    """
    if request.method == "POST" and not is_browser_form(request):
        return await _post_message_through_writer(request, slug)
    return await sync_to_async(_room_messages, thread_sensitive=True)(request, slug=slug)


async def _post_message_through_writer(request: HttpRequest, slug: str) -> HttpResponseBase:
    # json_endpoint's order: 401 first, then a bad body, then the room. The body is read
    # here (it is in memory already), the rest is the writer's (it needs the database).
    try:
        payload: Payload | BadRequest = read_payload(request, frozenset(POST_MESSAGE_FIELDS))
    except BadRequest as exc:
        payload = exc
    try:
        data, created = await writer.write(functools.partial(_write_post, request, slug, payload))
    except NotLoggedIn:
        return json_error(401, "authentication required")
    except REFUSALS as exc:
        return refusal(exc)
    response = JsonResponse(data, status=201)
    if not created:
        response["Idempotent-Replayed"] = "true"
    return response


class NotLoggedIn(Exception):
    pass


def _write_post(
    request: HttpRequest, slug: str, payload: Payload | BadRequest
) -> tuple[dict[str, Any], bool]:
    """In the writer's thread: who posts (the session), where, and the post itself."""
    if not request.user.is_authenticated:
        raise NotLoggedIn
    if isinstance(payload, BadRequest):
        raise payload
    room = readable_room(request, slug, for_writer=True)
    message, created = _post_message(request, room, payload)
    if message.room_id != room.pk:
        raise NotAllowed("client_id was already used for a message in another room", status=409)
    return message.as_event_data(), created


@answers_forms(done="room", back="room", failure="Your message was not sent")
@json_endpoint(fields={"POST": POST_MESSAGE_FIELDS})
def _room_messages(request: AuthenticatedRequest, slug: str) -> JsonResponse:
    room = readable_room(request, slug)
    if request.method == "POST":
        message, created = _post_message(request, room, read_payload(request))
        if message.room_id != room.pk:
            return json_error(409, "client_id was already used for a message in another room")
        response = JsonResponse(message.as_event_data(), status=201)
        if not created:
            response["Idempotent-Replayed"] = "true"
        return response

    before = int_param(request, "before")
    after = int_param(request, "after")
    around = int_param(request, "around")
    limit = int_param(request, "limit", HISTORY_PAGE_DEFAULT)
    assert limit is not None
    if sum(cursor is not None for cursor in (before, after, around)) > 1:
        raise BadRequest("give one of before, after and around")
    if not 1 <= limit <= HISTORY_PAGE_MAX:
        raise BadRequest(f"limit must be between 1 and {HISTORY_PAGE_MAX}")
    if around is not None:
        message = find_message(room, around)
        last_event_id = room.current_event_seq()  # before the history, as below
        page, has_more, has_newer = history_around(room, message.pk, limit)
        return JsonResponse(
            {
                "messages": [message.as_event_data() for message in page],
                "has_more": has_more,
                "has_newer": has_newer,
                # The same two, named for both directions (the mentions inbox's links).
                "has_more_before": has_more,
                "has_more_after": has_newer,
                "last_event_id": last_event_id,
            }
        )

    # Read before the history, like the page does: the stream resumes from it.
    last_event_id = room.current_event_seq()
    messages = Message.objects.filter(room=room).for_display()
    if after is not None:
        page = list(messages.filter(id__gt=after).order_by("id")[: limit + 1])
        has_more = len(page) > limit
        page = page[:limit]
    else:
        if before is not None:
            messages = messages.filter(id__lt=before)
        page = list(messages.order_by("-id")[: limit + 1])
        has_more = len(page) > limit
        page = page[:limit]
        page.reverse()
    return JsonResponse(
        {
            "messages": [message.as_event_data() for message in page],
            "has_more": has_more,
            "last_event_id": last_event_id,
        }
    )


def history_around(room: Room, message_id: int, limit: int) -> tuple[list[Message], bool, bool]:
    """A page of `limit` messages with the message `message_id` in its middle (a search
    result opened in its room), oldest first; whether older ones and newer ones exist."""
    messages = Message.objects.filter(room=room).for_display()
    older_count = (limit + 1) // 2  # the message itself among them
    newer_count = limit - older_count
    older = list(messages.filter(id__lte=message_id).order_by("-id")[: older_count + 1])
    newer = list(messages.filter(id__gt=message_id).order_by("id")[: newer_count + 1])
    page = older[:older_count][::-1] + newer[:newer_count]
    return page, len(older) > older_count, len(newer) > newer_count


room_messages.payload_fields = _room_messages.payload_fields  # type: ignore[attr-defined]


def _post_message(request: HttpRequest, room: Room, payload: Payload) -> tuple[Message, bool]:
    attachments = attachment_ids(payload)
    body = payload.get("body", "" if attachments else None)
    if body is None:
        raise BadRequest("body is required")
    client_id = string_field(payload, "client_id").strip()
    if client_id:
        validate_client_id(client_id)
    reply_to = int_field(payload, "reply_to")
    if reply_to is not None and not 1 <= reply_to <= MAX_ID:
        raise BadRequest("reply_to is not a message of this room")
    return room.post_message(request.user, body, client_id, attachments, reply_to)


@require_http_methods(["GET", "PATCH", "DELETE"])
@json_endpoint(fields={"PATCH": ("body",)})
@limits.rate_limited(limits.EDITS, methods=("PATCH", "DELETE"))
def room_message(request: AuthenticatedRequest, slug: str, message_id: int) -> JsonResponse:
    room = readable_room(request, slug)
    message = find_message(room, message_id)
    if request.method == "GET":
        return JsonResponse(message.as_event_data())
    message.check_author_can_change(request.user)
    if request.method == "PATCH":
        body = read_payload(request).get("body")
        if body is None:
            raise BadRequest("body is required")
        clean_message_body(body)
        limits.check_slow_mode_edit(room, request.user)
        message.edit(body)
        return JsonResponse(message.as_event_data())
    message.erase()
    return JsonResponse(message.as_event_data())


@require_http_methods(["POST", "DELETE"])
@json_endpoint(fields={"POST": ("emoji",), "DELETE": ("emoji",)})
@limits.rate_limited(limits.REACTIONS, methods=("POST", "DELETE"))
def message_reactions(request: AuthenticatedRequest, slug: str, message_id: int) -> JsonResponse:
    """POST (add) or DELETE (take back) one's reaction {"emoji": "👍"}: answers the message.

    Reacting is writing: the room's one write rule decides, with the codes a post gets.
    """
    room = readable_room(request, slug)
    message = find_message(room, message_id)
    emoji = clean_emoji(read_payload(request).get("emoji"))
    if emoji is None:
        raise BadRequest("emoji must be one emoji, or a short name such as +1 or heart")
    room.check_can_write(request.user)
    if message.is_tombstone:
        raise NotAllowed("the message was deleted or removed", status=409)
    added = message.set_reaction(request.user, emoji, present=request.method == "POST")
    created = added and request.method == "POST"
    return JsonResponse(message.as_event_data(), status=201 if created else 200)


@require_http_methods(["POST", "DELETE"])
@json_endpoint()
@limits.rate_limited(limits.ACTIONS, methods=("POST", "DELETE"))
def message_pin(request: AuthenticatedRequest, slug: str, message_id: int) -> JsonResponse:
    """POST pins a message, DELETE unpins it: the room's owner and moderators."""
    room = readable_room(request, slug)
    if not room.can_moderate(request.user):
        raise PermissionDenied("only the room's moderators pin messages")
    message = find_message(room, message_id)
    message.set_pinned(request.user, request.method == "POST")
    return JsonResponse(message.as_event_data())
