"""Live delivery: only committed events, in seq order, once each.

Order, holes and duplicates as each fan-out backend hands events over: test_fanout_contract.py.
"""

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from rooms.events import get_backend
from rooms.stream.hub import hub
from tests.helpers import Stream, wait_for_subscribers, wait_until_live
from tests.sse import ids

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_new_message_reaches_every_open_stream(lobby, alice, bob, carol):
    async with Stream("lobby", bob) as bobs, Stream("lobby", carol) as carols:
        message, _ = await sync_to_async(lobby.post_message)(alice, "hi all")
        for stream in (bobs, carols):
            events = await stream.read_events(1)
            assert events[0].type == "message"
            assert events[0].json["id"] == message.pk
            assert events[0].json["body"] == "hi all"


async def test_edits_and_deletions_are_delivered_live(lobby, alice, bob):
    message, _ = await sync_to_async(lobby.post_message)(alice, "draft")
    async with Stream("lobby", bob) as stream:
        await sync_to_async(message.edit)("final")
        await sync_to_async(message.erase)()
        events = await stream.read_events(2)
        assert [e.type for e in events] == ["message_edited", "message_deleted"]
        assert events[0].json["body"] == "final"
        assert events[1].json == {"id": message.pk, "room": "lobby", "deleted": True}


async def test_an_event_is_not_delivered_before_its_transaction_commits(lobby, alice, bob):
    posted, release = threading.Event(), threading.Event()

    def post_and_hold():
        with transaction.atomic():
            lobby.post_message(alice, "held back")
            posted.set()
            release.wait(10)

    async with Stream("lobby", bob) as stream:
        # Let the stream finish subscribing (it reads the room's head) before the writer's
        # thread takes the write lock: the in-memory SQLite test database locks whole tables
        # against other connections' reads, which a database file in WAL mode does not.
        await wait_for_subscribers(lobby.pk)
        writer = asyncio.ensure_future(sync_to_async(post_and_hold, thread_sensitive=False)())
        await asyncio.get_running_loop().run_in_executor(None, posted.wait, 10)
        await stream.expect_nothing(0.5)
        release.set()
        await writer
        events = await stream.read_events(1)
        assert events[0].json["body"] == "held back"


async def test_a_rolled_back_post_is_never_delivered(lobby, alice, bob):
    def post_and_fail():
        with transaction.atomic():
            lobby.post_message(alice, "never happened")
            raise RuntimeError("rolled back")

    async with Stream("lobby", bob) as stream:
        seq_before = await sync_to_async(lobby.current_event_seq)()
        with pytest.raises(RuntimeError):
            await sync_to_async(post_and_fail)()
        await sync_to_async(lobby.post_message)(alice, "after")
        events = await stream.read_events(1)
        await stream.expect_nothing(0.3)
        assert [e.json["body"] for e in events] == ["after"]
        # The rolled-back seq was handed out again: the log has no hole.
        assert ids(events) == [seq_before + 1]


@pytest.fixture
def held_publishes(monkeypatch):
    """Keep published events back, so a test can hand them to the hub in any order."""
    held = []
    monkeypatch.setattr(type(get_backend()), "publish", lambda self, *event: held.append(event))
    return held


async def test_a_stream_too_slow_to_keep_up_is_closed_and_can_resume(
    lobby, alice, bob, monkeypatch, held_publishes
):
    monkeypatch.setattr("rooms.stream.subscriber.MAX_QUEUED_FRAMES", 3)
    # Bob reads nothing yet: his retry line fills what may wait unread, so the first
    # event's send waits, and the next four land in his queue, one too many.
    async with Stream("lobby", bob, read_ahead=1) as stream:
        await wait_until_live(lobby.pk)
        await sync_to_async(lambda: [lobby.post_message(alice, f"m{i}") for i in range(5)])()
        for event in held_publishes:
            hub.offer(*event)
        await stream.read_to_end()
        got = ids(stream.events)
    assert len(got) < 5, "it was not closed"
    last = got[-1] if got else await sync_to_async(lambda: lobby.current_event_seq() - 5)()
    async with Stream("lobby", bob, last_event_id=str(last)) as resumed:
        current = await sync_to_async(lobby.current_event_seq)()
        await resumed.read_until(lambda evs: evs and evs[-1].seq == current)
        assert got + ids(resumed.events) == list(range(current - 4, current + 1))


async def test_an_open_stream_lets_go_of_the_user_and_session_its_connect_loaded(
    lobby, alice, bob, monkeypatch
):
    import gc
    import weakref

    from django.contrib import auth

    loaded = []
    get_user = auth.get_user

    def remembering_get_user(request):
        user = get_user(request)
        loaded.append((weakref.ref(user), weakref.ref(request.session)))
        return user

    monkeypatch.setattr(auth, "get_user", remembering_get_user)  # as the connect calls it
    async with Stream("lobby", bob) as stream:
        await wait_until_live(lobby.pk)
        gc.collect()
        [(user, session)] = loaded
        assert user() is None and session() is None, "the open stream holds them"
        # It is live all the same, and logs whose stream it was.
        await sync_to_async(lobby.post_message)(alice, "still here")
        [event] = await stream.read_events(1)
        assert event.json["body"] == "still here"
