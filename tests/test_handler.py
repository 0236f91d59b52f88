"""The site's ASGI handler (chatsite/handler.py): a request that runs no sync code gets no
thread; one that does is closed in its own thread, as under Django's handler."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from asgiref import sync
from django.core import signals
from django.db import close_old_connections, reset_queries
from django.http import HttpRequest, HttpResponse
from django.urls import path

from chatsite.asgi import django_application

seen: dict[str, int] = {}


async def async_view(request: HttpRequest) -> HttpResponse:
    seen["view"] = threading.get_ident()
    return HttpResponse("async")


def sync_view(request: HttpRequest) -> HttpResponse:
    seen["view"] = threading.get_ident()
    return HttpResponse("sync")


urlpatterns = [path("async/", async_view), path("sync/", sync_view)]


def finished(**kwargs: Any) -> None:
    seen["finished"] = threading.get_ident()


@pytest.fixture
def handler(settings, monkeypatch):
    settings.ROOT_URLCONF = __name__
    seen.clear()
    # The handler disconnects these at start; Django's test Client connects
    # close_old_connections again after each of its requests (earlier tests made some).
    was_connected = [
        receiver
        for receiver in (close_old_connections, reset_queries)
        if signals.request_started.disconnect(receiver)
    ]
    signals.request_finished.connect(finished)
    created: list[object] = []

    class CountedExecutor(ThreadPoolExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            created.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(sync, "ThreadPoolExecutor", CountedExecutor)
    yield created
    signals.request_finished.disconnect(finished)
    for receiver in was_connected:
        signals.request_started.connect(receiver)


async def get(url: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=django_application)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(url)


async def test_an_async_view_is_answered_and_closed_on_the_loop_with_no_thread(handler):
    response = await get("/async/")
    assert response.status_code == 200
    assert response.text == "async"
    loop_thread = threading.get_ident()
    assert seen == {"view": loop_thread, "finished": loop_thread}
    assert handler == []  # no executor, so no thread, was created for the request


async def test_a_sync_view_runs_and_is_closed_in_the_request_thread(handler):
    response = await get("/sync/")
    assert response.status_code == 200
    assert response.text == "sync"
    # request_finished (Django's close_old_connections among its receivers) runs where the
    # view's connections are: the request's own thread, not the loop.
    assert seen["finished"] == seen["view"] != threading.get_ident()
    assert len(handler) == 1
