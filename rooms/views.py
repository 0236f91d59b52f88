"""Pages and the small JSON endpoints. The stream itself lives in rooms/streaming.py."""

from __future__ import annotations

import functools
import json
import logging
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm, UserCreationForm
from django.contrib.auth.models import User
from django.contrib.auth.validators import ASCIIUsernameValidator
from django.contrib.auth.views import redirect_to_login
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
)
from django.shortcuts import redirect, render
from django.template import loader
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rooms import limits, moderation, signals
from rooms.models import (
    MAX_MESSAGE_LENGTH,
    MAX_REASON_LENGTH,
    MAX_ROOM_NAME_LENGTH,
    MAX_SLOW_MODE_SECONDS,
    Access,
    Message,
    ModerationAction,
    NotAllowed,
    Restriction,
    Room,
    clean_message_body,
    validate_client_id,
    validate_room_slug,
)

logger = logging.getLogger(__name__)

HISTORY_PAGE_DEFAULT = 50
HISTORY_PAGE_MAX = 200

View = Callable[..., HttpResponseBase]


class AuthenticatedRequest(HttpRequest):
    user: User


class BadRequest(Exception):
    """Bad input: answered with 400 and the message."""


def json_error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def json_endpoint(view: View) -> View:
    """Require a logged-in user (401, not a redirect) and answer every failure in JSON."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return json_error(401, "authentication required")
        try:
            if request.method not in ("GET", "HEAD"):
                # Every write's body is checked (fields, depth, text) before anything else, so
                # that a bad one is the same 400 whatever room it names.
                _read_payload(request)
            return view(request, *args, **kwargs)
        except Http404 as exc:
            return json_error(404, str(exc) or "not found")
        except PermissionDenied as exc:
            return json_error(403, str(exc) or "forbidden")
        except (BadRequest, ValidationError) as exc:
            message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            return json_error(400, message)
        except NotAllowed as exc:
            response = json_error(exc.status, str(exc))
            if exc.retry_after is not None:
                response["Retry-After"] = str(exc.retry_after)
            return response

    return wrapper


def answers_forms(done: str, back: str, failure: str) -> Callable[[View], View]:
    """Let a page's form work without JavaScript: answer a browser's own form post (a
    form-encoded body, Accept with text/html, no X-Requested-With or JSON Accept) with a 303
    to the page `done` once it worked, else to the page `back` with "<failure>: <error>." in
    Django's messages. `done` and `back` are URL names of the room's pages (the slug is the
    URL's, or the answer's for a new room) or "lobby". Every other client gets the JSON.

    Goes outside json_endpoint and the rate limit: those see and count the JSON answer."""

    def page(name: str, slug: str | None) -> str:
        return reverse(name, args=[slug]) if name != "lobby" and slug else reverse("lobby")

    def readable_page(request: HttpRequest, name: str, slug: str | None) -> str:
        # A room the person cannot read (any more) would be a 404 or 403 page: the lobby.
        room = Room.objects.filter(slug=slug).first() if slug else None
        return (
            page(name, slug)
            if room is not None and room.can_read(request.user)
            else page("lobby", None)
        )

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            response = view(request, *args, **kwargs)
            accept = request.headers.get("Accept", "")
            browser_form = (
                request.method == "POST"
                and request.content_type
                in ("application/x-www-form-urlencoded", "multipart/form-data")
                and "text/html" in accept
                and "application/json" not in accept
                and "X-Requested-With" not in request.headers
            )
            if not browser_form or not isinstance(response, JsonResponse):
                return response  # a 429 page for a browser's form is already a page
            answer = json.loads(response.content)
            slug = kwargs.get("slug") or answer.get("slug")
            if response.status_code == 401:
                return redirect_to_login(page(back, slug))
            if response.status_code >= 400:
                messages.error(request, f"{failure}: {answer.get('error', 'refused')}.")
            target = back if response.status_code >= 400 else done
            return HttpResponseRedirect(readable_page(request, target, slug), status=303)

        return wrapper

    return decorate


# The fields each JSON endpoint knows, by URL name and method: any other field in a body is
# a 400 that names it (a misspelt field would otherwise change nothing and answer 200).
# Forms may carry the CSRF token besides. An endpoint missing here knows no field at all.
PAYLOAD_FIELDS: dict[tuple[str, str], frozenset[str]] = {
    ("rooms", "POST"): frozenset({"slug", "name", "private"}),
    ("room-join", "POST"): frozenset(),
    ("room-leave", "POST"): frozenset(),
    ("room-members", "POST"): frozenset({"username"}),
    ("room-messages", "POST"): frozenset({"body", "client_id"}),
    ("room-message", "PATCH"): frozenset({"body"}),
    ("room-message", "DELETE"): frozenset(),
    ("message-remove", "POST"): frozenset({"reason"}),
    ("message-restore", "POST"): frozenset({"reason"}),
    ("message-report", "POST"): frozenset({"reason"}),
    ("room-mute", "POST"): frozenset({"username", "minutes", "reason"}),
    ("room-unmute", "POST"): frozenset({"username", "reason"}),
    ("room-ban", "POST"): frozenset({"username", "minutes", "reason"}),
    ("room-unban", "POST"): frozenset({"username", "reason"}),
    ("room-settings", "POST"): frozenset({"locked", "archived", "slow_mode_seconds", "reason"}),
    ("room-moderators", "POST"): frozenset({"username", "moderator"}),
}
FORM_FIELDS = frozenset({"csrfmiddlewaretoken"})

# Our payloads are flat objects. A deeper document is refused before it is parsed: json.loads
# and the checks below recurse, and thousands of nested brackets exhaust Python's stack.
MAX_JSON_DEPTH = 16
# A string (to the end of the text if it never closes, so that matching stays linear) or a
# bracket.
JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)


def _too_deep(text: str) -> bool:
    """Whether the JSON text nests arrays and objects deeper than MAX_JSON_DEPTH."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return False
    depth = 0
    for match in JSON_TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False


