"""Zero loss under faults, with two server processes on PostgreSQL and Redis.

Clients follow the room on both processes while a poster sends a steady stream of messages
(alternating processes, each with a client_id, retrying unacknowledged posts with the same
client_id). Mid-burst, one process is SIGKILLed, or Redis restarts, or PostgreSQL restarts.
In each case every client must end with exactly the messages whose POST was acknowledged
(201), each once, in id order; a post never acknowledged is absent or present once.

Redis and PostgreSQL are private servers these tests start on free ports of 127.0.0.1, so
that restarting them disturbs no one else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from typing import Any

import httpx
import pytest

from tests.helpers import Poster, wait_until
from tests.live import (
    LiveDatabase,
    LiveServer,
    PrivatePostgres,
    PrivateRedis,
    RawStream,
    find_postgres_bin,
    sign_up,
)
from tests.sse import ids

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(
        not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")),
        reason="fault tests need PostgreSQL and Redis: set DATABASE_URL and REDIS_URL "
        "(bin/test runs them on its postgres stack)",
    ),
    pytest.mark.timeout(240),
]

MESSAGES = 150
INTERVAL_SECS = 0.02
FAULT_AT = 50  # the fault strikes once this many messages are acknowledged
ROOM = "/rooms/general/"


class Cluster:
    """Two server processes on one database and one Redis, a poster and four followers."""

    def __init__(self, database: LiveDatabase) -> None:
        self.database = database
        self.servers = [LiveServer(database), LiveServer(database)]
        self.clients: list[httpx.AsyncClient] = []
        self.followers: list[RawStream] = []
        self.start_id = 0  # the followers start after this event

    async def start(self) -> Cluster:
        for server in self.servers:
            server.start()
        a, b = self.servers
        alice = await sign_up(a.url, "alice")
        assert (
            await alice.post("/rooms/", json={"slug": "general", "name": "General"})
        ).status_code == 201
        alice_on_b = httpx.AsyncClient(
            base_url=b.url, cookies=alice.cookies, headers=dict(alice.headers), timeout=10
        )
        self.clients = [alice, alice_on_b]
        bob = await sign_up(b.url, "bob")
        assert (await bob.post(f"{ROOM}join/")).status_code == 201
        start = (await bob.get(f"{ROOM}messages/")).json()["last_event_id"]
        self.start_id = int(start)
        session = bob.cookies["sessionid"]
        await bob.aclose()
        # Two followers on each process; each moves on to the other when its own is gone.
        ports = [server.port for server in self.servers]
        self.followers = [
            RawStream(ports[i % 2 :] + ports[: i % 2], f"{ROOM}events/", session, start).follow()
            for i in range(4)
        ]
        await wait_until(
            lambda: all(f.connects and f.connects[-1][2] == 200 for f in self.followers),
            20,
            "the followers did not connect",
        )
        return self

    async def head(self) -> int:
        for client in self.clients:
            try:
                response = await client.get(f"{ROOM}messages/?limit=1")
            except httpx.TransportError:
                continue
            if response.status_code == 200:
                return int(response.json()["last_event_id"])
        raise AssertionError("no process answers")

    async def finish(self, poster: Poster, timeout: float = 60) -> int:
        """Wait until every follower holds the room's whole log; return its head."""
        head = await self.head()
        await wait_until(
            lambda: all(f.last_id is not None and f.last_id >= head for f in self.followers),
            timeout,
            f"followers stuck at {[f.last_id for f in self.followers]}, head {head}",
        )
        # Anything still in flight (a duplicate, a late event) has a moment to show up.
        await asyncio.sleep(1)
        for follower in self.followers:
            follower.close()
        return head

    async def close(self) -> None:
        for follower in self.followers:
            follower.close()
        for client in self.clients:
            await client.aclose()
        for server in self.servers:
            server.stop()


