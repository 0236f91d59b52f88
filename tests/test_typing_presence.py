"""Typing and presence (rooms/presence.py): ephemeral events that reach the room's readers
through the fan-out backend, carry no id, add no row, never come back in a replay, are
rate-limited, expire on their own and are never sent for someone who does not share them.

alice (owner) and bob (member) are in the lobby and the secret room; carol reads the public
lobby without being a member and cannot see the secret room.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from asgiref.sync import sync_to_async
from django.apps import apps
from django.conf import settings as django_settings

from rooms.events import get_backend
from rooms.models import Preferences, Restriction
from rooms.moderation import restrict
from rooms.stream.backends.local import LocalPresence
from rooms.stream.backends.redis import (
    ACTIVE_KEY_PREFIX,
    PRESENCE_KEY_PREFIX,
    RedisPresence,
    quick_client,
)
from tests.conftest import client_for
from tests.helpers import Stream, post_json, wait_for_subscribers, wait_for_user_streams
from tests.sse import SSEEvent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_presence() -> Iterator[None]:
    """A backend of the test's own: no presence left over from an earlier test's rooms."""

    def clear() -> None:
        get_backend.cache_clear()
        if os.environ.get("REDIS_URL"):
            client = redis.Redis.from_url(os.environ["REDIS_URL"])
            for prefix in (PRESENCE_KEY_PREFIX, ACTIVE_KEY_PREFIX):
                for key in client.scan_iter(f"{prefix}*"):
                    client.delete(key)
            client.close()

    clear()
    yield
    clear()


async def logged_in(user: Any) -> Any:
    return await sync_to_async(client_for)(user)


def typing(client: Any, slug: str) -> Any:
    return post_json(client, f"/rooms/{slug}/typing/")


def report(client: Any, slug: str, tab: str = "tab-1", here: bool = True) -> Any:
    return post_json(client, f"/rooms/{slug}/presence/", {"tab": tab, "here": here})


def ephemeral(events: list[SSEEvent]) -> list[SSEEvent]:
    return [e for e in events if e.type in ("typing", "presence")]


def row_counts() -> dict[str, int]:
    """The number of rows of every table of the project's models."""
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


async def test_typing_reaches_a_members_user_stream_and_a_readers_room_stream_without_an_id(
    lobby, alice, bob, carol
):
    as_alice = await logged_in(alice)
    async with Stream(None, bob) as bobs, Stream("lobby", carol) as carols:
        await wait_for_user_streams(bob.pk)
        await wait_for_subscribers(lobby.pk)
        response = await sync_to_async(typing)(as_alice, "lobby")
        assert response.status_code == 204
        for stream in (bobs, carols):
            [event] = await stream.read_events(1)
            assert event.type == "typing"
            assert event.id is None
            assert event.json == {"room": "lobby", "user": "alice", "seconds": 6}
    # The same bytes on both kinds of stream: encoded once.
    assert bobs.body.split(b"\n\n")[-2] == carols.body.split(b"\n\n")[-2]


async def test_typing_and_presence_add_no_rows(lobby, alice, bob):
    as_alice, as_bob = await logged_in(alice), await logged_in(bob)
    before = await sync_to_async(row_counts)()
    assert (await sync_to_async(typing)(as_alice, "lobby")).status_code == 204
    assert (await sync_to_async(report)(as_alice, "lobby")).status_code == 200
    assert (await sync_to_async(report)(as_bob, "lobby", here=False)).status_code == 200
    assert (await sync_to_async(as_bob.get)("/rooms/lobby/presence/")).status_code == 200
    after = await sync_to_async(row_counts)()
    assert after == before
    assert after["rooms.RoomEvent"] > 0  # the tables counted are the real ones


async def test_typing_never_comes_back_in_a_replay(lobby, alice, bob):
    as_alice = await logged_in(alice)
    async with Stream(None, bob) as bobs, Stream("lobby", bob) as rooms:
        await wait_for_user_streams(bob.pk)
        await wait_for_subscribers(lobby.pk)
        await sync_to_async(lobby.post_message)(alice, "before")
        assert (await sync_to_async(typing)(as_alice, "lobby")).status_code == 204
        await sync_to_async(lobby.post_message)(alice, "after")
        live = await bobs.read_events(3)
        room_live = await rooms.read_events(3)
    assert [e.type for e in live] == [e.type for e in room_live] == ["message", "typing", "message"]
    # Reconnect from before the first message: the messages come back, the typing never.
    first = live[0]
    async with (
        Stream(None, bob, last_event_id=str(int(first.id or 0) - 1)) as again,
        Stream("lobby", bob, last_event_id=str(int(room_live[0].id or 0) - 1)) as room_again,
    ):
        replayed = await again.read_events(2)
        room_replayed = await room_again.read_events(2)
        await again.expect_nothing(0.3)
        await room_again.expect_nothing(0.1)
    assert [e.type for e in replayed] == [e.type for e in room_replayed] == ["message", "message"]


