"""ASGI entry point.

The room event stream is routed through channels to an async consumer, outside Django's
request handler: there, a long response would hold a thread (and a DB connection) for as
long as it is open. Everything else is plain Django.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path, re_path  # noqa: E402

from rooms.middleware import DatabaseUnavailableASGIMiddleware  # noqa: E402
from rooms.streaming import RoomEventsConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": URLRouter(
            [
                # A database outage while checking the session is a 503, not daphne's 500.
                path(
                    "rooms/<slug:slug>/events/",
                    # The consumer reads the session cookie and loads the user itself, in
                    # the same DB trip as its access check: see rooms/streaming.py.
                    DatabaseUnavailableASGIMiddleware(RoomEventsConsumer.as_asgi()),  # type: ignore[arg-type]
                ),
                # URLRouter routes to ASGI apps; django-stubs types re_path for views.
                re_path(r"", django_application),  # type: ignore[arg-type]
            ]
        ),
    }
)
