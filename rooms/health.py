"""The operations endpoints: health, readiness and metrics.

GET /healthz  The process is up and its event loop answers: 200. Touches no database.
GET /readyz   The database and, with REDIS_URL, Redis answer within READY_TIMEOUT_SECS:
              200; else 503 naming the one that did not (why goes to the log only).
GET /metrics  The metrics of rooms/metrics.py in Prometheus's text format, to a client whose
              address is in CHAT_METRICS_ALLOWED_ADDRESSES or that sends
              `Authorization: Bearer <CHAT_METRICS_TOKEN>`; anyone else gets 403.

They are ASGI applications routed before Django (chatsite/asgi.py), like the stream: a probe
needs no allowed Host name, no HTTPS redirect, no session and no thread from Django's pool,
and it is neither logged per request nor rate-limited. /healthz answers from the event loop
itself; /readyz checks the database in a thread of its own, one check at a time per process,
so that probes during an outage share the check in flight instead of piling up threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import ipaddress
import json
import logging
from typing import Any

import redis.asyncio
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from rooms import metrics
from rooms.access_log import scope_address

logger = logging.getLogger(__name__)

# How long /readyz waits for each of the database and Redis.
READY_TIMEOUT_SECS = 1.0

_database_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="readyz")
_database_check: concurrent.futures.Future[None] | None = None
# Each dependency's last answer, to log when it changes rather than at every probe.
_last_state: dict[str, bool] = {}


async def _answer(
    send: Any,
    status: int,
    body: bytes,
    content_type: bytes = b"application/json",
    head: bool = False,
) -> None:
    headers = [(b"content-type", content_type), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _json(send: Any, status: int, data: dict[str, Any], head: bool = False) -> None:
    await _answer(send, status, json.dumps(data).encode(), head=head)


async def _refuse_method(scope: Any, send: Any) -> bool:
    """Answer 405 to anything but GET and HEAD; return whether it did."""
    if scope["method"] in ("GET", "HEAD"):
        return False
    await _json(send, 405, {"error": "only GET"})
    return True


async def healthz(scope: Any, receive: Any, send: Any) -> None:
    if await _refuse_method(scope, send):
        return
    await _json(send, 200, {"status": "ok"}, head=scope["method"] == "HEAD")


def _ping_database() -> None:
    connection = connections[DEFAULT_DB_ALIAS]
    pool = getattr(connection, "pool", None)  # PostgreSQL with a pool (settings.py)
    if pool is not None:
        # From the pool the requests use, waiting no longer than the probe does. Django opens
        # the pool with the process's first query; this may be the first.
        pool.open()
        with pool.connection(timeout=READY_TIMEOUT_SECS) as conn:
            conn.execute("SELECT 1")
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()


async def _check_database() -> None:
    global _database_check
    if _database_check is None or _database_check.done():
        _database_check = _database_thread.submit(_ping_database)
    await asyncio.shield(asyncio.wrap_future(_database_check))


async def _check_redis() -> None:
    client = redis.asyncio.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=READY_TIMEOUT_SECS,
        socket_timeout=READY_TIMEOUT_SECS,
    )
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _ready(name: str, check: Any) -> bool:
    try:
        await asyncio.wait_for(check(), READY_TIMEOUT_SECS)
        ok, why = True, ""
    except TimeoutError:
        ok, why = False, f"no answer within {READY_TIMEOUT_SECS:g} s"
    except Exception as exc:
        ok, why = False, f"{type(exc).__name__}: {exc}"
    if _last_state.get(name, True) != ok:
        if ok:
            logger.warning("readiness: %s answers again", name)
        else:
            logger.warning("readiness: %s is unavailable: %s", name, why)
    _last_state[name] = ok
    return ok


async def readyz(scope: Any, receive: Any, send: Any) -> None:
    if await _refuse_method(scope, send):
        return
    checks = {"database": _check_database}
    if settings.REDIS_URL:
        checks["redis"] = _check_redis
    results = await asyncio.gather(*(_ready(name, check) for name, check in checks.items()))
    answers = {
        name: "ok" if ok else "unavailable" for name, ok in zip(checks, results, strict=True)
    }
    ready = all(results)
    await _json(
        send,
        200 if ready else 503,
        {"status": "ready" if ready else "unavailable", "checks": answers},
        head=scope["method"] == "HEAD",
    )


def may_scrape(scope: Any) -> bool:
    """The bearer token (if one is set), or an address in the allow-list."""
    token = settings.CHAT_METRICS_TOKEN
    if token:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                given = bytes(value)
                if hmac.compare_digest(given, b"Bearer " + token.encode()):
                    return True
    try:
        address = ipaddress.ip_address(scope_address(scope))
    except ValueError:
        return False
    return any(
        address in ipaddress.ip_network(allowed, strict=False)
        for allowed in settings.CHAT_METRICS_ALLOWED_ADDRESSES
    )


async def metrics_endpoint(scope: Any, receive: Any, send: Any) -> None:
    if await _refuse_method(scope, send):
        return
    if not may_scrape(scope):
        await _json(send, 403, {"error": "metrics are not available to this client"})
        return
    # Several processes: reading every process's file takes a moment; not on the loop.
    body, content_type = await asyncio.to_thread(metrics.exposition)
    await _answer(send, 200, body, content_type.encode(), head=scope["method"] == "HEAD")
