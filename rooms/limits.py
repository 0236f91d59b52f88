"""Rate limits on what people do, other than posting (Room.check_can_post counts posts in
the database, under the room's lock).

Counts live in Django's cache: Redis when REDIS_URL is set, so that every process counts
against the same numbers, and this process's memory otherwise (then there is one process:
in-process fan-out cannot serve several). A count is kept per fixed window (a minute, an
hour) and only successful requests count, so a mistyped form or a 409 costs nothing. A
limit of 0 turns it off. While the cache cannot be reached (Redis restarting) nothing is
limited: a limit must not turn an outage into one of its own.

LIMITATION: the windows are fixed, so up to twice a limit fits around a window's end; and
the check comes before the view and the count after it, so requests running at the same
moment in different processes can each pass (sync views run one at a time per process).
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.template.response import TemplateResponse

from rooms import metrics
from rooms.models import NotAllowed

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponseBase]


def client_address(request: HttpRequest) -> str:
    """The client's address as the trusted proxy saw it: the same one the login lockout uses."""
    return get_client_ip_address(request) or "unknown"


@dataclass(frozen=True)
class Limit:
    """At most `settings.<setting>` successful requests per `per` (person, person and room,
    or client address) per window."""

    setting: str
    window_secs: int
    what: str  # "edits", as in "too many edits: at most 30 a minute"
    per: Literal["person", "person in room", "address", "hook"]

    @property
    def allowed(self) -> int:
        return int(getattr(settings, self.setting))

    def key(self, request: HttpRequest, kwargs: dict[str, Any], now: float) -> str:
        if self.per == "address":
            who = client_address(request)
        elif self.per == "hook":
            who = str(kwargs["hook_id"])
        elif self.per == "person in room":
            who = f"{request.user.pk}:{kwargs['slug']}"
        else:
            who = str(request.user.pk)
        return f"limit:{self.setting}:{who}:{int(now // self.window_secs)}"

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil((now // self.window_secs + 1) * self.window_secs - now))

    def describe(self) -> str:
        window = {60: "a minute", 3600: "an hour"}.get(self.window_secs, f"{self.window_secs} s")
        who = {"address": "from this address", "hook": "per webhook"}.get(self.per, "per person")
        where = " in this room" if self.per == "person in room" else ""
        return f"at most {self.allowed} {who}{where} {window}"


EDITS = Limit("CHAT_EDITS_PER_MINUTE", 60, "edits and deletions", "person")
MEMBERSHIP_CHANGES = Limit(
    "CHAT_MEMBERSHIP_CHANGES_PER_HOUR", 3600, "joins and leaves", "person in room"
)
ACTIONS = Limit("CHAT_ACTIONS_PER_MINUTE", 60, "actions", "person")
UPLOADS = Limit("CHAT_UPLOADS_PER_HOUR", 3600, "uploads", "person")
ROOMS = Limit("CHAT_ROOMS_PER_HOUR", 3600, "new rooms", "person")
ROOMS_PER_ADDRESS = Limit("CHAT_ROOMS_PER_HOUR_PER_ADDRESS", 3600, "new rooms", "address")
SIGNUPS = Limit("CHAT_SIGNUPS_PER_HOUR", 3600, "sign-ups", "address")
PASSWORD_RESETS = Limit("CHAT_PASSWORD_RESETS_PER_HOUR", 3600, "password reset requests", "address")
READ_MARKS = Limit("CHAT_READ_MARKS_PER_MINUTE", 60, "read marks", "person")
DMS = Limit("CHAT_DMS_PER_HOUR", 3600, "direct messages started", "person")
# A download of one's own data reads all of their messages: a few an hour is plenty.
EXPORTS = Limit("CHAT_EXPORTS_PER_HOUR", 3600, "downloads of your data", "person")
PRESENCE_REPORTS = Limit("CHAT_PRESENCE_REPORTS_PER_MINUTE", 60, "presence reports", "person")
HOOK_POSTS = Limit("CHAT_HOOK_POSTS_PER_MINUTE", 60, "webhook posts", "hook")
REACTIONS = Limit("CHAT_REACTIONS_PER_MINUTE", 60, "reactions", "person")
ALL_LIMITS = (
    PRESENCE_REPORTS,
    HOOK_POSTS,
    REACTIONS,
    EDITS,
    READ_MARKS,
    DMS,
    EXPORTS,
    MEMBERSHIP_CHANGES,
    ACTIONS,
    UPLOADS,
    ROOMS,
    ROOMS_PER_ADDRESS,
    SIGNUPS,
    PASSWORD_RESETS,
)


def too_many_requests(request: HttpRequest, message: str, retry_after: int) -> HttpResponseBase:
    """429 with Retry-After: a page for a browser's form, JSON for everything else."""
    response: HttpResponseBase
    if "text/html" in request.headers.get("Accept", ""):
        response = TemplateResponse(
            request, "too_many_requests.html", {"message": message}, status=429
        )
    else:
        response = JsonResponse({"error": message}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def _cache_call(method: str, *args: Any) -> Any:
    try:
        return getattr(cache, method)(*args)
    except Exception:
        metrics.REDIS_ERRORS.labels("cache").inc()
        logger.warning("rate limits are off: the cache is unavailable", exc_info=True)
        return None


def _count(key: str, timeout_secs: int) -> None:
    try:
        if not cache.add(key, 1, timeout_secs):
            cache.incr(key)
    except ValueError:  # expired between add and incr: a new window
        _cache_call("add", key, 1, timeout_secs)
    except Exception:
        metrics.REDIS_ERRORS.labels("cache").inc()
        logger.warning("rate limits are off: the cache is unavailable", exc_info=True)


def check_slow_mode_edit(room: Any, user: Any) -> None:
    """In slow mode an edit waits like a post does (moderators excepted): one per
    slow_mode_seconds, on a clock of its own, so that a post and one fix of it both go."""
    seconds = room.slow_mode_seconds
    if not seconds or room.can_moderate(user):
        return
    key = f"slow-edit:{room.pk}:{user.pk}"
    now = time.time()
    if _cache_call("add", key, now, seconds) is False:
        last = _cache_call("get", key) or now
        wait = max(1, math.ceil(seconds - (now - last)))
        raise NotAllowed(f"slow mode: wait {wait} more seconds", status=429, retry_after=wait)


def check_typing_interval(room: Any, user: Any) -> None:
    """One typing signal per person and room per CHAT_TYPING_INTERVAL_SECONDS; a sooner one is
    429 (and is never published). A clock of its own per room, like slow mode's, rather than a
    fixed window, which would let two through around a window's end."""
    seconds = settings.CHAT_TYPING_INTERVAL_SECONDS
    if not seconds:
        return
    key = f"typing:{room.pk}:{user.pk}"
    now = time.time()
    if _cache_call("add", key, now, seconds) is False:
        last = _cache_call("get", key) or now
        wait = max(1, math.ceil(seconds - (now - last)))
        raise NotAllowed(
            f"too many typing signals: at most one per {seconds} seconds; wait {wait} seconds",
            status=429,
            retry_after=wait,
        )


def rate_limited(
    *limits: Limit,
    methods: tuple[str, ...] = ("POST",),
    counts: Callable[[HttpResponseBase], bool] = lambda response: response.status_code < 400,
) -> Callable[[View], View]:
    """Refuse a request with 429 once one of the limits is reached; count it if it succeeds.

    Only `methods` are limited (GET never is). `counts` says which answers count.
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in methods:
                return view(request, *args, **kwargs)
            now = time.time()
            active = [limit for limit in limits if limit.allowed > 0]
            keys = [limit.key(request, kwargs, now) for limit in active]
            counted = _cache_call("get_many", keys) or {}
            for limit, key in zip(active, keys, strict=True):
                if counted.get(key, 0) >= limit.allowed:
                    seconds = limit.retry_after(now)
                    message = f"too many {limit.what}: {limit.describe()}; wait {seconds} seconds"
                    return too_many_requests(request, message, seconds)
            response = view(request, *args, **kwargs)
            if counts(response):
                for limit, key in zip(active, keys, strict=True):
                    _count(key, limit.window_secs + 1)
            return response

        limited = dict(getattr(view, "rate_limits", {}))
        for method in methods:
            limited[method] = limited.get(method, ()) + limits
        wrapper.rate_limits = limited  # type: ignore[attr-defined]
        return wrapper

    return decorate
