"""Posting, editing, deleting and reading messages through the JSON endpoints."""

import json

import pytest

from rooms.models import MAX_MESSAGE_LENGTH, Message, RoomEvent
from tests.conftest import client_for
from tests.helpers import post_message as post

pytestmark = pytest.mark.django_db


def counts():
    return Message.objects.count(), RoomEvent.objects.count()


def test_it_posts_a_message(as_bob, lobby):
    response = post(as_bob, "lobby", {"body": "  hello there  "})
    assert response.status_code == 201
    data = response.json()
    assert data["body"] == "hello there"
    assert data["author"] == "bob"
    assert data["room"] == "lobby"
    assert {"id", "created", "edited", "deleted"} <= data.keys()
    message = Message.objects.get(pk=data["id"])
    assert message.body == "hello there"
    event = RoomEvent.objects.get(room=lobby, seq=lobby.current_event_seq())
    assert event.type == "message"
    assert json.loads(event.data)["id"] == message.pk


def test_it_posts_a_message_as_a_form(as_bob, lobby):
    response = as_bob.post("/rooms/lobby/messages/", {"body": "from a form"})
    assert response.status_code == 201
    assert Message.objects.get().body == "from a form"


def test_it_numbers_events_without_holes(as_bob, lobby):
    for i in range(5):
        assert post(as_bob, "lobby", {"body": f"m{i}"}).status_code == 201
    seqs = list(RoomEvent.objects.filter(room=lobby).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert lobby.current_event_seq() == seqs[-1]


def test_a_retried_post_with_the_same_key_creates_one_message(as_bob, lobby):
    first = post(as_bob, "lobby", {"body": "once", "client_id": "key-1"})
    before = counts()
    again = post(as_bob, "lobby", {"body": "once", "client_id": "key-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert counts() == before
    assert Message.objects.filter(client_id="key-1").count() == 1


def test_the_same_key_from_two_people_makes_two_messages(as_alice, as_bob, lobby):
    post(as_alice, "lobby", {"body": "a", "client_id": "same"})
    post(as_bob, "lobby", {"body": "b", "client_id": "same"})
    assert Message.objects.count() == 2


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"body": ""}, "body must not be empty"),
        ({"body": "   \n "}, "body must not be empty"),
        ({"body": "x" * (MAX_MESSAGE_LENGTH + 1)}, f"longer than {MAX_MESSAGE_LENGTH}"),
        ({}, "body is required"),
        ({"body": 12}, "body must be a string"),
        ({"body": ["a"]}, "body must be a string"),
        ({"body": "bell \x07"}, "control characters"),
        ({"body": "ok", "client_id": 5}, "client_id must be a string"),
        ({"body": "ok", "client_id": "has spaces in it"}, "client_id is 1-64"),
    ],
)
def test_it_rejects_a_bad_body(as_bob, lobby, payload, reason):
    before = counts()
    response = post(as_bob, "lobby", payload)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert counts() == before


def test_a_message_of_the_maximum_length_is_accepted(as_bob, lobby):
    assert post(as_bob, "lobby", {"body": "x" * MAX_MESSAGE_LENGTH}).status_code == 201


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"\xff\xfe", "not valid UTF-8"),
    ],
)
def test_it_rejects_a_malformed_body(as_bob, lobby, body, reason):
    before = counts()
    response = as_bob.post("/rooms/lobby/messages/", body, content_type="application/json")
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert counts() == before


def test_posting_to_an_unknown_room_is_404(as_bob, lobby):
    response = post(as_bob, "nowhere", {"body": "hi"})
    assert response.status_code == 404
    assert response.json() == {"error": "no such room"}


def test_a_private_room_looks_missing_to_a_non_member(as_carol, secret):
    before = counts()
    missing = post(as_carol, "nowhere", {"body": "hi"})
    hidden = post(as_carol, "secret", {"body": "hi"})
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    assert as_carol.get("/rooms/secret/messages/").status_code == 404
    assert counts() == before


def test_a_non_member_cannot_post_in_a_public_room(as_carol, lobby):
    before = counts()
    response = post(as_carol, "lobby", {"body": "hi"})
    assert response.status_code == 403
    assert response.json() == {"error": "join the room first"}
    assert counts() == before


