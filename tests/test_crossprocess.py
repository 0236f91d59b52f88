"""The cross-process contract of the Redis fan-out, on two real server processes
(daphne or uvicorn, tests/live.py).

An event committed in one process reaches the streams of the other, in the log's order even
when both processes commit concurrently; a revocation closes streams in the other process
(a password change: those of every session but the changing one); a process subscribes to
the Redis channels of the rooms it has open streams for, and only those.
"""

from __future__ import annotations

import asyncio
import os

import httpx
import psycopg
import pytest
import redis

from tests.helpers import wait_until
from tests.live import LiveServer, RawStream, log_in, sign_up

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL"),
        reason="cross-process fan-out needs Redis: set REDIS_URL (bin/test's postgres stack)",
    ),
]


@pytest.fixture
def servers(live_database):
    servers = [LiveServer(live_database).start(), LiveServer(live_database).start()]
    yield servers
    for server in servers:
        server.stop()


def on(server: LiveServer, client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The same logged-in user, talking to another process."""
    return httpx.AsyncClient(
        base_url=server.url, cookies=client.cookies, headers=dict(client.headers), timeout=10
    )


def stream(server: LiveServer, client: httpx.AsyncClient, slug: str, last: int) -> RawStream:
    return RawStream(
        server.port, f"/rooms/{slug}/events/", client.cookies["sessionid"], last_event_id=str(last)
    )


async def head(client: httpx.AsyncClient, slug: str) -> int:
    return int((await client.get(f"/rooms/{slug}/messages/?limit=1")).json()["last_event_id"])


async def test_an_event_committed_on_a_reaches_a_stream_on_b(servers):
    a, b = servers
    alice = await sign_up(a.url, "alice")
    assert (await alice.post("/rooms/", json={"slug": "general", "name": "G"})).status_code == 201
    on_b = await stream(b, alice, "general", await head(alice, "general")).open()
    await on_b.read_until(lambda _: on_b.parser.retries)  # subscribed

    response = await alice.post("/rooms/general/messages/", json={"body": "from A"})
    assert response.status_code == 201

    events = await on_b.read_until(lambda evs: len(evs) >= 1, timeout=5)
    assert [(e.type, e.json["body"]) for e in events] == [("message", "from A")]
    on_b.close()
    await alice.aclose()


async def test_concurrent_commits_on_both_processes_arrive_in_log_order(servers):
    a, b = servers
    alice = await sign_up(a.url, "alice")
    bob = await sign_up(b.url, "bob")
    assert (await alice.post("/rooms/", json={"slug": "general", "name": "G"})).status_code == 201
    assert (await bob.post("/rooms/general/join/")).status_code == 201
    start = await head(alice, "general")
    streams = [
        await stream(a, alice, "general", start).open(),
        await stream(b, bob, "general", start).open(),
    ]
    per_poster = 40

    async def post_many(client: httpx.AsyncClient, name: str) -> None:
        async def one(i: int) -> None:
            response = await client.post(
                "/rooms/general/messages/", json={"body": f"{name} {i}", "client_id": f"{name}{i}"}
            )
            assert response.status_code == 201

        # Several posts in flight at once on each process: their commits interleave.
        for batch in range(0, per_poster, 8):
            await asyncio.gather(*(one(i) for i in range(batch, min(batch + 8, per_poster))))

    await asyncio.gather(post_many(alice, "alice"), post_many(bob, "bob"))
    end = await head(alice, "general")
    assert end == start + 2 * per_poster
    seen = []
    for s in streams:
        events = await s.read_until(lambda evs: len(evs) >= 2 * per_poster, timeout=15)
        assert [e.seq for e in events] == list(range(start + 1, end + 1))
        seen.append([(e.id, e.data) for e in events])
        s.close()
    assert seen[0] == seen[1]
    bodies = {e.json["body"] for e in streams[0].events}
    assert len(bodies) == 2 * per_poster
    await alice.aclose()
    await bob.aclose()


async def test_leaving_a_private_room_closes_the_stream_on_the_other_process(servers):
    a, b = servers
    alice = await sign_up(a.url, "alice")
    bob = await sign_up(a.url, "bob")
    created = await alice.post("/rooms/", json={"slug": "secret", "name": "S", "private": True})
    assert created.status_code == 201
    assert (await alice.post("/rooms/secret/members/", json={"username": "bob"})).status_code == 201
    bob_stream = await stream(b, bob, "secret", await head(bob, "secret")).open()
    alice_stream = await stream(b, alice, "secret", await head(alice, "secret")).open()
    assert bob_stream.status == alice_stream.status == 200
    await bob_stream.read_until(lambda _: bob_stream.parser.retries)

    # Bob's membership goes away through process A; his stream lives on process B.
    assert (await bob.post("/rooms/secret/leave/")).status_code == 200

    events = await bob_stream.read_until(lambda evs: any(e.type == "revoked" for e in evs))
    assert events[-1].type == "revoked"
    # The stream ends after the revocation.
    with pytest.raises(AssertionError):
        await bob_stream.read_until(lambda _: False, timeout=3)
    assert bob_stream.closed
    # Alice's stream on B stays open and sees bob leave.
    events = await alice_stream.read_until(lambda evs: any(e.type == "member_left" for e in evs))
    assert not alice_stream.closed
    alice_stream.close()
    await alice.aclose()
    await bob.aclose()


async def test_a_password_change_on_a_ends_the_other_sessions_streams_on_b_only(servers):
    a, b = servers
    alice = await sign_up(a.url, "alice")
    laptop = await sign_up(a.url, "bob")  # bob changes his password here
    phone = await log_in(b.url, "bob")
    assert (await alice.post("/rooms/", json={"slug": "general", "name": "G"})).status_code == 201
    assert (await laptop.post("/rooms/general/join/")).status_code == 201
    start = await head(alice, "general")
    here = await stream(b, laptop, "general", start).open()
    there = await stream(b, phone, "general", start).open()
    await here.read_until(lambda _: here.parser.retries)
    await there.read_until(lambda _: there.parser.retries)

    new = "a-brand-new-passphrase-7"
    changed = await laptop.post(
        "/accounts/password_change/",
        data={"old_password": "a-long-passphrase-9", "new_password1": new, "new_password2": new},
    )
    assert changed.status_code == 302, changed.text[:500]

    events = await there.read_until(lambda evs: any(e.type == "revoked" for e in evs))
    assert events[-1].type == "revoked"
    posted = await alice.post("/rooms/general/messages/", json={"body": "still there, bob?"})
    assert posted.status_code == 201
    events = await here.read_until(lambda evs: any(e.type == "message" for e in evs))
    assert events[-1].json["body"] == "still there, bob?"
    assert not here.closed
    here.close()
    for client in (alice, laptop, phone):
        await client.aclose()


async def test_a_process_subscribes_only_to_rooms_with_open_streams(servers, live_database):
    a, b = servers
    prefix = live_database.env["REDIS_CHANNEL_PREFIX"]
    alice = await sign_up(a.url, "alice")
    for slug in ("one", "two", "three"):
        assert (await alice.post("/rooms/", json={"slug": slug, "name": slug})).status_code == 201
    with psycopg.connect(live_database.env["DATABASE_URL"]) as conn:
        ids: dict[str, int] = dict(conn.execute("SELECT slug, id FROM rooms_room").fetchall())
    channel = {slug: f"{prefix}room:{room_id}" for slug, room_id in ids.items()}
    client = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)

    def subscribed() -> dict[str, int]:
        names = client.pubsub_channels(f"{prefix}room:*")
        return {str(name): count for name, count in client.pubsub_numsub(*names)} if names else {}

    assert subscribed() == {}  # no stream open anywhere: no room subscription

    one_on_a = await stream(a, alice, "one", await head(alice, "one")).open()
    await one_on_a.read_until(lambda _: one_on_a.parser.retries)
    await wait_until(lambda: subscribed() == {channel["one"]: 1}, 5, f"got {subscribed()}")

    two_on_b = await stream(b, alice, "two", await head(alice, "two")).open()
    one_on_b = await stream(b, alice, "one", await head(alice, "one")).open()
    await two_on_b.read_until(lambda _: two_on_b.parser.retries)
    await one_on_b.read_until(lambda _: one_on_b.parser.retries)
    expected = {channel["one"]: 2, channel["two"]: 1}
    await wait_until(lambda: subscribed() == expected, 5, f"got {subscribed()}")

    # The last stream of a room in a process closes: that process unsubscribes.
    one_on_a.close()
    expected = {channel["one"]: 1, channel["two"]: 1}
    await wait_until(lambda: subscribed() == expected, 5, f"got {subscribed()}")
    two_on_b.close()
    one_on_b.close()
    await wait_until(lambda: subscribed() == {}, 5, f"got {subscribed()}")
    client.close()
    await alice.aclose()


async def test_typing_and_presence_on_a_reach_a_user_stream_on_b_and_agree(servers):
    a, b = servers
    alice = await sign_up(a.url, "alice")
    bob = await sign_up(b.url, "bob")
    assert (await alice.post("/rooms/", json={"slug": "general", "name": "G"})).status_code == 201
    assert (await bob.post("/rooms/general/join/")).status_code == 201
    bobs = await RawStream(b.port, "/events/", bob.cookies["sessionid"]).open()
    await bobs.read_until(lambda _: bobs.parser.retries)  # live

    assert (await alice.post("/rooms/general/typing/")).status_code == 204
    reported = await alice.post("/rooms/general/presence/", json={"tab": "alices-tab"})
    assert reported.json()["here"] == ["alice"]

    events = await bobs.read_until(lambda evs: len(evs) >= 2, timeout=5)
    assert [(e.type, e.id) for e in events] == [("typing", None), ("presence", None)]
    assert events[0].json["user"] == "alice"
    assert events[1].json["here"] == ["alice"]
    # Both processes read the same presence (Redis).
    on_b = await bob.get("/rooms/general/presence/")
    assert on_b.json() == {"room": "general", "here": ["alice"], "recent": []}
    bobs.close()
    await alice.aclose()
    await bob.aclose()