def check_delivery(cluster: Cluster, poster: Poster, head: int) -> None:
    """Every follower has every event once, in order, and exactly the acknowledged messages."""
    assert poster.unexpected == [], poster.unexpected
    assert 500 not in poster.statuses
    acked = set(poster.acked)
    may = set(poster.unacked)
    for name, follower in enumerate(cluster.followers):
        seqs = ids(follower.events)
        assert seqs == list(range(cluster.start_id + 1, head + 1)), (
            f"{name}: not each event once in order: {seqs}"
        )
        messages = [e.json for e in follower.events if e.type == "message"]
        client_ids = [message["client_id"] for message in messages]
        assert len(client_ids) == len(set(client_ids)), f"{name}: a message twice"
        assert acked <= set(client_ids), f"{name} misses {sorted(acked - set(client_ids))}"
        assert set(client_ids) - acked <= may, f"{name}: messages nobody posted"
        message_ids = [message["id"] for message in messages]
        assert message_ids == sorted(message_ids), f"{name}: messages out of id order"
        for message in messages:
            if message["client_id"] in poster.acked:
                assert message["id"] == poster.acked[message["client_id"]]


@pytest.fixture
def private_redis(tmp_path):
    if PrivateRedis(tmp_path).binary is None:
        pytest.skip("redis-server is not installed")
    redis = PrivateRedis(tmp_path).start()
    yield redis
    redis.kill()


async def run_burst(cluster: Cluster, poster: Poster, fault) -> None:
    """Post the burst; strike with `fault()` (a coroutine) once FAULT_AT posts are acknowledged."""
    burst = asyncio.create_task(poster.run(MESSAGES, INTERVAL_SECS))
    await wait_until(lambda: len(poster.acked) >= FAULT_AT, 60, "the burst did not start")
    await fault()
    await asyncio.wait_for(burst, 150)
    assert poster.sent == MESSAGES


async def test_sigkill_one_process_mid_burst(tmp_path, private_redis):
    database = LiveDatabase(tmp_path, redis_url=private_redis.url).create()
    cluster = Cluster(database)
    try:
        await cluster.start()
        poster = Poster(cluster.clients, f"{ROOM}messages/", "kill")
        a, b = cluster.servers
        killed_at = {}

        async def kill_a() -> None:
            killed_at["acked"] = len(poster.acked)
            a.kill()

        await run_burst(cluster, poster, kill_a)
        head = await cluster.finish(poster)
        check_delivery(cluster, poster, head)
        # The posts that went to A after it died were retried on B.
        assert poster.transport_errors > 0
        assert len(poster.acked) == MESSAGES and poster.unacked == []
        # A's followers moved to B, resuming from where they were.
        for follower in cluster.followers[0::2]:
            assert any(port == b.port and status == 200 for port, _, status in follower.connects)
        print(
            f"\nkill: acked {len(poster.acked)}, transport errors {poster.transport_errors},"
            f" follower connects {[len(f.connects) for f in cluster.followers]}"
        )
    finally:
        await cluster.close()
        database.drop()


async def test_redis_restart_mid_burst(tmp_path, private_redis):
    database = LiveDatabase(tmp_path, redis_url=private_redis.url).create()
    cluster = Cluster(database)
    try:
        await cluster.start()
        poster = Poster(cluster.clients, f"{ROOM}messages/", "redis")

        async def restart_redis() -> None:
            private_redis.kill()
            await asyncio.sleep(1.0)  # posts go on meanwhile
            await asyncio.to_thread(private_redis.start)

        await run_burst(cluster, poster, restart_redis)
        head = await cluster.finish(poster)
        check_delivery(cluster, poster, head)
        # While Redis was down, posts still succeeded.
        assert len(poster.acked) == MESSAGES and poster.unacked == []
        assert poster.statuses.count(201) == MESSAGES
        # Both processes noticed and reconnected by themselves.
        for server in cluster.servers:
            assert "redis fan-out: connection lost" in server.log_path.read_text()
    finally:
        await cluster.close()
        database.drop()