async def test_typing_in_a_room_one_cannot_read_is_404_and_reaches_nobody(secret, alice, carol):
    as_carol = await logged_in(carol)
    async with Stream("secret", alice) as alices:
        await wait_for_subscribers(secret.pk)
        hidden = await sync_to_async(typing)(as_carol, "secret")
        missing = await sync_to_async(typing)(as_carol, "no-such-room")
        assert hidden.status_code == missing.status_code == 404
        assert hidden.content == missing.content
        await alices.expect_nothing(0.3)


def test_only_who_may_write_may_type(lobby, alice, bob, carol):
    restrict(alice, lobby, bob, Restriction.MUTE)
    muted = typing(client_for(bob), "lobby")
    assert muted.status_code == 403
    assert "muted" in muted.json()["error"]
    reader = typing(client_for(carol), "lobby")  # may read the lobby, is not a member
    assert reader.status_code == 403
    assert reader.json() == {"error": "join the room first"}


async def test_a_flood_of_typing_is_429_and_only_the_first_signal_reaches_others(lobby, alice, bob):
    as_alice = await logged_in(alice)
    async with Stream(None, bob) as bobs:
        await wait_for_user_streams(bob.pk)
        statuses = [(await sync_to_async(typing)(as_alice, "lobby")) for _ in range(5)]
        assert [r.status_code for r in statuses] == [204, 429, 429, 429, 429]
        assert 1 <= int(statuses[1]["Retry-After"]) <= 3
        assert "at most one per 3 seconds" in statuses[1].json()["error"]
        await bobs.read_events(1)
        await bobs.expect_nothing(0.5)
    assert [e.type for e in bobs.events] == ["typing"]


def test_typing_may_signal_again_once_the_interval_has_passed(settings, lobby, alice):
    settings.CHAT_TYPING_INTERVAL_SECONDS = 1
    as_alice = client_for(alice)
    assert typing(as_alice, "lobby").status_code == 204
    assert typing(as_alice, "lobby").status_code == 429
    time.sleep(1.1)
    assert typing(as_alice, "lobby").status_code == 204


async def test_who_does_not_share_presence_is_never_sent_nor_listed(lobby, alice, bob):
    await sync_to_async(Preferences.objects.create)(user=alice, share_presence=False)
    as_alice, as_bob = await logged_in(alice), await logged_in(bob)
    async with Stream(None, bob) as bobs:
        await wait_for_user_streams(bob.pk)
        assert (await sync_to_async(typing)(as_alice, "lobby")).status_code == 204
        reported = await sync_to_async(report)(as_alice, "lobby")
        assert reported.status_code == 200
        await bobs.expect_nothing(0.5)
        # bob sees himself only; alice sees the list too, without herself.
        listed = await sync_to_async(report)(as_bob, "lobby")
        assert listed.json() == {"room": "lobby", "here": ["bob"], "recent": []}
        [event] = await bobs.read_events(1)
        assert event.json["here"] == ["bob"]
    seen_by_alice = await sync_to_async(as_alice.get)("/rooms/lobby/presence/")
    assert seen_by_alice.json()["here"] == ["bob"]


async def test_presence_lists_who_is_here_and_drops_who_left_after_the_grace(
    settings, lobby, alice, bob
):
    settings.CHAT_PRESENCE_GRACE_SECONDS = 1
    as_alice, as_bob = await logged_in(alice), await logged_in(bob)
    async with Stream(None, bob) as bobs:
        await wait_for_user_streams(bob.pk)
        first = await sync_to_async(report)(as_alice, "lobby", "alices-tab")
        assert first.json() == {"room": "lobby", "here": ["alice"], "recent": []}
        [came] = await bobs.read_events(1)
        assert (came.type, came.id, came.json["here"]) == ("presence", None, ["alice"])
        # A second tab of alice's, and a heartbeat: nothing changes, nothing is sent.
        await sync_to_async(report)(as_alice, "lobby", "alices-other-tab")
        await sync_to_async(report)(as_alice, "lobby", "alices-tab")
        both = await sync_to_async(report)(as_bob, "lobby", "bobs-tab")
        assert both.json()["here"] == ["alice", "bob"]
        await bobs.read_events(2)
        # Closing one of her tabs leaves her here; closing the other, gone after the grace.
        await sync_to_async(report)(as_alice, "lobby", "alices-tab", here=False)
        await sync_to_async(report)(as_alice, "lobby", "alices-other-tab", here=False)
        still = await sync_to_async(report)(as_bob, "lobby", "bobs-tab")
        assert still.json()["here"] == ["alice", "bob"]
        await asyncio.sleep(1.1)
        gone = await sync_to_async(report)(as_bob, "lobby", "bobs-tab")
        assert gone.json() == {"room": "lobby", "here": ["bob"], "recent": ["alice"]}
        events = await bobs.read_events(3)
        await bobs.expect_nothing(0.3)
    assert [e.json["here"] for e in ephemeral(events)] == [["alice"], ["alice", "bob"], ["bob"]]
    assert all(e.id is None for e in events)


