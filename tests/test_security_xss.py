"""What people type is shown as text everywhere: pages, the admin, live events."""

import json

import pytest
from asgiref.sync import sync_to_async

from rooms.models import Room
from tests.conftest import client_for
from tests.helpers import Stream

PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)>',
    "javascript:alert(1)",
    "</textarea><script>alert(2)</script>",
    "{{ 7*7 }} {% now 'Y' %}",
]


@pytest.fixture
def hostile_room(db, alice, bob):
    room = Room.objects.create(slug="xss", name=PAYLOADS[0] + PAYLOADS[1], owner=alice)
    room.add_member(alice, role="owner")
    room.add_member(bob)
    for payload in PAYLOADS:
        room.post_message(bob, payload)
    return room


def assert_no_live_markup(html):
    for dangerous in ("<img src=x", "<script>alert", "<svg onload", "</textarea><script>"):
        assert dangerous not in html, dangerous


@pytest.mark.django_db
def test_pages_escape_messages_and_room_names(hostile_room, alice):
    client = client_for(alice)
    for path in ["/", "/rooms/xss/", "/rooms/xss/people/"]:
        html = client.get(path).content.decode()
        assert_no_live_markup(html)
    room_page = client.get("/rooms/xss/").content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in room_page
    assert "{{ 7*7 }}" in room_page  # not evaluated as a template either


@pytest.mark.django_db
def test_the_admin_escapes_them_too(hostile_room, django_user_model):
    client = client_for(django_user_model.objects.create_superuser("root"))
    for path in ["/admin/rooms/message/", "/admin/rooms/room/", "/admin/rooms/roomevent/"]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert_no_live_markup(response.content.decode())


@pytest.mark.django_db
def test_json_carries_the_exact_text_for_the_page_to_insert_as_text(hostile_room, alice):
    messages = client_for(alice).get("/rooms/xss/messages/").json()["messages"]
    assert [m["body"] for m in messages] == PAYLOADS


@pytest.mark.django_db(transaction=True)
async def test_live_events_carry_the_text_as_json_data(lobby, alice, bob):
    async with Stream("lobby", bob) as stream:
        for payload in PAYLOADS:
            await sync_to_async(lobby.post_message)(alice, payload)
        events = await stream.read_events(len(PAYLOADS))
        assert [json.loads(e.data)["body"] for e in events] == PAYLOADS
        # One data line per event: a payload cannot break out of its frame.
        assert all("\n" not in e.data for e in events)
        assert stream.headers[b"content-type"].startswith(b"text/event-stream")


@pytest.mark.django_db(transaction=True)
async def test_a_newline_in_a_message_cannot_forge_an_event(lobby, alice, bob):
    forged = 'hello\n\nevent: message_deleted\ndata: {"id": 1}'
    async with Stream("lobby", bob) as stream:
        await sync_to_async(lobby.post_message)(alice, forged)
        events = await stream.read_events(1)
        await stream.expect_nothing(0.3)
        assert [e.type for e in stream.events] == ["message"]
        assert events[0].json["body"] == forged
