"""The user stream's scenarios (issue: one stream per tab), run by bench/scenarios.py.

lobby: GET /rooms/ for a person in 100 rooms of 10,000 messages each, with half the rooms
read and half 20 messages behind, and again with every room unread (counts capped at 1,000).
userfanout: 1,000 people, each in 20 of 100 rooms, each with one user stream open
(GET /events/); 5 messages a second spread over the rooms; CPU per delivery beside the
per-room stream's in the same run (1,000 streams of one room).

The people, rooms and messages are written straight into the site's database by
`populate` (run in a subprocess with the site's environment), far faster than over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import httpx

from bench.client import Counter, Poster, Stream, close_streams, open_streams
from bench.servers import Session
from tests.helpers import wait_until
from tests.live import ROOT

if TYPE_CHECKING:
    from bench.scenarios import Bench

LOBBY_ROOMS = 100
LOBBY_MESSAGES = 10_000
FAN_USERS = 1000
FAN_ROOMS = 100
FAN_ROOMS_PER_USER = 20


def populate(spec: dict[str, Any]) -> dict[str, Any]:
    """Write the scenario's people, rooms, memberships and messages; return session keys.

    Run inside the site's environment (python -m bench.userstream '<spec json>').
    """
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import transaction

    from rooms.models import Membership, Message, Room

    def session_for(user: User) -> str:
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        return str(session.session_key)

    assert "django.contrib.auth.backends.ModelBackend" in settings.AUTHENTICATION_BACKENDS
    kind = spec["kind"]
    writer = User.objects.get(username=spec["writer"])
    with transaction.atomic():
        if kind == "lobby":
            reader = User.objects.create_user("lobby-reader")
            rooms = [
                Room.objects.create(slug=f"lobby-{i}", name=f"Lobby {i}", owner=writer)
                for i in range(spec["rooms"])
            ]
            Membership.objects.bulk_create(
                [Membership(room=room, user=u) for room in rooms for u in (writer, reader)]
            )
            for room in rooms:
                Message.objects.bulk_create(
                    [
                        Message(room=room, author=writer, body=f"message {k} of {room.slug}")
                        for k in range(spec["messages"])
                    ],
                    batch_size=2000,
                )
            return {"reader": session_for(reader), "rooms": [room.pk for room in rooms]}
        if kind == "lobby-read":
            # Half the rooms read to the end, half 20 messages behind (or all unread).
            reader = User.objects.get(username="lobby-reader")
            for i, room_id in enumerate(spec["rooms"]):
                latest = Message.objects.filter(room_id=room_id).order_by("-id")[0].pk
                last_read = 0 if spec["all_unread"] else (latest if i % 2 else latest - 20)
                Membership.objects.filter(room_id=room_id, user=reader).update(last_read=last_read)
            return {}
        # userfanout
        rooms = [
            Room.objects.create(slug=f"uf-{i}", name=f"Fan {i}", owner=writer)
            for i in range(spec["rooms"])
        ]
        users = User.objects.bulk_create(
            [User(username=f"uf{i}", password="!") for i in range(spec["users"])]
        )
        users = list(User.objects.filter(username__startswith="uf").order_by("pk"))
        memberships = [Membership(room=room, user=writer) for room in rooms]
        for i, user in enumerate(users):
            for j in range(spec["per_user"]):
                memberships.append(Membership(room=rooms[(i * 7 + j) % len(rooms)], user=user))
        Membership.objects.bulk_create(memberships, batch_size=5000)
        sessions = [session_for(user) for user in users]
        members = {room.slug: room.memberships.count() - 1 for room in rooms}
        return {"sessions": sessions, "members": members}


def run_populate(bench: Bench, spec: dict[str, Any]) -> dict[str, Any]:
    env = {**bench.site.env, "DJANGO_SETTINGS_MODULE": "chatsite.settings"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.userstream", json.dumps(spec)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"populate failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


async def lobby(bench: Bench) -> None:
    site = bench.site
    writer = site.prepared_usernames[0]
    made = run_populate(
        bench,
        {"kind": "lobby", "writer": writer, "rooms": LOBBY_ROOMS, "messages": LOBBY_MESSAGES},
    )
    base = f"http://127.0.0.1:{site.ports[0]}"
    requests = 100 if bench.args.quick else 300
    for all_unread in (False, True):
        run_populate(
            bench, {"kind": "lobby-read", "writer": writer, **made, "all_unread": all_unread}
        )
        cookies = {"sessionid": made["reader"]}
        async with httpx.AsyncClient(base_url=base, cookies=cookies) as client:
            for _ in range(10):  # warm up
                assert (await client.get("/rooms/")).status_code == 200
            latencies = []
            cpu0 = site.cpu()
            for _ in range(requests):
                t = time.monotonic()
                response = await client.get("/rooms/")
                latencies.append(time.monotonic() - t)
                assert response.status_code == 200
            cpu = site.cpu() - cpu0
            rooms = [r for r in response.json()["rooms"] if r.get("member")]
        bench.record(
            {
                "scenario": "lobby",
                "server": site.name,
                "rooms": len(rooms),
                "messages_per_room": LOBBY_MESSAGES,
                "all_unread": all_unread,
                "unread_total": sum(r["unread"] for r in rooms),
                "requests": requests,
                "p50_ms": pct(latencies, 50) * 1000,
                "p99_ms": pct(latencies, 99) * 1000,
                "cpu_per_request_ms": cpu / requests * 1000,
            }
        )


class UserStream(Stream):
    """A user stream (GET /events/) counted like a room stream; ids are positions."""

    def __init__(self, counter: Counter, port: int, session: Session) -> None:
        super().__init__(counter, port, "-", session, keep_tags=True)
        self.path = "/events/"


async def userfanout(bench: Bench) -> None:
    from bench.scenarios import settle

    site = bench.site
    writer = site.prepared_usernames[0]
    users = 200 if bench.args.quick else FAN_USERS
    messages = 20 if bench.args.quick else 50
    made = run_populate(
        bench,
        {
            "kind": "userfanout",
            "writer": writer,
            "users": users,
            "rooms": FAN_ROOMS,
            "per_user": FAN_ROOMS_PER_USER,
        },
    )
    counter = Counter()
    streams: list[Stream] = [
        UserStream(counter, bench.port(site, i), Session(key, "none"))
        for i, key in enumerate(made["sessions"])
    ]
    opened = await open_streams(streams)
    await asyncio.sleep(1)
    poster = Poster(site.ports[0], site.sessions[0])
    slugs = sorted(made["members"])
    expected = sum(made["members"][slugs[k % len(slugs)]] for k in range(messages))
    starts: dict[int, float] = {}
    statuses: list[int] = []
    cpu0, t0 = site.cpu(), time.monotonic()
    for k in range(messages):
        await asyncio.sleep(max(0.0, t0 + k / 5.0 - time.monotonic()))
        starts[k] = time.monotonic()
        slug = slugs[k % len(slugs)]
        statuses.append(await poster.post(f"/rooms/{slug}/messages/", {"body": f"m{k}"}))
    await wait_until(lambda: counter.events >= expected, 30)
    cpu = site.cpu() - cpu0
    latencies = [
        t - starts[s.tags[seq]] for s in streams for seq, t in s.received_at if seq in s.tags
    ]
    close_streams(streams)
    await settle(site)
    # The same posts with no stream open: what posting costs by itself, taken off both
    # figures to compare what delivering costs.
    posts_cpu0, t0 = site.cpu(), time.monotonic()
    for k in range(messages):
        await asyncio.sleep(max(0.0, t0 + k / 5.0 - time.monotonic()))
        await poster.post(f"/rooms/{slugs[k % len(slugs)]}/messages/", {"body": f"q{k}"})
    posts_cpu = site.cpu() - posts_cpu0
    poster.close()
    per_room = await bench.fanout_run(site, users, messages, 5.0)
    bench.record(
        {
            "scenario": "userfanout",
            "server": site.name,
            "users": users,
            "opened": opened,
            "rooms": FAN_ROOMS,
            "rooms_per_user": FAN_ROOMS_PER_USER,
            "messages": messages,
            "posts_ok": sum(1 for s in statuses if s == 201),
            "expected": expected,
            "received": counter.events,
            "duplicates": counter.duplicates,
            "backwards": counter.backwards,
            "p50_ms": pct(latencies, 50) * 1000,
            "p99_ms": pct(latencies, 99) * 1000,
            "cpu_per_delivery_us": cpu / max(1, counter.events) * 1e6,
            "room_stream_cpu_per_delivery_us": per_room["cpu_per_delivery_us"],
            "room_stream_subscribers": per_room["subscribers"],
            "posting_cpu_per_post_ms": posts_cpu / messages * 1000,
            "net_cpu_per_delivery_us": (cpu - posts_cpu) / max(1, counter.events) * 1e6,
            "room_stream_net_cpu_per_delivery_us": (per_room["cpu_s"] - posts_cpu)
            / max(1, per_room["received"])
            * 1e6,
        }
    )


if __name__ == "__main__":
    print(json.dumps(populate(json.loads(sys.argv[1]))))