async def test_postgres_restart_mid_burst(tmp_path, private_redis):
    if find_postgres_bin() is None:
        pytest.skip("PostgreSQL's initdb is not installed: no private cluster to restart")
    postgres = PrivatePostgres().create()
    database = LiveDatabase(tmp_path, database_url=postgres.url, redis_url=private_redis.url)
    database.create()
    cluster = Cluster(database)
    try:
        await cluster.start()
        poster = Poster(cluster.clients, f"{ROOM}messages/", "pg")
        down: dict[str, Any] = {}

        async def restart_postgres() -> None:
            await asyncio.to_thread(postgres.stop, "fast")
            started = time.monotonic()
            await wait_until(lambda: len(poster.unavailable) >= 3, 20, "no 503 while down")
            # A stream that connects now gets the same clear 503.
            session = cluster.clients[0].cookies["sessionid"]
            refused = RawStream(cluster.servers[0].port, f"{ROOM}events/", session)
            await refused.open()
            await refused.read_to_end(15)
            down["stream"] = refused
            await asyncio.sleep(1.0)
            await asyncio.to_thread(postgres.start)
            down["secs"] = time.monotonic() - started

        await run_burst(cluster, poster, restart_postgres)
        head = await cluster.finish(poster)
        check_delivery(cluster, poster, head)
        # While PostgreSQL was down, posts got a clear 503, never a 500 or a hang.
        assert poster.unavailable
        for response in poster.unavailable:
            assert response.json() == {"error": "database unavailable, retry"}
            assert response.headers["Retry-After"].isdigit()
            assert response.headers["content-type"] == "application/json"
        refused = down["stream"]
        assert refused.status == 503, refused.head + refused.body[:300]
        assert b"retry-after: 1" in refused.head.lower()
        assert json.loads(refused.body) == {"error": "database unavailable, retry"}
        assert len(poster.acked) == MESSAGES and poster.unacked == []
        assert poster.transport_errors == 0  # every request was answered within its timeout
        print(
            f"\npostgres: down {down['secs']:.1f}s, 503s {len(poster.unavailable)},"
            f" transport errors {poster.transport_errors},"
            f" follower connects {[len(f.connects) for f in cluster.followers]}"
        )
    finally:
        await cluster.close()
        database.drop()
        postgres.destroy()


async def test_leaving_while_redis_is_down_still_closes_the_stream_on_the_other_process(
    tmp_path, private_redis
):
    """The revocation itself travels over Redis and is lost while Redis is down; the
    member_left event is in the log, and the other process must act on it when it catches up.
    """
    database = LiveDatabase(tmp_path, redis_url=private_redis.url).create()
    a, b = LiveServer(database).start(), LiveServer(database).start()
    try:
        alice = await sign_up(a.url, "alice")
        bob = await sign_up(a.url, "bob")
        created = await alice.post("/rooms/", json={"slug": "s", "name": "S", "private": True})
        assert created.status_code == 201
        assert (await alice.post("/rooms/s/members/", json={"username": "bob"})).status_code == 201
        last = (await bob.get("/rooms/s/messages/")).json()["last_event_id"]
        stream = await RawStream(
            b.port, "/rooms/s/events/", bob.cookies["sessionid"], last_event_id=str(last)
        ).open()
        await stream.read_until(lambda _: stream.parser.retries)
        # B is subscribed to the room: a message from A reaches bob on B.
        assert (await alice.post("/rooms/s/messages/", json={"body": "hi"})).status_code == 201
        await stream.read_until(lambda evs: any(e.type == "message" for e in evs))

        private_redis.kill()
        assert (await bob.post("/rooms/s/leave/")).status_code == 200  # on A
        private_redis.start()
        secret = await alice.post("/rooms/s/messages/", json={"body": "after bob left"})
        assert secret.status_code == 201

        # B reconnects to Redis and catches up from the log: bob's stream must end, and
        # must never carry what was said after he left.
        with contextlib.suppress(AssertionError):
            await stream.read_until(lambda evs: any(e.type == "revoked" for e in evs), 15)
        bodies = [e.json.get("body") for e in stream.events if e.type == "message"]
        assert "after bob left" not in bodies
        assert stream.events[-1].type == "revoked", [e.type for e in stream.events]
        stream.close()
        await alice.aclose()
        await bob.aclose()
    finally:
        a.stop()
        b.stop()
        database.drop()
