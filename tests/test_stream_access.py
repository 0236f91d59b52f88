"""Who may open a room's stream, and what happens when access goes away."""

import pytest
from asgiref.sync import sync_to_async

from rooms.models import Room
from tests.helpers import Stream

pytestmark = pytest.mark.django_db(transaction=True)


async def test_anonymous_gets_401(lobby):
    async with Stream("lobby", None) as stream:
        await stream.read_to_end()
        assert stream.status == 401
        assert b"authentication required" in stream.body


async def test_an_unknown_room_is_404(bob, lobby):
    async with Stream("nowhere", bob) as stream:
        await stream.read_to_end()
        assert stream.status == 404


async def test_a_private_room_is_404_for_outsiders_like_a_missing_one(carol, secret):
    async with Stream("secret", carol) as hidden, Stream("nowhere", carol) as missing:
        await hidden.read_to_end()
        await missing.read_to_end()
        assert hidden.status == missing.status == 404
        assert hidden.body == missing.body


async def test_a_logged_in_user_can_read_a_public_room(carol, lobby, alice):
    async with Stream("lobby", carol) as stream:
        assert stream.status == 200
        await sync_to_async(lobby.post_message)(alice, "hello")
        events = await stream.read_events(1)
        assert events[0].json["body"] == "hello"


async def test_the_channel_cannot_be_picked_with_a_query(bob, carol, lobby, secret, alice):
    # Carol asks for the private room's channel while reading the public one.
    query = {"channel": f"room-{secret.pk}"}
    async with Stream("lobby", carol, query=query) as stream:
        await sync_to_async(secret.post_message)(alice, "secret stuff")
        await sync_to_async(lobby.post_message)(alice, "public stuff")
        events = await stream.read_events(1)
        await stream.expect_nothing(0.3)
        assert [e.json["body"] for e in events] == ["public stuff"]


async def test_removal_from_a_private_room_closes_the_stream(bob, secret, alice):
    async with Stream("secret", bob) as stream:
        await sync_to_async(secret.remove_member)(bob)
        await sync_to_async(secret.post_message)(alice, "after bob left")
        await stream.read_to_end()
        assert stream.events[-1].type == "revoked"
        # Nothing posted after the removal reaches bob.
        assert [e.type for e in stream.events if e.type == "message"] == []


async def test_others_keep_their_stream_when_someone_is_removed(bob, secret, alice):
    async with Stream("secret", alice) as stream:
        await sync_to_async(secret.remove_member)(bob)
        await sync_to_async(secret.post_message)(alice, "still here")
        events = await stream.read_events(2)
        assert [e.type for e in events] == ["member_left", "message"]


@pytest.mark.parametrize(
    ("who", "slug", "expected"),
    [
        ("bob", "secret", "read"),  # a member of a private room
        ("carol", "secret", (404, "no such room")),  # an outsider of it
        ("carol", "nowhere", (404, "no such room")),
        ("bob", "lobby", (403, "you are banned from this room")),
    ],
)
def test_a_connect_reads_the_session_the_user_and_the_room_with_access_in_three_queries(
    who, slug, expected, lobby, secret, bob, carol
):
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from rooms import moderation
    from rooms.models import Restriction
    from rooms.stream.consumer import _connect

    moderation.restrict(lobby.owner, lobby, bob, Restriction.BAN)
    user = User.objects.get(username=who)
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    scope = {"type": "http", "headers": [(b"cookie", cookie)], "path": f"/rooms/{slug}/events/"}
    with CaptureQueriesContext(connection) as queries:
        loaded, _, access = _connect(scope, slug)
    assert loaded == user
    if expected == "read":
        room = Room.objects.get(slug=slug)
        assert access == (room.pk, f"room-{room.pk}", room.last_event_seq)
    else:
        assert access == expected
    # The session, its user, then the room with the user's standing in it (for_reader).
    assert len(queries) == 3, [q["sql"] for q in queries]


@pytest.mark.parametrize("slug", ["lobby", None])
@pytest.mark.parametrize("through_the_routers", [False, "a body", "a path prefix"])
async def test_a_stream_is_the_same_whichever_way_it_is_routed(
    slug, through_the_routers, lobby, bob, alice, monkeypatch
):
    """A GET without a body goes straight to the stream's consumer (chatsite/asgi.py); one
    that declares a body, or one served under a path prefix, goes through the body limit
    and the routers, to the same one."""
    from chatsite import asgi

    routed = []
    routes = asgi.limited_routes

    async def watched_routes(scope, receive, send):
        routed.append(scope["path"])
        await routes(scope, receive, send)

    monkeypatch.setattr(asgi, "limited_routes", watched_routes)
    stream = Stream(slug, bob)
    if through_the_routers == "a body":
        stream.scope["headers"].append((b"content-length", b"0"))
    elif through_the_routers == "a path prefix":
        # One that looks like a room's stream path once the prefix is put before it.
        stream.scope["root_path"] = "/rooms/lobby"
        stream.scope["path"] = "/rooms/lobby" + stream.scope["path"]
    async with stream:
        assert stream.status == 200
        assert stream.headers[b"x-frame-options"] == b"DENY"
        await sync_to_async(lobby.post_message)(alice, "hello")
        [event] = await stream.read_until(lambda events: events)
        assert "hello" in event.data
    assert bool(routed) is bool(through_the_routers)
