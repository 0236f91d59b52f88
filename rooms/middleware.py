"""Request-level guards that run around every view.

RequestBodyLimitMiddleware refuses an oversized body with 413 before it is read (the limit
is CHAT_MAX_REQUEST_BYTES, or on the upload path a file's, see body_limit);
RequestBodyLimitASGIMiddleware does the same at the ASGI layer, for every request
(chatsite/server.py stops daphne from reading such a body in the first place).

SecurityHeadersASGIMiddleware puts the headers Django's middleware sets (CSP,
X-Frame-Options, nosniff, Referrer-Policy, HSTS) on answers given outside Django: the
probes'. The streams (rooms/stream/consumer.py) and the refusals of the ASGI layer write
them themselves (security_headers_for): a middleware's send wrapper would be one more call
for every event a stream writes.

DatabaseUnavailableMiddleware answers a database outage with 503, never a 500 page.

Every middleware of settings.MIDDLEWARE runs in both modes, so that an async view (the
message post, rooms/api.py) runs on the event loop with no thread hop: a sync-only
middleware would put the whole chain in a thread, and Django's own (MiddlewareMixin) run
each process_request and process_response in a thread of the request's in async mode. The
subclasses at the end run the hooks of Django's middleware that do no I/O on the loop, and
go to a thread only for the work that may (saving a session, storing messages, rendering
the CSRF failure page). A sync view still gets its one thread, from Django's handler.

While PostgreSQL restarts (or the pool cannot hand out a connection in time), a request
fails with django.db.OperationalError or InterfaceError. That is not a bug in the request:
the client should simply retry, so it gets `503 {"error": "database unavailable, retry"}`
with a Retry-After header. A post that failed this way wrote nothing (its transaction
never committed), and a retry with the same client_id is safe whatever happened.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages import middleware as messages_middleware
from django.contrib.sessions import middleware as sessions_middleware
from django.core.exceptions import RequestDataTooBig
from django.core.signals import setting_changed
from django.db import InterfaceError, OperationalError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.middleware import clickjacking, common, csp, csrf, security
from django.utils.csp import build_policy

from rooms import metrics

logger = logging.getLogger(__name__)

RETRY_AFTER_SECS = 1
DATABASE_UNAVAILABLE = "database unavailable, retry"


def database_unavailable() -> JsonResponse:
    response = JsonResponse({"error": DATABASE_UNAVAILABLE}, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECS)
    return response


class BothModesMiddleware:
    """A middleware that runs in sync and in async mode (Django picks by the chain below it):
    `before` and `after` (no I/O) around the rest of the chain, either way."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.acall(request)
        response = self.before(request)
        if response is None:
            response = self.get_response(request)
        return self.after(request, response)

    async def acall(self, request: HttpRequest) -> HttpResponseBase:
        response = self.before(request)
        if response is None:
            response = await self.get_response(request)
        return self.after(request, response)

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        return None

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        return response


class DatabaseUnavailableMiddleware(BothModesMiddleware):
    """Turn a view's OperationalError/InterfaceError into a 503 JSON answer."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> JsonResponse | None:
        if isinstance(exception, (OperationalError, InterfaceError)):
            metrics.DATABASE_ERRORS.labels("request").inc()
            logger.warning(
                "%s %s: database unavailable: %s", request.method, request.path, exception
            )
            return database_unavailable()
        return None


# The one path whose body may be bigger: an upload (rooms/files/views.py), up to the largest
# file plus its multipart framing and the CSRF field.
UPLOAD_PATH = re.compile(r"^/rooms/[a-z0-9-]+/uploads/$")
UPLOAD_FORM_OVERHEAD_BYTES = 16 * 1024


# An incoming webhook's post (rooms/programs/hooks.py): smaller than the rest.
HOOK_PATH = re.compile(r"^/hooks/")


def body_limit(path: str) -> int:
    """The largest request body for this path: CHAT_MAX_REQUEST_BYTES, or an upload's, or
    an incoming webhook's."""
    if UPLOAD_PATH.match(path):
        return int(settings.CHAT_MAX_UPLOAD_BYTES) + UPLOAD_FORM_OVERHEAD_BYTES
    if HOOK_PATH.match(path):
        return int(settings.CHAT_MAX_HOOK_BYTES)
    return int(settings.CHAT_MAX_REQUEST_BYTES)


def too_large_message(limit: int) -> str:
    return f"request body larger than {limit} bytes"


