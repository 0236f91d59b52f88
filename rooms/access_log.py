"""One log line per request and per stream, and the request and stream metrics.

Requests: RequestLogASGIMiddleware wraps Django's application (chatsite/asgi.py) and times
each request from its arrival at the process to the end of its answer, then logs
`request method=... path=... view=... status=... duration_ms=... user=... addr=...` and
counts it (rooms/metrics.py). RequestLogMiddleware, first in settings.MIDDLEWARE, hands it
what only Django knows: the view, the user (only if the request looked them up: the log
never costs a query) and the client's address as the trusted proxy saw it.

Streams: the consumer makes a StreamRecord once a stream is open (`stream opened`) and
closes it when the stream ends (`stream closed`, with its duration, the events it sent and
why it ended); an error answer is `stream refused`.

/healthz, /readyz and /metrics are not logged: probes every few seconds would drown the rest.
Never logged: message text, request bodies, query strings, cookies or any other header, and
the path of a URL that carries a secret (a password reset link's token: its route instead).
"""

from __future__ import annotations

import io
import logging
import time
from typing import Any

from axes.helpers import get_client_ip_address
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import SimpleLazyObject, empty

from rooms import metrics
from rooms.middleware import BothModesMiddleware, HTTPMiddleware

logger = logging.getLogger("rooms.access")

# Where RequestLogMiddleware leaves its part for RequestLogASGIMiddleware, in the ASGI scope.
SCOPE_KEY = "chat.request_log"
# URL arguments that are secrets: a path with one is logged as its route.
SECRET_URL_KWARGS = frozenset({"token", "uidb64", "secret"})
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _known_user(request: HttpRequest) -> Any | None:
    """The request's user if something already looked them up, else None (no query)."""
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        user = user.__dict__.get("_wrapped", empty)
        if user is empty:
            return None
    return user if getattr(user, "is_authenticated", False) else None


def _user_fields(user: Any | None) -> dict[str, Any]:
    if user is None:
        return {"user": None, "user_id": None}
    return {"user": user.get_username(), "user_id": user.pk}


def client_address(request: HttpRequest) -> str:
    """As rooms.limits.client_address: the address the trusted proxy saw."""
    return get_client_ip_address(request) or "unknown"


def scope_address(scope: dict[str, Any]) -> str:
    return client_address(ASGIRequest(scope, io.BytesIO()))


class RequestLogMiddleware(BothModesMiddleware):
    """Note the view, the user and the address for RequestLogASGIMiddleware's line."""

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        scope = getattr(request, "scope", None)  # None outside ASGI (Django's test client)
        if scope is not None:
            match = request.resolver_match
            path = request.path
            if match is not None and SECRET_URL_KWARGS & match.kwargs.keys():
                path = "/" + match.route
            scope[SCOPE_KEY] = {
                "path": path,
                "view": match.view_name if match is not None else "none",
                **_user_fields(_known_user(request)),
                "addr": client_address(request),
            }
        return response


class RequestLogASGIMiddleware(HTTPMiddleware):
    """Around Django's application: time, count and log every request once it is answered."""

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.monotonic()
        status = 0

        async def watching_send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        finally:
            log_request(scope, status, time.monotonic() - started)


def log_request(scope: dict[str, Any], status: int, seconds: float) -> None:
    method = scope.get("method", "")
    method = method if method in METHODS else "other"
    noted = scope.get(SCOPE_KEY) or {"path": None, "view": "none", "user": None, "user_id": None}
    metrics.HTTP_REQUESTS.labels(method, noted["view"], str(status)).inc()
    metrics.HTTP_REQUEST_SECONDS.labels(method, noted["view"]).observe(seconds)
    fields = {
        "method": method,
        "path": noted["path"],
        "view": noted["view"],
        "status": status,
        "duration_ms": round(seconds * 1000, 1),
        **{key: value for key, value in noted.items() if key not in ("path", "view")},
    }
    logger.info("request", extra={"fields": fields})


class StreamRecord:
    """One open event stream: its two log lines and the stream metrics."""

    def __init__(self, scope: dict[str, Any], user: Any, room: str) -> None:
        self.started = time.monotonic()
        self.events = 0
        self.fields = {"room": room, **_user_fields(user), "addr": scope_address(scope)}
        metrics.STREAMS_OPENED.inc()
        metrics.STREAMS_OPEN.inc()
        logger.info("stream opened", extra={"fields": self.fields})

    def replayed(self, count: int, source: str) -> None:
        """`count` events of a replay were sent, from `source` (memory or log)."""
        self.events += count
        metrics.EVENTS_REPLAYED.labels(source).inc(count)

    def closed(self, reason: str) -> None:
        metrics.STREAMS_OPEN.dec()
        metrics.STREAMS_CLOSED.labels(reason).inc()
        seconds = round(time.monotonic() - self.started, 3)
        fields = {**self.fields, "duration_s": seconds, "events": self.events, "reason": reason}
        logger.info("stream closed", extra={"fields": fields})


def stream_refused(scope: dict[str, Any], room: str, status: int) -> None:
    metrics.STREAMS_REFUSED.labels(str(status)).inc()
    user = scope.get("user")
    fields = {
        "room": room,
        **_user_fields(user if getattr(user, "is_authenticated", False) else None),
        "addr": scope_address(scope),
        "status": status,
    }
    logger.info("stream refused", extra={"fields": fields})
