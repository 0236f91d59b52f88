"""ASGI entry point.

The room event stream is routed through channels to an async consumer, outside Django's
request handler: there, a long response would hold a thread (and a DB connection) for as
long as it is open. Everything else is plain Django.
"""

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")

# Django's handler, but a request that runs no sync code gets no thread (chatsite/handler.py).
from chatsite.handler import get_asgi_application

django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path, re_path  # noqa: E402

from chatsite import server  # noqa: E402
from rooms import health  # noqa: E402
from rooms.access_log import RequestLogASGIMiddleware  # noqa: E402
from rooms.middleware import (  # noqa: E402
    RequestBodyLimitASGIMiddleware,
    SecurityHeadersASGIMiddleware,
    has_no_body,
)
from rooms.stream.consumer import RoomEventsConsumer, UserEventsConsumer  # noqa: E402

# Under daphne, refuse an oversized body before daphne reads it (chatsite/server.py).
server.install()

# The stream routes; `application` below matches a stream's GET against them too.
room_events = path("rooms/<slug:slug>/events/", RoomEventsConsumer.as_asgi())
user_events = path("events/", UserEventsConsumer.as_asgi())

routes = ProtocolTypeRouter(
    {
        "http": URLRouter(
            [
                # Probes and the metrics scrape: no Host check, session or thread (rooms/health.py).
                path("healthz", SecurityHeadersASGIMiddleware(health.healthz)),  # type: ignore[arg-type]
                path("readyz", SecurityHeadersASGIMiddleware(health.readyz)),  # type: ignore[arg-type]
                path("metrics", SecurityHeadersASGIMiddleware(health.metrics_endpoint)),  # type: ignore[arg-type]
                # The consumer reads the session cookie and loads the user itself, in the same
                # DB trip as its access check, and answers a database outage with a 503: see
                # rooms/stream/consumer.py. It writes the security headers itself: a wrapper
                # of its sends would cost a call per event written.
                room_events,
                user_events,
                # URLRouter routes to ASGI apps; django-stubs types re_path for views.
                # Each request of Django's is timed, counted and logged (rooms/access_log.py);
                # an answer of Django's that lacks a security header gets it.
                re_path(
                    r"",
                    SecurityHeadersASGIMiddleware(RequestLogASGIMiddleware(django_application)),  # type: ignore[arg-type]
                ),
            ]
        ),
    }
)

# Around everything: a body over the limit is refused with 413 on its declared length, or
# once it passes the limit, before it is read (the refusal carries the security headers).
limited_routes = RequestBodyLimitASGIMiddleware(routes)


async def application(scope: Any, receive: Any, send: Any) -> None:
    """The routes, with a stream's GET taken straight to its consumer: it has no body to
    limit, and an open stream then holds no frames of the routers and the middleware
    (memory per open stream) and pays for no routing of theirs. Served under a path prefix
    (root_path), everything goes through the routers, which strip it."""
    if scope["type"] == "http" and not scope.get("root_path") and has_no_body(scope):
        route = scope["path"][1:]  # as URLRouter matches it
        stream = None
        if user_events.pattern.match(route):
            stream = UserEventsConsumer()
        elif route.endswith("/events/") and (match := room_events.pattern.match(route)):
            stream = RoomEventsConsumer.for_slug(match[2]["slug"])
        if stream is not None:
            await stream(scope, receive, send)
            return
    await limited_routes(scope, receive, send)
