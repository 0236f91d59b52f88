"""Read positions (POST /rooms/<slug>/read/) and unread counts (GET /rooms/)."""

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rooms.models import Room
from rooms.models.rooms import MAX_UNREAD_COUNTED
from rooms.moderation import actions
from tests.conftest import client_for
from tests.helpers import Stream, post_json, wait_for_user_streams


def listed(client, slug):
    rooms = {room["slug"]: room for room in client.get("/rooms/").json()["rooms"]}
    return rooms[slug]


@pytest.mark.django_db
def test_unread_counts_others_messages_after_the_read_position(lobby, alice, bob, as_bob, mod):
    lobby.post_message(bob, "my own")
    messages = [lobby.post_message(alice, f"m{i}")[0] for i in range(5)]
    messages[0].erase()
    actions.remove_message(mod, messages[1], reason="spam")
    state = listed(as_bob, "lobby")
    # Not bob's own, not the deleted one, not the removed one.
    assert state["unread"] == 3
    assert state["last_read"] == 0
    assert state["latest"] == messages[-1].pk
    response = post_json(as_bob, "/rooms/lobby/read/", {"up_to": messages[2].pk})
    assert response.status_code == 200
    assert response.json() == {
        "room": "lobby",
        "last_read": messages[2].pk,
        "unread": 2,
        "latest": messages[-1].pk,
        "mentions": 0,
        "notify": "default",
    }
    assert listed(as_bob, "lobby")["unread"] == 2


@pytest.mark.django_db
def test_the_read_position_only_moves_forward(lobby, alice, as_bob):
    first, _ = lobby.post_message(alice, "one")
    second, _ = lobby.post_message(alice, "two")
    post_json(as_bob, "/rooms/lobby/read/", {"up_to": second.pk})
    response = post_json(as_bob, "/rooms/lobby/read/", {"up_to": first.pk})
    assert response.status_code == 200
    assert response.json()["last_read"] == second.pk


@pytest.mark.django_db
def test_a_new_member_has_nothing_unread_from_before(lobby, alice, carol, as_carol):
    lobby.post_message(alice, "old news")
    lobby.add_member(carol)
    assert listed(as_carol, "lobby")["unread"] == 0
    lobby.post_message(alice, "news")
    assert listed(as_carol, "lobby")["unread"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "status", "error"),
    [
        ({}, 400, "up_to is required"),
        ({"up_to": "x"}, 400, "up_to must be an integer"),
        ({"up_to": 1.5}, 400, "up_to must be an integer"),
        ({"up_to": True}, 400, "up_to must be an integer"),
        ({"up_to": 10**12}, 400, "up_to is not a message of this room"),
    ],
)
def test_bad_read_positions_are_400(lobby, alice, as_bob, payload, status, error):
    lobby.post_message(alice, "one")
    response = post_json(as_bob, "/rooms/lobby/read/", payload)
    assert (response.status_code, response.json()["error"]) == (status, error)


@pytest.mark.django_db
def test_a_message_of_another_room_is_400_and_outsiders_get_404(
    lobby, secret, alice, as_bob, as_carol
):
    elsewhere, _ = secret.post_message(alice, "in secret")
    response = post_json(as_bob, "/rooms/lobby/read/", {"up_to": elsewhere.pk})
    assert response.status_code == 400
    assert post_json(as_carol, "/rooms/secret/read/", {"up_to": elsewhere.pk}).status_code == 404
    # A public room carol is not a member of: no read position to move.
    here, _ = lobby.post_message(alice, "hi")
    response = post_json(as_carol, "/rooms/lobby/read/", {"up_to": here.pk})
    assert (response.status_code, response.json()["error"]) == (403, "join the room first")


@pytest.mark.django_db
def test_unread_counts_are_capped(lobby, alice, as_bob, settings):
    Room.objects.filter(pk=lobby.pk)  # the cap is a constant: check it is the one counted
    for i in range(3):
        lobby.post_message(alice, f"m{i}")
    import rooms.models.rooms as module

    original = module.MAX_UNREAD_COUNTED
    module.MAX_UNREAD_COUNTED = 2
    try:
        assert listed(as_bob, "lobby")["unread"] == 2
    finally:
        module.MAX_UNREAD_COUNTED = original
    assert MAX_UNREAD_COUNTED == 1000


@pytest.mark.django_db
def test_the_room_list_takes_the_same_queries_for_one_room_or_twenty(alice, bob, as_bob):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert as_bob.get("/rooms/").status_code == 200
        return len(queries)

    Room.objects.create_with_owner(alice, slug="r0", name="r0").add_member(bob)
    post_json(client_for(alice), "/dms/", {"usernames": ["bob"]})
    few = count()
    for i in range(1, 20):
        room = Room.objects.create_with_owner(alice, slug=f"r{i}", name=f"r{i}")
        room.add_member(bob)
        room.post_message(alice, "hi")
    for name in ("carol", "dave"):
        from django.contrib.auth.models import User

        User.objects.create_user(name)
        post_json(as_bob, "/dms/", {"usernames": [name]})
    assert count() == few
    rooms = as_bob.get("/rooms/").json()["rooms"]
    assert len(rooms) == 23
    assert all(
        room["unread"] == 1
        for room in rooms
        if room["slug"].startswith("r") and room["slug"] != "r0"
    )


@pytest.mark.django_db(transaction=True)
async def test_a_read_in_one_tab_reaches_the_others(lobby, alice, bob):
    message, _ = await sync_to_async(lobby.post_message)(alice, "read me")
    bobs = await sync_to_async(client_for)(bob)
    async with Stream(None, bob) as one, Stream(None, bob) as two:
        await wait_for_user_streams(bob.pk, 2)
        response = await sync_to_async(post_json)(bobs, "/rooms/lobby/read/", {"up_to": message.pk})
        assert response.status_code == 200
        for tab in (one, two):
            (event,) = await tab.read_events(1)
            assert event.type == "read"
            assert event.json == {
                "room": "lobby",
                "last_read": message.pk,
                "unread": 0,
                "latest": message.pk,
                "mentions": 0,
                "notify": "default",
            }
        # Reading up to where one already read moves nothing and tells nobody.
        await sync_to_async(post_json)(bobs, "/rooms/lobby/read/", {"up_to": message.pk})
        await one.expect_nothing(0.3)