def too_large(limit: int) -> JsonResponse:
    return JsonResponse({"error": too_large_message(limit)}, status=413)


class RequestBodyLimitMiddleware(BothModesMiddleware):
    """Refuse a request body over its path's limit (body_limit) with 413, before reading it."""

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        length = request.META.get("CONTENT_LENGTH") or "0"
        limit = body_limit(request.path)
        try:
            too_big = int(length) > limit
        except ValueError:
            return JsonResponse({"error": "invalid Content-Length"}, status=400)
        if too_big:
            return too_large(limit)
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # A body without a Content-Length that turns out too big once read.
        if isinstance(exception, RequestDataTooBig):
            return too_large(body_limit(request.path))
        return None


@functools.cache
def security_headers(secure: bool) -> tuple[tuple[bytes, bytes], ...]:
    """The headers Django's middleware gives every answer (settings.py), for answers given
    outside Django. HSTS only over HTTPS, as SecurityMiddleware does.

    Built once per value of `secure` (every stream's head carries them), and again after a
    setting changes (forget_security_headers)."""
    headers = [
        (b"content-security-policy", build_policy(settings.SECURE_CSP).encode()),  # type: ignore[arg-type]
        (b"x-frame-options", settings.X_FRAME_OPTIONS.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", settings.SECURE_REFERRER_POLICY.encode()),
    ]
    if secure and settings.SECURE_HSTS_SECONDS:
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers.append((b"strict-transport-security", hsts.encode()))
    return tuple(headers)


@receiver(setting_changed)
def forget_security_headers(**kwargs: Any) -> None:
    """A setting changed (a test overrides one): build the headers again when next asked."""
    security_headers.cache_clear()


def security_headers_for(scope: Any) -> tuple[tuple[bytes, bytes], ...]:
    """The security headers of an answer to this request, given outside Django."""
    return security_headers(_is_secure(scope))


def _header(scope: Any, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value)
    return None


def _is_secure(scope: Any) -> bool:
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        name, value = proxy_header
        header = name.removeprefix("HTTP_").lower().replace("_", "-").encode()
        return bool(_header(scope, header) == value.encode())
    return bool(scope.get("scheme") == "https")


class HTTPMiddleware:
    """An ASGI middleware that acts on HTTP requests only (others pass through untouched)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        else:
            await self.handle(scope, receive, send)

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        raise NotImplementedError


class SecurityHeadersASGIMiddleware(HTTPMiddleware):
    """Add the security headers to every HTTP answer that lacks them."""

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {bytes(name).lower() for name, _ in headers}
                headers += [h for h in security_headers_for(scope) if h[0] not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(Exception):
    pass


async def _send_json(scope: Any, send: Any, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    # With its length (uvicorn would otherwise send it in chunks); and the connection closes:
    # uvicorn then reads no more of a body it was refused for.
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        (b"connection", b"close"),
        *security_headers_for(scope),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def has_no_body(scope: Any) -> bool:
    """Whether the request can have no body: a GET or HEAD over HTTP/1.x without a
    Content-Length or Transfer-Encoding (a stream's, say)."""
    return (
        scope.get("method") in ("GET", "HEAD")
        and scope.get("http_version") in ("1.0", "1.1")
        and _header(scope, b"content-length") is None
        and _header(scope, b"transfer-encoding") is None
    )


class RequestBodyLimitASGIMiddleware(HTTPMiddleware):
    """Refuse a body over its path's limit (body_limit) with 413 before reading it: on its
    declared Content-Length, or (sent chunked, without one) as soon as what came passes it."""

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        limit = body_limit(scope.get("path", ""))
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not (declared.isdigit() and len(declared) < 19):
                await _send_json(scope, send, 400, "invalid Content-Length")
            elif int(declared) > limit:
                await _send_json(scope, send, 413, too_large_message(limit))
            else:
                await self.app(scope, receive, send)
            return

        if has_no_body(scope):
            # The app's sends go straight to the server, not through one more call each.
            await self.app(scope, receive, send)
            return

        received = 0
        started = False

        async def counting_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _send_json(scope, send, 413, too_large_message(limit))


# Django's middleware, with the hooks that do no I/O run on the event loop in async mode
# (MiddlewareMixin would run each in a thread). settings.MIDDLEWARE names these.


class _OnTheLoop:
    """For a MiddlewareMixin whose process_request and process_response do no I/O."""

    get_response: Callable[[HttpRequest], Any]

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            response = self.process_response(request, response)
        return response  # type: ignore[no-any-return]


class SecurityMiddleware(_OnTheLoop, security.SecurityMiddleware):
    pass


class ContentSecurityPolicyMiddleware(_OnTheLoop, csp.ContentSecurityPolicyMiddleware):
    pass


class XFrameOptionsMiddleware(_OnTheLoop, clickjacking.XFrameOptionsMiddleware):
    pass


class CommonMiddleware(_OnTheLoop, common.CommonMiddleware):
    pass


class AuthenticationMiddleware(_OnTheLoop, auth_middleware.AuthenticationMiddleware):
    """request.user stays lazy: loaded where it is first read (by the writer, for a post)."""


class SessionMiddleware(sessions_middleware.SessionMiddleware):
    """Saving a modified session is I/O: a thread then; otherwise all on the loop."""

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        self.process_request(request)
        get_response: Any = self.get_response
        response = await get_response(request)
        session = getattr(request, "session", None)
        if session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST):
            return await sync_to_async(self.process_response)(request, response)
        return self.process_response(request, response)


class MessageMiddleware(messages_middleware.MessageMiddleware):
    """Storing messages may write the session: a thread when there is anything to store."""

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        self.process_request(request)
        get_response: Any = self.get_response
        response: Any = await get_response(request)
        storage: Any = getattr(request, "_messages", None)
        if storage is not None and (storage.used or storage.added_new):
            return await sync_to_async(self.process_response)(request, response)
        return response  # type: ignore[no-any-return]


class _Rejected(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class CsrfViewMiddleware(_OnTheLoop, csrf.CsrfViewMiddleware):
    """The check on the loop (cookie and header or form field, in memory); the failure page
    (a view, which may read the user) in a thread."""

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        super().__init__(get_response)
        if self.async_mode:
            # Django's handler calls process_view as it finds it: a coroutine in async mode.
            self.process_view = self._process_view_on_loop  # type: ignore[method-assign,assignment]

    async def _process_view_on_loop(
        self, request: HttpRequest, callback: Any, args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        request._csrf_reject_later = True  # type: ignore[attr-defined]
        try:
            return super().process_view(request, callback, args, kwargs)
        except _Rejected as rejected:
            reject = super()._reject  # type: ignore[misc]
            return await sync_to_async(reject)(request, rejected.reason)  # type: ignore[no-any-return]
        finally:
            del request._csrf_reject_later  # type: ignore[attr-defined]

    def _reject(self, request: HttpRequest, reason: str) -> HttpResponseBase:
        if getattr(request, "_csrf_reject_later", False):
            raise _Rejected(reason)
        return super()._reject(request, reason)  # type: ignore[misc,no-any-return]


class TokenAuthenticationMiddleware:
    """`Authorization: Bearer <token>` in place of the session (rules: rooms/programs/tokens.py).

    After AuthenticationMiddleware, whose lazy session user a token's user replaces, and
    before any view: the CSRF check (CsrfViewMiddleware.process_view) runs after every
    middleware's request part, and skips a request marked as a valid token's only. A request
    without the header costs nothing; one with it takes one query (a thread hop in async
    mode, since it is I/O), plus an UPDATE at most once a minute per token (last used).
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.acall(request)
        from rooms.programs import tokens

        try:
            text = tokens.bearer_text(
                request.headers.get("Authorization"), request.GET.keys(), request.path
            )
            if text is not None:
                self.use(request, tokens.authenticate(text, request.method or "GET"))
        except tokens.Refusal as refusal:
            return refusal.response()
        return self.get_response(request)

    async def acall(self, request: HttpRequest) -> HttpResponseBase:
        from rooms.programs import tokens

        try:
            text = tokens.bearer_text(
                request.headers.get("Authorization"), request.GET.keys(), request.path
            )
            if text is not None:
                authenticate = sync_to_async(tokens.authenticate, thread_sensitive=True)
                self.use(request, await authenticate(text, request.method or "GET"))
        except tokens.Refusal as refusal:
            return refusal.response()
        response: HttpResponseBase = await self.get_response(request)
        return response

    @staticmethod
    def use(request: HttpRequest, token: Any) -> None:
        user = token.user

        async def auser() -> Any:
            return user

        request.user = user
        request.auser = auser
        request.api_token = token  # type: ignore[attr-defined]
        # The token is the proof of intent a CSRF token is for: a browser never adds it.
        request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
