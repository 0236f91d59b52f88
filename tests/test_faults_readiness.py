"""/readyz turns 503 within 2 s of stopping the database, and 200 again once it is back,
on a PostgreSQL cluster of the test's own (tests/faults.py)."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from tests.live import (
    LiveDatabase,
    LiveServer,
    PrivatePostgres,
    PrivateRedis,
    find_postgres_bin,
)

pytestmark = [
    pytest.mark.server,
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL"),
        reason="runs once, on the postgres stack (it starts a PostgreSQL of its own)",
    ),
]


def poll_until(url: str, status: int, timeout: float) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    while True:
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == status:
                return time.monotonic() - started, response
        except httpx.TransportError:
            pass
        assert time.monotonic() - started < timeout, f"{url} never answered {status}"
        time.sleep(0.05)


@pytest.mark.skipif(find_postgres_bin() is None, reason="PostgreSQL's initdb is not installed")
def test_readyz_follows_postgresql_going_down_and_coming_back(tmp_path):
    postgres = PrivatePostgres().create()
    redis = PrivateRedis(tmp_path).start() if PrivateRedis(tmp_path).binary else None
    database = LiveDatabase(
        tmp_path, database_url=postgres.url, redis_url=redis.url if redis else None
    ).create()
    server = LiveServer(database).start()
    url = f"{server.url}/readyz"
    try:
        _, ready = poll_until(url, 200, 20)
        assert ready.json()["checks"]["database"] == "ok"

        postgres.stop("fast")
        elapsed, down = poll_until(url, 503, 10)
        assert elapsed < 2, f"/readyz took {elapsed:.2f} s to notice"
        assert down.json()["checks"]["database"] == "unavailable"
        if redis is not None:
            assert down.json()["checks"]["redis"] == "ok"
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200

        postgres.start()
        back, _ = poll_until(url, 200, 30)
        print(f"\nreadyz: 503 {elapsed:.2f} s after the stop, 200 {back:.2f} s after the start")
        assert "readiness: database is unavailable" in server.log_path.read_text()
    finally:
        server.stop()
        database.drop()
        postgres.destroy()
        if redis is not None:
            redis.kill()