def _read_payload(request: HttpRequest) -> QueryDict | dict[str, Any]:
    """The request's JSON object or form fields, once checked (read once per request)."""
    cached = getattr(request, "_chat_payload", None)
    if cached is not None:
        return cached
    content_type = request.content_type or ""
    if content_type == "application/json":
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("the body is not valid UTF-8") from None
        if _too_deep(text):
            raise BadRequest(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
        try:
            payload = json.loads(text) if text.strip() else {}
        except ValueError:
            raise BadRequest("the body is not valid JSON") from None
        if not isinstance(payload, dict):
            raise BadRequest("the body must be a JSON object")
        form: QueryDict | dict[str, Any] = payload
        known = _known_fields(request)
    else:
        form = (
            request.POST if request.method == "POST" else QueryDict(request.body, encoding="utf-8")
        )
        known = _known_fields(request) | FORM_FIELDS
    if _has_unstorable_text(dict(form.lists()) if isinstance(form, QueryDict) else form):
        raise BadRequest("the body contains NUL characters or invalid Unicode")
    unknown = sorted(set(form) - known)
    if unknown:
        names = ", ".join(repr(name[:40]) for name in unknown[:5])
        raise BadRequest(f"unknown field{'s' if len(unknown) > 1 else ''}: {names}")
    request._chat_payload = form  # type: ignore[attr-defined]
    return form


def _known_fields(request: HttpRequest) -> frozenset[str]:
    url_name = request.resolver_match.url_name if request.resolver_match else None
    return PAYLOAD_FIELDS.get((url_name or "", request.method or ""), frozenset())


# NUL and lone surrogates (JSON may escape them: "\u0000", "\ud800") are not storable text:
# PostgreSQL refuses NUL in text and UTF-8 has no surrogates. Refused for every field at once.
UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")


def _has_unstorable_text(value: object) -> bool:
    if isinstance(value, str):
        return UNSTORABLE_TEXT.search(value) is not None
    if isinstance(value, dict):
        return any(_has_unstorable_text(k) or _has_unstorable_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_unstorable_text(item) for item in value)
    return False


def _string_field(payload: QueryDict | dict[str, Any], name: str, default: str = "") -> str:
    value = payload.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    return value


def _bool_field(payload: QueryDict | dict[str, Any], name: str) -> bool:
    value = payload.get(name, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in (
        "",
        "0",
        "false",
        "off",
        "no",
        "1",
        "true",
        "on",
        "yes",
    ):
        return value.lower() in ("1", "true", "on", "yes")
    raise BadRequest(f"{name} must be true or false")


def _int_param(request: HttpRequest, name: str, default: int | None = None) -> int | None:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise BadRequest(f"{name} must be a non-negative integer")
    return int(raw)


def _get_room_for_user(request: HttpRequest, slug: str) -> Room:
    """The room if the user may read it: 404 if they may not even know it exists (private
    rooms look missing to outsiders), 403 if they are banned from it."""
    room = Room.objects.filter(slug=slug).first()
    access = room.access_for(request.user) if room is not None else Access.HIDDEN
    if access is Access.BANNED:
        raise PermissionDenied("you are banned from this room")
    if room is None or access is not Access.READ:
        raise Http404("no such room")
    return room


def _get_message(room: Room, message_id: int) -> Message:
    message = (
        Message.objects.filter(room=room, pk=message_id).select_related("author", "room").first()
    )
    if message is None:
        raise Http404("no such message")
    return message


def _get_user(username: object) -> User:
    if not isinstance(username, str) or not username.strip():
        raise BadRequest("username is required")
    user = get_user_model().objects.filter(username=username.strip(), is_active=True).first()
    if user is None:
        raise BadRequest("no such user")
    return user


def room_as_data(room: Room, member: bool) -> dict[str, Any]:
    return {
        "slug": room.slug,
        "name": room.name,
        "private": room.private,
        "owner": room.owner.get_username(),
        "member": member,
        **moderation.room_settings(room),
        "url": room.get_absolute_url(),
        "events_url": f"{room.get_absolute_url()}events/",
    }


# Names (rooms, people) are shown to everyone: no character in them may be invisible or
# reorder the text around it. Refused: control characters (C0, DEL, C1, line and paragraph
# separators) and format characters (bidi overrides and isolates, zero-width space, BOM,
# ...), except the zero-width joiner and non-joiner that emoji and some scripts need.
NAME_FORMAT_CHARACTERS_ALLOWED = frozenset("\u200c\u200d")


def has_hidden_characters(name: str) -> bool:
    return any(
        unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp")
        and char not in NAME_FORMAT_CHARACTERS_ALLOWED
        for char in name
    )


class SignUpForm(UserCreationForm[User]):
    """Usernames are ASCII letters, digits and @ . + - _ (a script policy): no one can sign
    up as a look-alike of someone else spelt with letters of another script (a Cyrillic
    letter for a Latin one). Names that differ only in case Django refuses already.

    LIMITATION: look-alikes within ASCII (l and I, 0 and O, rn and m) are not refused."""

    def clean_username(self) -> str:
        username = super().clean_username()
        if username:
            ASCIIUsernameValidator()(username)
        return str(username)


# Pages


@limits.rate_limited(limits.SIGNUPS, counts=lambda response: response.status_code == 302)
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("lobby")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("lobby")
    return render(request, "registration/signup.html", {"form": form})


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
        },
    )


