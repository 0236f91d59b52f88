"""A database outage is answered with 503 and a JSON error, never a 500 page or a hang.

The live outage (PostgreSQL restarting under two processes) is in test_faults.py; here the
database call fails on purpose, on either stack.
"""

import json

import pytest
from django.db import InterfaceError, OperationalError

from rooms.models import Message, Room
from rooms.stream import consumer
from tests.helpers import Stream, post_message

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_a_post_gets_503_while_the_database_is_unavailable(as_bob, lobby, monkeypatch, error):
    def unavailable(*args, **kwargs):
        raise error("connection refused")

    monkeypatch.setattr(Room, "post_message", unavailable)
    response = post_message(as_bob, "lobby", {"body": "hello", "client_id": "c-1"})
    assert response.status_code == 503
    assert response.json() == {"error": "database unavailable, retry"}
    assert response["Retry-After"] == "1"
    assert response["Content-Type"] == "application/json"
    assert not Message.objects.exists()

    monkeypatch.undo()
    retried = post_message(as_bob, "lobby", {"body": "hello", "client_id": "c-1"})
    assert retried.status_code == 201


def test_other_errors_are_not_disguised_as_503(as_bob, lobby, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(Room, "post_message", broken)
    with pytest.raises(RuntimeError):
        post_message(as_bob, "lobby", {"body": "hello"})


async def test_a_stream_gets_503_while_the_database_is_unavailable(bob, lobby, monkeypatch):
    async def unavailable(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(consumer, "connect", unavailable)
    async with Stream("lobby", bob) as stream:
        assert stream.status == 503
        assert stream.headers[b"retry-after"] == b"1"
        await stream.read_to_end()
        assert json.loads(stream.body) == {"error": "database unavailable, retry"}


async def test_a_stream_ends_cleanly_when_the_room_head_cannot_be_read(bob, lobby, monkeypatch):
    from rooms.stream import log
    from rooms.stream.hub import hub

    async def unavailable(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(log, "load_head", unavailable)
    async with Stream("lobby", bob) as stream:
        assert stream.status == 200
        # The response ends (read_to_end fails if it does not within its timeout), having
        # sent nothing but the retry interval: the client reconnects with its last id.
        await stream.read_to_end()
        assert stream.body == b"retry: 2000\n\n"
        assert stream.events == []
        assert hub.stream_count() == 0


async def test_a_stream_gets_503_when_the_session_cannot_be_loaded(bob, lobby, monkeypatch):
    # The consumer loads the session's user before it checks the room.
    def unavailable(request):
        raise InterfaceError("connection already closed")

    monkeypatch.setattr("django.contrib.auth.get_user", unavailable)
    async with Stream("lobby", bob) as stream:
        assert stream.status == 503
        assert stream.headers[b"retry-after"] == b"1"
        await stream.read_to_end()
        assert json.loads(stream.body) == {"error": "database unavailable, retry"}


@pytest.mark.parametrize("failing", ["load_position", "starting_point"])
async def test_a_user_stream_gets_503_when_it_cannot_start(bob, lobby, monkeypatch, failing):
    from rooms.stream import log
    from rooms.stream.hub import hub

    async def unavailable(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(log if failing == "load_position" else consumer, failing, unavailable)
    async with Stream(None, bob) as stream:
        assert stream.status == 503
        assert stream.headers[b"retry-after"] == b"1"
        await stream.read_to_end()
        assert json.loads(stream.body) == {"error": "database unavailable, retry"}
        assert hub.stream_count() == 0
        assert hub.user_streams[bob.pk] == 0
