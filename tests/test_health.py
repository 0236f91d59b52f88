"""GET /healthz and GET /readyz: cheap, unauthenticated, never logged per request, never
rate-limited; /readyz says which of the database and Redis did not answer in time."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time

import pytest
from django.db import OperationalError

from rooms import health
from tests.asgi import asgi_client
from tests.live import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_readiness():
    """Each test starts with no database check in flight and no remembered state."""
    health._database_check = None
    health._last_state.clear()
    yield
    if health._database_check is not None:
        concurrent.futures.wait([health._database_check], 10)  # a slow check of the test ends
    health._database_check = None
    health._last_state.clear()


async def test_healthz_answers_without_the_database_a_session_or_an_allowed_host(monkeypatch):
    def broken() -> None:
        raise AssertionError("healthz touched the database")

    monkeypatch.setattr(health, "_ping_database", broken)
    async with asgi_client() as client:
        response = await client.get("/healthz", headers={"Host": "not-an-allowed-host.example"})
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"


async def test_readyz_is_200_when_the_database_and_redis_answer(settings):
    async with asgi_client() as client:
        response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    expected = {"database": "ok", **({"redis": "ok"} if settings.REDIS_URL else {})}
    assert response.json() == {"status": "ready", "checks": expected}


async def test_readyz_is_503_naming_the_database_when_it_fails(monkeypatch, caplog, settings):
    settings.REDIS_URL = ""

    def refused() -> None:
        raise OperationalError("connection refused by 10.1.2.3")

    monkeypatch.setattr(health, "_ping_database", refused)
    async with asgi_client() as client:
        responses = [await client.get("/readyz") for _ in range(3)]
    for response in responses:
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "checks": {"database": "unavailable"}}
        assert "10.1.2.3" not in response.text  # why is for the log, not for the world
    # Logged when it changes, not at every probe.
    warnings = [r for r in caplog.records if r.name == "rooms.health"]
    assert len(warnings) == 1 and "10.1.2.3" in warnings[0].getMessage()


async def test_readyz_gives_up_on_a_database_that_does_not_answer(monkeypatch, settings):
    settings.REDIS_URL = ""
    release = threading.Event()
    calls = []

    def hangs() -> None:
        calls.append(1)
        release.wait(10)

    monkeypatch.setattr(health, "_ping_database", hangs)
    try:
        async with asgi_client() as client:
            started = time.monotonic()
            # Probes while the check hangs share it: one thread, not one per probe.
            responses = await asyncio.gather(*(client.get("/readyz") for _ in range(5)))
            elapsed = time.monotonic() - started
    finally:
        release.set()
    assert [r.status_code for r in responses] == [503] * 5
    assert elapsed < health.READY_TIMEOUT_SECS + 1
    await asyncio.sleep(0.3)  # checks that were queued behind the hung one would run now
    assert len(calls) == 1


async def test_readyz_is_503_naming_redis_when_it_does_not_answer(settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    async with asgi_client() as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "redis": "unavailable"},
    }


async def test_probes_are_not_logged_and_not_rate_limited(settings, caplog):
    for name in ("CHAT_ACTIONS_PER_MINUTE", "CHAT_SIGNUPS_PER_HOUR", "CHAT_ROOMS_PER_HOUR"):
        setattr(settings, name, 1)
    caplog.set_level(logging.INFO, logger="rooms.access")
    async with asgi_client() as client:
        for _ in range(30):
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/readyz")).status_code == 200
            assert (await client.get("/metrics")).status_code == 200
        # A page of Django's is logged, for comparison.
        await client.get("/accounts/login/")
    lines = [r for r in caplog.records if r.name == "rooms.access"]
    assert [r.fields["path"] for r in lines] == ["/accounts/login/"]


async def test_probes_answer_only_get_and_head():
    async with asgi_client() as client:
        assert (await client.post("/healthz")).status_code == 405
        head = await client.head("/readyz")
    assert head.status_code == 200 and head.content == b""
