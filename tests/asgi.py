"""An httpx client for the real ASGI application (chatsite.asgi), in-process: the routes
outside Django (/healthz, /readyz, /metrics) and the request log around Django's."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import Client

from chatsite.asgi import application


@contextlib.asynccontextmanager
async def asgi_client(
    user: User | None = None, address: str = "127.0.0.1"
) -> AsyncIterator[httpx.AsyncClient]:
    """A client connecting from `address`, logged in as `user`, sending the CSRF header."""
    transport = httpx.ASGITransport(app=application, client=(address, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        if user is not None:
            await _log_in(client, user)
        yield client


def _session_of(user: User) -> str:
    django_client = Client()
    django_client.force_login(user)
    return str(django_client.cookies["sessionid"].value)


async def _log_in(client: httpx.AsyncClient, user: User) -> None:
    client.cookies.set("sessionid", await sync_to_async(_session_of)(user))
    page = await client.get("/accounts/password_change/")  # a page that sets the CSRF cookie
    assert page.status_code == 200, page.status_code
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