@login_required
def room_page(request: AuthenticatedRequest, slug: str) -> HttpResponse:
    room = _get_room_for_user(request, slug)
    # The id current *before* the history is read: the stream resumes from it, so an
    # event committed between this render and the stream's connect is not lost.
    last_event_id = room.current_event_seq()
    page = list(
        Message.objects.filter(room=room)
        .select_related("author", "room")
        .order_by("-id")[:HISTORY_PAGE_DEFAULT]
    )
    page.reverse()
    return render(
        request,
        "rooms/room.html",
        {
            "room": room,
            "messages_page": page,
            "has_more": len(page) == HISTORY_PAGE_DEFAULT,
            "last_event_id": last_event_id,
            "is_member": room.is_member(request.user),
            "can_moderate": room.can_moderate(request.user),
            "notice": _room_notice(room, request.user),
            "mute": room.restriction_for(request.user, Restriction.MUTE),
            "max_message_length": MAX_MESSAGE_LENGTH,
        },
    )


def _room_notice(room: Room, user: Any) -> str:
    """Why the viewer cannot post right now, if they cannot."""
    try:
        if room.is_member(user):
            room.check_can_post(user)
    except NotAllowed as exc:
        if exc.status == 403:
            return f"You cannot post here: {exc}."
    return ""