def test_anonymous_json_requests_get_401(client, lobby):
    before = counts()
    assert post(client, "lobby", {"body": "hi"}).status_code == 401
    assert client.get("/rooms/lobby/messages/").status_code == 401
    assert client.get("/rooms/").status_code == 401
    assert counts() == before


def test_anonymous_pages_redirect_to_login(client, lobby):
    response = client.get("/rooms/lobby/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert client.get("/").status_code == 302


def test_a_post_without_csrf_token_is_refused(bob, lobby):
    strict = client_for(bob, enforce_csrf=True)
    before = counts()
    response = post(strict, "lobby", {"body": "hi"})
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]
    assert counts() == before


def test_a_post_with_the_csrf_header_is_accepted(bob, lobby):
    strict = client_for(bob, enforce_csrf=True)
    strict.get("/rooms/lobby/")  # sets the csrftoken cookie
    token = strict.cookies["csrftoken"].value
    assert post(strict, "lobby", {"body": "hi"}, HTTP_X_CSRFTOKEN=token).status_code == 201


def test_it_edits_a_message(as_bob, lobby):
    message_id = post(as_bob, "lobby", {"body": "frist"}).json()["id"]
    response = as_bob.patch(
        f"/rooms/lobby/messages/{message_id}/", {"body": "first"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["body"] == "first"
    assert response.json()["edited"] is not None
    event = RoomEvent.objects.filter(room=lobby).latest("seq")
    assert event.type == "message_edited"
    assert json.loads(event.data)["body"] == "first"


def test_editing_someone_elses_message_is_403(as_alice, as_bob, lobby):
    message_id = post(as_bob, "lobby", {"body": "mine"}).json()["id"]
    before = counts()
    url = f"/rooms/lobby/messages/{message_id}/"
    assert (
        as_alice.patch(url, {"body": "hacked"}, content_type="application/json").status_code == 403
    )
    assert as_alice.delete(url).status_code == 403
    assert Message.objects.get(pk=message_id).body == "mine"
    assert counts() == before


def test_an_edit_is_validated_like_a_post(as_bob, lobby):
    message_id = post(as_bob, "lobby", {"body": "keep"}).json()["id"]
    before = counts()
    url = f"/rooms/lobby/messages/{message_id}/"
    assert as_bob.patch(url, {"body": ""}, content_type="application/json").status_code == 400
    assert as_bob.patch(url, b"{", content_type="application/json").status_code == 400
    assert Message.objects.get(pk=message_id).body == "keep"
    assert counts() == before


def test_delete_leaves_a_tombstone(as_bob, lobby):
    message_id = post(as_bob, "lobby", {"body": "oops"}).json()["id"]
    response = as_bob.delete(f"/rooms/lobby/messages/{message_id}/")
    assert response.status_code == 200
    assert response.json()["deleted"] is True
    message = Message.objects.get(pk=message_id)
    assert message.deleted_at is not None
    assert message.body == ""
    event = RoomEvent.objects.filter(room=lobby).latest("seq")
    assert event.type == "message_deleted"
    assert json.loads(event.data) == {"id": message_id, "room": "lobby", "deleted": True}
    history = as_bob.get("/rooms/lobby/messages/").json()["messages"]
    assert [(m["id"], m["deleted"], m["body"]) for m in history] == [(message_id, True, "")]


def test_a_deleted_message_cannot_be_edited(as_bob, lobby):
    message_id = post(as_bob, "lobby", {"body": "gone"}).json()["id"]
    url = f"/rooms/lobby/messages/{message_id}/"
    as_bob.delete(url)
    before = counts()
    assert as_bob.patch(url, {"body": "back"}, content_type="application/json").status_code == 409
    assert as_bob.delete(url).status_code == 409
    assert counts() == before


def test_a_message_of_another_room_is_404(as_bob, lobby, secret):
    message_id = post(as_bob, "secret", {"body": "here"}).json()["id"]
    assert as_bob.get(f"/rooms/lobby/messages/{message_id}/").status_code == 404


class TestHistory:
    @pytest.fixture
    def messages(self, as_bob, lobby):
        return [post(as_bob, "lobby", {"body": f"m{i}"}).json()["id"] for i in range(7)]

    def test_it_returns_the_newest_page_first(self, as_bob, messages):
        page = as_bob.get("/rooms/lobby/messages/?limit=3").json()
        assert [m["id"] for m in page["messages"]] == messages[-3:]
        assert page["has_more"] is True

    def test_it_pages_back_with_before(self, as_bob, messages):
        seen: list[int] = []
        before = ""
        while True:
            page = as_bob.get(f"/rooms/lobby/messages/?limit=3&before={before}").json()
            seen = [m["id"] for m in page["messages"]] + seen
            if not page["has_more"]:
                break
            before = page["messages"][0]["id"]
        assert seen == messages

    def test_it_pages_forward_with_after(self, as_bob, messages):
        page = as_bob.get(f"/rooms/lobby/messages/?after={messages[1]}&limit=2").json()
        assert [m["id"] for m in page["messages"]] == messages[2:4]
        assert page["has_more"] is True

    def test_it_gives_the_event_id_to_resume_from(self, as_bob, lobby, messages):
        page = as_bob.get("/rooms/lobby/messages/").json()
        assert page["last_event_id"] == lobby.current_event_seq()

    @pytest.mark.parametrize(
        "query",
        [
            "limit=0",
            "limit=201",
            "limit=abc",
            "before=-1",
            "after=1e3",
            "before=99999999999999999999999",
            "before=1&after=2",
        ],
    )
    def test_it_rejects_bad_parameters(self, as_bob, messages, query):
        response = as_bob.get(f"/rooms/lobby/messages/?{query}")
        assert response.status_code == 400
        assert "error" in response.json()


def test_a_ban_that_lands_after_the_views_check_still_stops_the_post(
    as_bob, lobby, alice, bob, monkeypatch
):
    # A browser's own form post takes the sync way: the view lets bob in; a moderator's ban
    # commits before his post is written. The post's own transaction checks again, under
    # the room's lock. (Other posts read the room, the standing and write in one transaction
    # of the writer's: test_the_writers_post_reads_its_checks_in_its_own_transaction.)
    from rooms import moderation
    from rooms.http import readable_room as real

    def check_then_ban(request, slug, **kwargs):
        room = real(request, slug, **kwargs)
        moderation.restrict(alice, lobby, bob, "ban")
        return room

    monkeypatch.setattr("rooms.api.readable_room", check_then_ban)
    before = Message.objects.count()
    response = as_bob.post(
        "/rooms/lobby/messages/", {"body": "slipping through?"}, HTTP_ACCEPT="text/html"
    )
    assert response.status_code == 303
    assert Message.objects.count() == before


def test_the_writers_post_reads_the_standing_with_the_room(alice, bob, carol, lobby):
    # One query gives the room and the poster's role, ban and mute, in the post's transaction.
    from django.db import transaction

    from rooms import moderation
    from rooms.models import Room

    moderation.restrict(alice, lobby, bob, "mute")
    with transaction.atomic():
        as_bob = Room.objects.for_writer("lobby", bob)
        as_carol = Room.objects.for_writer("lobby", carol)
        missing = Room.objects.for_writer("nowhere", bob)
    assert missing is None
    assert as_bob is not None and as_bob.standing is not None
    assert as_bob.standing.role == "member" and not as_bob.standing.banned
    assert as_bob.standing.mute_id is not None
    assert as_carol is not None and as_carol.standing is not None
    assert (as_carol.standing.role, as_carol.standing.banned, as_carol.standing.mute_id) == (
        None,
        False,
        None,
    )


def test_a_browsers_own_form_post_is_answered_with_the_room_page(as_bob, lobby):
    # Without JavaScript the form's post is a 303 back to the room (the sync way, not the
    # writer's), whatever the answer: the message, or the refusal shown on the page.
    response = as_bob.post("/rooms/lobby/messages/", {"body": "no script"}, HTTP_ACCEPT="text/html")
    assert response.status_code == 303
    assert response["Location"] == "/rooms/lobby/"
    assert Message.objects.get().body == "no script"
    refused = as_bob.post("/rooms/lobby/messages/", {"body": ""}, HTTP_ACCEPT="text/html")
    assert (refused.status_code, refused["Location"]) == (303, "/rooms/lobby/")