async def test_presence_expires_when_a_page_stops_reporting(settings, lobby, alice, bob):
    settings.CHAT_PRESENCE_TTL_SECONDS = 1
    as_alice, as_bob = await logged_in(alice), await logged_in(bob)
    await sync_to_async(report)(as_alice, "lobby")  # and then her browser dies: no goodbye
    async with Stream("lobby", bob) as bobs:
        await wait_for_subscribers(lobby.pk)
        here = await sync_to_async(as_bob.get)("/rooms/lobby/presence/")
        assert here.json()["here"] == ["alice"]
        await asyncio.sleep(1.1)
        gone = await sync_to_async(as_bob.get)("/rooms/lobby/presence/")
        assert gone.json()["here"] == []
        [event] = await bobs.read_events(1)
        assert (event.type, event.id, event.json["here"]) == ("presence", None, [])
        # Swept once: the next look sends nothing.
        await sync_to_async(as_bob.get)("/rooms/lobby/presence/")
        await bobs.expect_nothing(0.3)


def test_presence_of_a_room_one_cannot_read_is_404(secret, carol):
    as_carol = client_for(carol)
    for answer in (as_carol.get("/rooms/secret/presence/"), report(as_carol, "secret")):
        assert answer.status_code == 404


def test_a_presence_report_needs_a_tab_id(lobby, bob):
    as_bob = client_for(bob)
    for payload in ({}, {"tab": ""}, {"tab": "x" * 65}, {"tab": "no spaces"}, {"tab": 5}):
        answer = post_json(as_bob, "/rooms/lobby/presence/", payload)
        assert answer.status_code == 400, payload
    assert post_json(as_bob, "/rooms/lobby/presence/", {"tab": "t", "who": 1}).status_code == 400


def test_a_reader_who_is_not_a_member_is_listed_too(lobby, carol):
    assert report(client_for(carol), "lobby").json()["here"] == ["carol"]


def test_who_loses_access_drops_out_of_the_list_at_once(lobby, secret, alice, bob, carol):
    as_alice = client_for(alice)
    assert report(client_for(carol), "lobby").json()["here"] == ["carol"]
    assert report(client_for(bob), "secret").json()["here"] == ["bob"]

    restrict(alice, lobby, carol, Restriction.BAN, None, "")  # banned from a public room
    secret.remove_member(bob)  # removed from a private one

    # Their reports still hold in the store; the list asks the access rule.
    assert report(as_alice, "lobby").json()["here"] == ["alice"]
    assert report(as_alice, "secret").json() == {"room": "secret", "here": ["alice"], "recent": []}
    assert as_alice.get("/rooms/lobby/presence/").json()["recent"] == []


# The presence store's contract, for each backend's store, on a clock the test sets.

STORES = [
    pytest.param("local", id="local"),
    pytest.param(
        "redis",
        id="redis",
        marks=pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL"),
    ),
]


@pytest.fixture(params=STORES)
def store(request) -> Any:
    if request.param == "local":
        return LocalPresence()
    return RedisPresence(quick_client(django_settings.REDIS_URL))


ROOM = 10**9  # no room of the database: the store knows ids only


def test_the_store_says_who_came_and_who_went_once(store):
    now = 1_000_000.0
    assert store.report(ROOM, 1, "a", now + 10, now) is True
    assert store.report(ROOM, 1, "b", now + 10, now) is False  # another tab: already here
    assert store.report(ROOM, 2, "a", now + 5, now) is True
    assert store.here(ROOM, now + 1) == {1, 2}
    store.leave(ROOM, 1, "a", now + 2)
    store.leave(ROOM, 1, "zzz", now)  # no such tab: nothing happens
    assert store.sweep(ROOM, now + 3) == set()  # tab b still holds
    assert store.here(ROOM, now + 3) == {1, 2}
    assert store.sweep(ROOM, now + 6) == {2}
    assert store.sweep(ROOM, now + 6) == set()  # each departure once
    assert store.here(ROOM, now + 6) == {1}
    store.leave(ROOM, 1, "b", now + 100)  # a leave never makes a report last longer
    assert store.sweep(ROOM, now + 11) == {1}
    assert store.here(ROOM, now + 11) == set()
    assert store.report(ROOM, 1, "a", now + 20, now + 12) is True  # back again


def test_the_store_remembers_who_was_active(store):
    now = 2_000_000.0
    store.mark_active(ROOM + 1, 1, now)
    store.mark_active(ROOM + 1, 2, now + 5)
    assert store.active_since(ROOM + 1, now) == {1, 2}
    assert store.active_since(ROOM + 1, now + 1) == {2}


def test_an_unreachable_redis_lists_nobody_and_raises_nothing():
    from tests.live import free_port

    store = RedisPresence(quick_client(f"redis://127.0.0.1:{free_port()}/0"))  # nobody there
    now = 3_000_000.0
    started = time.monotonic()
    assert store.report(ROOM, 1, "a", now + 10, now) is False
    store.leave(ROOM, 1, "a", now)
    store.mark_active(ROOM, 1, now)
    assert store.sweep(ROOM, now) == set()
    assert store.here(ROOM, now) == set()
    assert store.active_since(ROOM, now) == set()
    assert time.monotonic() - started < 1  # no retries, no wait on each call