@login_required
def members_page(request: AuthenticatedRequest, slug: str) -> HttpResponse:
    room = _get_room_for_user(request, slug)
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


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, in the site's style. The other sessions of the account end
    (their open streams with them); this one stays valid, and so do its open pages."""

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        signals.keep_streams_of_session(form.user, self.request.session)
        # One transaction: the revocation is sent at commit, once Django has given this
        # session its new key, which its streams then go by.
        with transaction.atomic():
            return super().form_valid(form)


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Django's, but a mail that cannot be sent raises (Django's logs it and goes on), and
    all of them go through one mailer, connected before anything is sent."""

    mailer: Any = None

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        body = loader.render_to_string(email_template_name, context)
        message = mail.EmailMultiAlternatives(subject, body, from_email, [to_email])
        if html_email_template_name is not None:
            html = loader.render_to_string(html_email_template_name, context)
            message.attach_alternative(html, "text/html")
        self.mailer.send_messages([message])


MAIL_FAILED = (
    "The email could not be sent: please try again later, and if it keeps failing, tell the "
    "site's administrator."
)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's password reset form, in the site's style, that says so when the mail fails
    (Django's says "sent" whatever happened) and logs why."""

    form_class = PasswordResetForm

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:  # type: ignore[override]
        try:
            # Connect first, whatever the address: a mail server that is down or refuses us
            # fails alike for known and unknown addresses, so the answer does not tell which
            # addresses have an account.
            with mail.mailers.default as mailer:
                form.mailer = mailer
                return super().form_valid(form)
        except OSError as exc:  # smtplib's errors included
            logger.error("password reset: the mail could not be sent: %r", exc)
            form.add_error(None, MAIL_FAILED)
            return self.form_invalid(form)


# How many entries of the moderation log the moderation page shows.
MODERATION_LOG_ON_PAGE = 20


@login_required
def moderation_page(request: AuthenticatedRequest, slug: str) -> HttpResponse:
    """The room's owner and moderators: settings, mutes and bans, moderators, members."""
    room = _get_room_for_user(request, slug)
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


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF failures as JSON for API clients, Django's page for browsers."""
    if "text/html" in request.headers.get("Accept", ""):
        from django.views.csrf import csrf_failure as default_csrf_failure

        return default_csrf_failure(request, reason)
    return json_error(403, f"CSRF check failed: {reason}")


# JSON endpoints


# Slugs no room may take: the site's own words. A private room's slug is "not available" to
# those who cannot see the room, in the same words, so a 409 does not tell them it exists.
RESERVED_ROOM_SLUGS = frozenset(
    {"about", "accounts", "admin", "api", "events", "help", "login", "logout", "members"}
    | {"moderators", "new", "rooms", "settings", "signup", "static", "staff", "support"}
)
SLUG_NOT_AVAILABLE = "this slug is not available"


@require_http_methods(["GET", "POST"])
@answers_forms(done="room", back="lobby", failure="The room was not created")
@json_endpoint
@limits.rate_limited(limits.ROOMS, limits.ROOMS_PER_ADDRESS)
def rooms_collection(request: AuthenticatedRequest) -> JsonResponse:
    if request.method == "GET":
        member_of = set(request.user.memberships.values_list("room_id", flat=True))
        rooms = Room.objects.visible_to(request.user).select_related("owner")
        return JsonResponse({"rooms": [room_as_data(r, r.pk in member_of) for r in rooms]})

    payload = _read_payload(request)
    slug = _string_field(payload, "slug").strip()
    name = _string_field(payload, "name").strip() or slug
    private = _bool_field(payload, "private")
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
    return JsonResponse(room_as_data(room, True), status=201)


@require_POST
@answers_forms(done="room", back="room", failure="You did not join the room")
@json_endpoint
@limits.rate_limited(limits.MEMBERSHIP_CHANGES)
def join_room(request: AuthenticatedRequest, slug: str) -> JsonResponse:
    room = _get_room_for_user(request, slug)  # a private room is only visible to members
    # A muted person may leave, once: joining again while muted would be a way to write
    # events (member_joined, member_left) for every open page of the room.
    if not room.is_member(request.user) and room.restriction_for(request.user, Restriction.MUTE):
        raise PermissionDenied("you are muted in this room")
    _, created = room.add_member(request.user)
    return JsonResponse(room_as_data(room, True), status=201 if created else 200)


@require_POST
@answers_forms(done="room", back="room-members-page", failure="You did not leave the room")
@json_endpoint
@limits.rate_limited(limits.MEMBERSHIP_CHANGES)
def leave_room(request: AuthenticatedRequest, slug: str) -> JsonResponse:
    room = _get_room_for_user(request, slug)
    if room.owner_id == request.user.pk:
        return json_error(409, "the owner cannot leave their own room")
    room.remove_member(request.user)
    return JsonResponse(room_as_data(room, False))


@require_http_methods(["GET", "POST"])
@answers_forms(done="room-members-page", back="room-members-page", failure="Nobody was added")
@json_endpoint
@limits.rate_limited(limits.ACTIONS)
def room_members(request: AuthenticatedRequest, slug: str) -> JsonResponse:
    room = _get_room_for_user(request, slug)
    if request.method == "GET":
        members = room.memberships.select_related("user").order_by("user__username")
        return JsonResponse(
            {"members": [{"username": m.user.get_username(), "role": m.role} for m in members]}
        )
    if room.owner_id != request.user.pk:
        raise PermissionDenied("only the room's owner can add members")
    user = _get_user(_read_payload(request).get("username"))
    membership, created = room.add_member(user)
    return JsonResponse(
        {"username": user.get_username(), "role": membership.role}, status=201 if created else 200
    )


@require_http_methods(["GET", "POST"])
@answers_forms(done="room", back="room", failure="Your message was not sent")
@json_endpoint
def room_messages(request: AuthenticatedRequest, slug: str) -> JsonResponse:
    room = _get_room_for_user(request, slug)
    if request.method == "POST":
        return _post_message(request, room)

    before = _int_param(request, "before")
    after = _int_param(request, "after")
    limit = _int_param(request, "limit", HISTORY_PAGE_DEFAULT)
    assert limit is not None
    if before is not None and after is not None:
        raise BadRequest("give before or after, not both")
    if not 1 <= limit <= HISTORY_PAGE_MAX:
        raise BadRequest(f"limit must be between 1 and {HISTORY_PAGE_MAX}")

    # Read before the history, like the page does: the stream resumes from it.
    last_event_id = room.current_event_seq()
    messages = Message.objects.filter(room=room).select_related("author", "room")
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


def _post_message(request: AuthenticatedRequest, room: Room) -> JsonResponse:
    payload = _read_payload(request)
    body = payload.get("body")
    if body is None:
        raise BadRequest("body is required")
    client_id = _string_field(payload, "client_id").strip()
    if client_id:
        validate_client_id(client_id)
    message, created = room.post_message(request.user, body, client_id)
    if message.room_id != room.pk:
        return json_error(409, "client_id was already used for a message in another room")
    response = JsonResponse(message.as_event_data(), status=201)
    if not created:
        response["Idempotent-Replayed"] = "true"
    return response


@require_http_methods(["DELETE"])
@json_endpoint
@limits.rate_limited(limits.ACTIONS, methods=("DELETE",))
def room_member(request: AuthenticatedRequest, slug: str, username: str) -> JsonResponse:
    """The owner removes a member (Room.remove_member closes their streams of a private room)."""
    room = _get_room_for_user(request, slug)
    if room.owner_id != request.user.pk:
        raise PermissionDenied("only the room's owner can remove members")
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise Http404(f"{username} is not a member of this room")
    moderation.remove_member(request.user, room, user)
    return JsonResponse({"username": user.get_username(), "member": False})


@require_http_methods(["GET", "PATCH", "DELETE"])
@json_endpoint
@limits.rate_limited(limits.EDITS, methods=("PATCH", "DELETE"))
def room_message(request: AuthenticatedRequest, slug: str, message_id: int) -> JsonResponse:
    room = _get_room_for_user(request, slug)
    message = _get_message(room, message_id)
    if request.method == "GET":
        return JsonResponse(message.as_event_data())
    message.check_author_can_change(request.user)
    if request.method == "PATCH":
        body = _read_payload(request).get("body")
        if body is None:
            raise BadRequest("body is required")
        clean_message_body(body)
        limits.check_slow_mode_edit(room, request.user)
        message.edit(body)
        return JsonResponse(message.as_event_data())
    message.erase()
    return JsonResponse(message.as_event_data())


# Moderation: room moderators on the site (the admin has the same actions).


def _payload_int(payload: QueryDict | dict[str, Any], name: str) -> int | None:
    value = payload.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise BadRequest(f"{name} must be an integer")


@require_POST
@json_endpoint
@limits.rate_limited(limits.ACTIONS)
def remove_message(request: AuthenticatedRequest, slug: str, message_id: int) -> JsonResponse:
    room = _get_room_for_user(request, slug)
    message = _get_message(room, message_id)
    moderation.remove_message(request.user, message, _read_payload(request).get("reason"))
    return JsonResponse(message.as_event_data())


@require_POST
@json_endpoint
@limits.rate_limited(limits.ACTIONS)
def restore_message(request: AuthenticatedRequest, slug: str, message_id: int) -> JsonResponse:
    room = _get_room_for_user(request, slug)
    message = _get_message(room, message_id)
    moderation.restore_message(request.user, message, _read_payload(request).get("reason"))
    return JsonResponse(message.as_event_data())


@require_POST
@json_endpoint
@limits.rate_limited(limits.ACTIONS)
def report_message(request: AuthenticatedRequest, slug: str, message_id: int) -> JsonResponse:
    room = _get_room_for_user(request, slug)
    message = _get_message(room, message_id)
    report = moderation.report_message(request.user, message, _read_payload(request).get("reason"))
    return JsonResponse(
        {"id": report.pk, "message": message.pk, "status": report.status}, status=201
    )


def _restriction_view(kind: str, lift: bool) -> View:
    @require_POST
    @json_endpoint
    @limits.rate_limited(limits.ACTIONS)
    def view(request: AuthenticatedRequest, slug: str) -> JsonResponse:
        room = _get_room_for_user(request, slug)
        moderation.require_moderator(room, request.user)
        payload = _read_payload(request)
        user = _get_user(payload.get("username"))
        if lift:
            moderation.lift_restriction(request.user, room, user, kind, payload.get("reason"))
            return JsonResponse({"username": user.get_username(), kind: False})
        restriction = moderation.restrict(
            request.user, room, user, kind, _payload_int(payload, "minutes"), payload.get("reason")
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
@json_endpoint
def room_restrictions(request: AuthenticatedRequest, slug: str) -> JsonResponse:
    """The room's current mutes and bans, for its moderators."""
    room = _get_room_for_user(request, slug)
    moderation.require_moderator(room, request.user)
    return JsonResponse(
        {"restrictions": [restriction_as_data(r) for r in _current_restrictions(room)]}
    )


@require_POST
@json_endpoint
@limits.rate_limited(limits.ACTIONS)
def room_settings(request: AuthenticatedRequest, slug: str) -> JsonResponse:
    room = _get_room_for_user(request, slug)
    moderation.require_moderator(room, request.user)
    payload = _read_payload(request)
    moderation.update_room(
        request.user,
        room,
        locked=_bool_field(payload, "locked") if "locked" in payload else None,
        archived=_bool_field(payload, "archived") if "archived" in payload else None,
        slow_mode_seconds=_payload_int(payload, "slow_mode_seconds"),
        reason=payload.get("reason"),
    )
    return JsonResponse(moderation.room_settings(room))


@require_POST
@json_endpoint
@limits.rate_limited(limits.ACTIONS)
def room_moderators(request: AuthenticatedRequest, slug: str) -> JsonResponse:
    room = _get_room_for_user(request, slug)
    payload = _read_payload(request)
    user = _get_user(payload.get("username"))
    moderator = _bool_field(payload, "moderator") if "moderator" in payload else True
    membership = moderation.set_room_moderator(request.user, room, user, moderator)
    return JsonResponse({"username": user.get_username(), "role": membership.role})
