"""Creating, joining and leaving rooms, and who may see which."""

import json

import pytest

from rooms.models import Membership, Room, RoomEvent
from tests.helpers import post_json

pytestmark = pytest.mark.django_db


def test_it_creates_a_room_owned_by_its_creator(as_carol, carol):
    response = post_json(
        as_carol, "/rooms/", {"slug": "book-club", "name": "Book club", "private": False}
    )
    assert response.status_code == 201
    assert response.json()["slug"] == "book-club"
    room = Room.objects.get(slug="book-club")
    assert room.owner == carol
    assert Membership.objects.get(room=room, user=carol).role == "owner"


def test_a_slug_defaults_the_name(as_carol):
    assert post_json(as_carol, "/rooms/", {"slug": "plain"}).json()["name"] == "plain"


@pytest.mark.parametrize(
    "slug",
    ["", "Upper", "with space", "-leading", "trailing-", "double--hyphen", "a" * 51, "ünï", "a/b"],
)
def test_it_rejects_a_bad_slug(as_carol, slug):
    response = post_json(as_carol, "/rooms/", {"slug": slug, "name": "x"})
    assert response.status_code == 400
    assert "error" in response.json()
    assert not Room.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        {"slug": "ok", "name": "x" * 81},
        {"slug": "ok", "private": "maybe"},
        {"slug": 3},
        {"slug": "ok", "name": ["x"]},
    ],
)
def test_it_rejects_bad_fields(as_carol, payload):
    assert post_json(as_carol, "/rooms/", payload).status_code == 400
    assert not Room.objects.exists()


def test_a_taken_slug_is_409(as_carol, lobby):
    response = post_json(as_carol, "/rooms/", {"slug": "lobby", "name": "Mine"})
    assert response.status_code == 409
    assert Room.objects.get(slug="lobby").name == "Lobby"


def test_anyone_can_join_a_public_room(as_carol, carol, lobby):
    response = as_carol.post("/rooms/lobby/join/")
    assert response.status_code == 201
    assert lobby.is_member(carol)
    assert RoomEvent.objects.filter(room=lobby).latest("seq").type == "member_joined"
    assert as_carol.post("/rooms/lobby/join/").status_code == 200  # already in


def test_a_private_room_cannot_be_joined_by_outsiders(as_carol, carol, secret):
    assert as_carol.post("/rooms/secret/join/").status_code == 404
    assert not secret.is_member(carol)


def test_a_member_can_leave(as_bob, bob, lobby):
    response = as_bob.post("/rooms/lobby/leave/")
    assert response.status_code == 200
    assert not lobby.is_member(bob)
    assert RoomEvent.objects.filter(room=lobby).latest("seq").type == "member_left"


def test_leaving_a_private_room_hides_it(as_bob, secret):
    assert as_bob.post("/rooms/secret/leave/").status_code == 200
    assert as_bob.get("/rooms/secret/messages/").status_code == 404


def test_the_owner_cannot_leave(as_alice, alice, lobby):
    assert as_alice.post("/rooms/lobby/leave/").status_code == 409
    assert lobby.is_member(alice)


def test_join_and_leave_need_post(as_carol, lobby):
    assert as_carol.get("/rooms/lobby/join/").status_code == 405
    assert as_carol.get("/rooms/lobby/leave/").status_code == 405


def test_the_owner_adds_members_to_a_private_room(as_alice, carol, secret):
    response = as_alice.post(
        "/rooms/secret/members/", json.dumps({"username": "carol"}), content_type="application/json"
    )
    assert response.status_code == 201
    assert secret.is_member(carol)


def test_only_the_owner_adds_members(as_bob, carol, secret):
    response = as_bob.post(
        "/rooms/secret/members/", json.dumps({"username": "carol"}), content_type="application/json"
    )
    assert response.status_code == 403
    assert not secret.is_member(carol)


def test_adding_an_unknown_user_is_400(as_alice, secret):
    response = as_alice.post(
        "/rooms/secret/members/",
        json.dumps({"username": "nobody"}),
        content_type="application/json",
    )
    assert response.status_code == 400


def test_the_room_list_shows_public_rooms_and_my_private_ones(as_bob, as_carol, lobby, secret):
    assert {r["slug"] for r in as_bob.get("/rooms/").json()["rooms"]} == {"lobby", "secret"}
    rooms = as_carol.get("/rooms/").json()["rooms"]
    assert [(r["slug"], r["member"]) for r in rooms] == [("lobby", False)]


def test_pages_render(as_bob, lobby, secret):
    assert as_bob.get("/").status_code == 200
    page = as_bob.get("/rooms/lobby/")
    assert page.status_code == 200
    assert f'data-last-event-id="{lobby.current_event_seq()}"' in page.content.decode()
    assert as_bob.get("/rooms/secret/people/").status_code == 200


def test_a_private_room_page_is_404_for_outsiders(as_carol, secret):
    assert as_carol.get("/rooms/secret/").status_code == 404
    assert as_carol.get("/rooms/nowhere/").status_code == 404


def test_signup_logs_the_new_user_in(client, db):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "dave",
            "password1": "a-long-passphrase-9",
            "password2": "a-long-passphrase-9",
        },
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_logout_ends_the_session(as_bob, lobby):
    assert as_bob.post("/accounts/logout/").status_code == 302
    assert as_bob.get("/rooms/lobby/messages/").status_code == 401
