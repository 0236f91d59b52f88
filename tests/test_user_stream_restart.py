"""The user stream resumes every room after the server is killed mid-burst: a client that
reconnects with only the last id it saw gets every missed event of every room exactly once,
in each room's order, including a room it was added to while away; on one process, and on
two processes sharing PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict

import httpx
import pytest

from tests.helpers import Poster
from tests.live import LiveServer, RawStream, sign_up
from tests.sse import SSEEvent

pytestmark = pytest.mark.server

ROOMS = [f"r{i}" for i in range(5)]
BURST = 25  # messages per room


def on(server: LiveServer, client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The same logged-in user, talking to another process."""
    return httpx.AsyncClient(
        base_url=server.url, cookies=client.cookies, headers=dict(client.headers), timeout=10
    )


def messages_by_room(events: list[SSEEvent]) -> dict[str, list[tuple[int, int]]]:
    """(seq, message id) of each message event, by room, in the order they arrived."""
    rooms: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for event in events:
        if event.type == "message":
            rooms[event.json["room"]].append((event.json["seq"], event.json["data"]["id"]))
    return rooms


@pytest.mark.parametrize("processes", [1, 2])
async def test_a_user_stream_resumes_every_room_after_a_kill(live_database, processes):
    if processes == 2 and not os.environ.get("REDIS_URL"):
        pytest.skip("two processes need Redis: set REDIS_URL (bin/test's postgres stack)")
    servers = [LiveServer(live_database).start() for _ in range(processes)]
    # Bob's stream is on the last server, which is killed; the posts go to every server.
    streamed, other = servers[-1], servers[0]
    try:
        alice = await sign_up(other.url, "alice")
        bob = await sign_up(other.url, "bob")
        for slug in ROOMS:
            assert (
                await alice.post("/rooms/", json={"slug": slug, "name": slug})
            ).status_code == 201
        for slug in ROOMS[:4]:
            added = await alice.post(f"/rooms/{slug}/members/", json={"username": "bob"})
            assert added.status_code == 201
        first = await RawStream(
            streamed.port, "/events/", bob.cookies["sessionid"], last_event_id=0
        ).open()
        await first.read_until(lambda events: any(e.type == "room_joined" for e in events))

        clients = [alice] + [on(server, alice) for server in servers[1:]]
        posters = [
            Poster(clients, f"/rooms/{slug}/messages/", f"burst-{slug}") for slug in ROOMS[:4]
        ]
        burst = [asyncio.ensure_future(p.run(BURST, 0.01)) for p in posters]
        await first.read_until(
            lambda events: sum(e.type == "message" for e in events) >= 20, timeout=30
        )
        streamed.kill()
        first.close()
        last_seen = first.last_id
        assert last_seen is not None

        # While bob is away: the server comes back, bob is added to r4, which gets posts.
        streamed.start()
        await asyncio.sleep(0.2)
        added = await alice.post("/rooms/r4/members/", json={"username": "bob"})
        assert added.status_code == 201
        late = Poster(clients, "/rooms/r4/messages/", "late-r4")
        await late.run(5, 0.01)
        await asyncio.gather(*burst)
        for poster in [*posters, late]:
            assert poster.unacked == [] and poster.unexpected == []

        resumed = await RawStream(
            streamed.port, "/events/", bob.cookies["sessionid"], last_event_id=last_seen
        ).open()
        expected = {p.tag: set(p.acked.values()) for p in [*posters, late]}
        total = sum(len(ids) for ids in expected.values())

        def all_arrived(_: object) -> bool:
            seen = messages_by_room(first.events + resumed.events)
            return sum(len(v) for v in seen.values()) >= total

        await resumed.read_until(all_arrived, timeout=30)
        await asyncio.sleep(0.3)  # nothing more (a duplicate) may follow
        resumed.close()

        ids = [int(e.id) for e in resumed.events if e.id is not None]
        assert ids == sorted(ids) and len(set(ids)) == len(ids) and ids[0] > last_seen
        seen = messages_by_room(first.events + resumed.events)
        assert set(seen) == set(ROOMS)
        for poster in [*posters, late]:
            slug = poster.path.split("/")[2]
            got = [message for _, message in seen[slug]]
            assert sorted(got) == sorted(expected[poster.tag]), slug  # every one, exactly once
            seqs = [seq for seq, _ in seen[slug]]
            assert seqs == sorted(seqs), slug  # in the room's order
        assert [e.json["room"] for e in resumed.events if e.type == "room_joined"] == ["r4"]
        for client in clients:
            await client.aclose()
        await bob.aclose()
    finally:
        for server in servers:
            server.stop()
