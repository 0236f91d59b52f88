"""JSON request handling for every endpoint: reading and checking a body, reading fields and
query parameters, finding the room a request may read, and answering errors.

A view declares the fields its body may carry (`json_endpoint(fields=...)`); anything else
is a 400 naming it, before the view runs. Failures raised anywhere below (Http404,
PermissionDenied, BadRequest, ValidationError, NotAllowed) become `{"error": ...}` with the
status that fits.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
)
from django.http.multipartparser import MultiPartParserError
from django.urls import reverse

from rooms.models import MAX_ATTACHMENTS_PER_MESSAGE, Access, Message, NotAllowed, Room, Upload

View = Callable[..., HttpResponseBase]
Payload = QueryDict | dict[str, Any]


class AuthenticatedRequest(HttpRequest):
    user: User


class BadRequest(Exception):
    """Bad input: answered with 400 and the message."""


def json_error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


# A form (rather than JSON) body may carry the CSRF token besides its fields.
FORM_FIELDS = frozenset({"csrfmiddlewaretoken"})


def json_endpoint(
    fields: dict[str, Iterable[str]] | None = None,
) -> Callable[[View], View]:
    """Require a logged-in user (401, not a redirect) and answer every failure in JSON.

    `fields` maps a method to the fields its body may carry; a write method not named there
    takes none. Every write's body is read and checked (fields, depth, text) before the view
    runs, so that a bad one is the same 400 whatever room it names.
    """
    known = {method: frozenset(names) for method, names in (fields or {}).items()}

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return json_error(401, "authentication required")
            try:
                if request.method not in ("GET", "HEAD"):
                    read_payload(request, known.get(request.method or "", frozenset()))
                return view(request, *args, **kwargs)
            except MultiPartParserError as exc:
                return json_error(400, f"the multipart body is not valid: {exc}")
            except REFUSALS as exc:
                return refusal(exc)

        wrapper.payload_fields = known  # type: ignore[attr-defined]
        return wrapper

    return decorate


# What a view (or the writer, for a post) raises to refuse a request: refusal() answers it.
REFUSALS = (Http404, PermissionDenied, BadRequest, ValidationError, NotAllowed)


def refusal(exc: Exception) -> JsonResponse:
    """The JSON answer to one of REFUSALS."""
    if isinstance(exc, Http404):
        return json_error(404, str(exc) or "not found")
    if isinstance(exc, PermissionDenied):
        return json_error(403, str(exc) or "forbidden")
    if isinstance(exc, NotAllowed):
        response = json_error(exc.status, str(exc))
        if exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
        return response
    message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
    return json_error(400, message)


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
            if not is_browser_form(request) or not isinstance(response, JsonResponse):
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


def is_browser_form(request: HttpRequest) -> bool:
    """Whether the request is a browser's own form post (answers_forms answers it with a page)."""
    accept = request.headers.get("Accept", "")
    return (
        request.method == "POST"
        and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data")
        and "text/html" in accept
        and "application/json" not in accept
        and "X-Requested-With" not in request.headers
    )


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


def read_payload(request: HttpRequest, known: frozenset[str] | None = None) -> Payload:
    """The request's JSON object or form fields, once checked (read once per request).

    `known` (given by json_endpoint, the first time) are the fields the endpoint takes.
    """
    cached: Payload | None = getattr(request, "_chat_payload", None)
    if cached is not None:
        return cached
    content_type = request.content_type or ""
    allowed = known or frozenset()
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
        form: Payload = payload
    else:
        form = (
            request.POST if request.method == "POST" else QueryDict(request.body, encoding="utf-8")
        )
        allowed = allowed | FORM_FIELDS
    if _has_unstorable_text(dict(form.lists()) if isinstance(form, QueryDict) else form):
        raise BadRequest("the body contains NUL characters or invalid Unicode")
    unknown = sorted(set(form) - allowed)
    if unknown:
        names = ", ".join(repr(name[:40]) for name in unknown[:5])
        raise BadRequest(f"unknown field{'s' if len(unknown) > 1 else ''}: {names}")
    request._chat_payload = form  # type: ignore[attr-defined]
    return form


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


def string_field(payload: Payload, name: str, default: str = "") -> str:
    value = payload.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    return value


TRUE_WORDS = frozenset({"1", "true", "on", "yes"})
FALSE_WORDS = frozenset({"", "0", "false", "off", "no"})


def bool_field(payload: Payload, name: str) -> bool:
    value = payload.get(name, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in TRUE_WORDS | FALSE_WORDS:
        return value.lower() in TRUE_WORDS
    raise BadRequest(f"{name} must be true or false")


def int_field(payload: Payload, name: str) -> int | None:
    value = payload.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise BadRequest(f"{name} must be an integer")


def attachment_ids(payload: Payload) -> list[int]:
    """A post's `attachments`: upload ids, a JSON list (a form repeats the field)."""
    if isinstance(payload, QueryDict):
        values: object = payload.getlist("attachments")
    else:
        values = payload.get("attachments") or []
    if not isinstance(values, list) or len(values) > MAX_ATTACHMENTS_PER_MESSAGE:
        raise BadRequest(
            f"attachments must be a list of at most {MAX_ATTACHMENTS_PER_MESSAGE} upload ids"
        )
    ids = [int_field({"id": value}, "id") for value in values]
    if None in ids:
        raise BadRequest("attachments must be upload ids")
    return [i for i in ids if i is not None]


def int_param(request: HttpRequest, name: str, default: int | None = None) -> int | None:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise BadRequest(f"{name} must be a non-negative integer")
    return int(raw)


def readable_room(request: HttpRequest, slug: str, *, for_writer: bool = False) -> Room:
    """The room if the user may read it (Room.access_for): 404 if they may not even know it
    exists (private rooms look missing to outsiders), 403 if they are banned from it.

    `for_writer`: read with the user's standing, locked, in one query (a post, in the
    writer's transaction: RoomQuerySet.for_writer)."""
    room = (
        Room.objects.for_writer(slug, request.user)
        if for_writer
        else Room.objects.filter(slug=slug).first()
    )
    access = room.access_for(request.user) if room is not None else Access.HIDDEN
    if access is Access.BANNED:
        raise PermissionDenied("you are banned from this room")
    if room is None or access is not Access.READ:
        raise Http404("no such room")
    return room


def readable_upload(request: HttpRequest, slug: str, key: str) -> Upload:
    """The uploaded file if the user may fetch it now (Upload.may_be_read_by, which asks
    Room.access_for), else 404: to anyone who may not, a file is as good as missing, whether
    they never could, were removed or banned since, or its message is gone."""
    upload = (
        Upload.objects.filter(key=key, room__slug=slug).select_related("room", "message").first()
    )
    if upload is None or not upload.may_be_read_by(request.user):
        raise Http404("no such file")
    return upload


def find_message(room: Room, message_id: int) -> Message:
    message = Message.objects.filter(room=room, pk=message_id).for_display().first()
    if message is None:
        raise Http404("no such message")
    return message


def active_user(username: object) -> User:
    if not isinstance(username, str) or not username.strip():
        raise BadRequest("username is required")
    user = get_user_model().objects.filter(username=username.strip(), is_active=True).first()
    if user is None:
        raise BadRequest("no such user")
    return user
