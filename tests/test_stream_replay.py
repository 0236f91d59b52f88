"""Resuming the stream: every missed event, once, in order, however old."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

import rooms.stream.log
from rooms.models import Message, RoomEvent
from tests.helpers import Stream
from tests.sse import ids

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def history_with_edits(room, alice, bob):
    """Five messages, one edited, one deleted; return the room's current seq."""
    first, _ = room.post_message(alice, "one")
    room.post_message(bob, "two")
    third, _ = room.post_message(alice, "three")
    first.edit("one, edited")
    third.erase()
    room.post_message(bob, "four")
    return room.current_event_seq()


async def test_it_replays_everything_after_the_given_id_in_order(lobby, alice, bob):
    current = await history_with_edits(lobby, alice, bob)
    async with Stream("lobby", bob, last_event_id="2") as stream:
        events = await stream.read_until(lambda evs: evs and evs[-1].seq == current)
        assert ids(events) == list(range(3, current + 1))
        assert [e.type for e in events] == [
            "message",
            "message",
            "message",
            "message_edited",
            "message_deleted",
            "message",
        ]
        assert events[3].json["body"] == "one, edited"
        assert events[4].json["deleted"] is True
        await stream.expect_nothing(0.3)


async def test_it_takes_the_id_from_the_query_on_first_connect(lobby, alice, bob):
    current = await history_with_edits(lobby, alice, bob)
    async with Stream("lobby", bob, query={"lastEventId": str(current - 1)}) as stream:
        events = await stream.read_events(1)
        assert ids(events) == [current]


async def test_the_header_wins_over_the_query(lobby, alice, bob):
    current = await history_with_edits(lobby, alice, bob)
    stream = Stream("lobby", bob, last_event_id=str(current - 1), query={"lastEventId": "0"})
    async with stream:
        await stream.read_events(1)
        await stream.expect_nothing(0.3)
        assert ids(stream.events) == [current]


async def test_it_accepts_django_eventstream_composite_ids(lobby, alice, bob):
    current = await history_with_edits(lobby, alice, bob)
    async with Stream("lobby", bob, last_event_id=f"room-{lobby.pk}:{current - 2}") as stream:
        events = await stream.read_events(2)
        assert ids(events) == [current - 1, current]


async def test_it_replays_from_an_id_days_old(lobby, alice, bob):
    current = await history_with_edits(lobby, alice, bob)
    long_ago = timezone.now() - timedelta(days=400)
    await sync_to_async(
        lambda: (
            RoomEvent.objects.filter(room=lobby).update(created_at=long_ago),
            Message.objects.filter(room=lobby).update(created_at=long_ago),
        )
    )()
    async with Stream("lobby", bob, last_event_id="0") as stream:
        events = await stream.read_events(current)
        assert ids(events) == list(range(1, current + 1))


async def test_a_long_absence_replays_in_batches(lobby, alice, bob, monkeypatch):
    @sync_to_async
    def many():
        for i in range(2500):
            lobby.post_message(alice, f"m{i}")
        return lobby.current_event_seq()

    current = await many()
    reads = []
    real = rooms.stream.log.read_events

    async def counted(room_id, after):
        events = await real(room_id, after)
        reads.append(len(events))
        return events

    monkeypatch.setattr(rooms.stream.log, "read_events", counted)
    async with Stream("lobby", bob, last_event_id="1") as stream:
        events = await stream.read_until(lambda evs: evs and evs[-1].seq == current, timeout=30)
        assert ids(events) == list(range(2, current + 1))
    # Whole batches of REPLAY_BATCH_EVENTS, the last one short: never the whole log at once.
    batch = rooms.stream.log.REPLAY_BATCH_EVENTS
    assert reads == [batch, batch, current - 1 - 2 * batch]


async def test_after_replay_it_continues_live_without_duplicates(lobby, alice, bob):
    current = await history_with_edits(lobby, alice, bob)
    async with Stream("lobby", bob, last_event_id=str(current - 1)) as stream:
        await stream.read_events(1)
        await sync_to_async(lobby.post_message)(alice, "live")
        events = await stream.read_events(2)
        assert ids(events) == [current, current + 1]
        assert events[1].json["body"] == "live"


async def test_an_event_committed_while_the_replay_reads_the_log_is_sent_once(
    lobby, alice, bob, monkeypatch
):
    current = await history_with_edits(lobby, alice, bob)
    real = rooms.stream.log.read_events
    committed: list[object] = []

    async def commit_then_read(room_id, after):
        # The event lands in the stream's live queue *and* in what this read returns.
        if not committed:
            committed.append(await sync_to_async(lobby.post_message)(alice, "meanwhile"))
        return await real(room_id, after)

    monkeypatch.setattr(rooms.stream.log, "read_events", commit_then_read)
    async with Stream("lobby", bob, last_event_id="0") as stream:
        await stream.read_until(lambda evs: evs and evs[-1].seq == current + 1)
        await sync_to_async(lobby.post_message)(alice, "after")
        await stream.read_until(lambda evs: evs[-1].seq == current + 2)
        await stream.expect_nothing(0.3)
        assert ids(stream.events) == list(range(1, current + 3))


async def test_a_fresh_connect_replays_nothing(lobby, alice, bob):
    await history_with_edits(lobby, alice, bob)
    async with Stream("lobby", bob) as stream:
        await stream.expect_nothing(0.3)
        await sync_to_async(lobby.post_message)(alice, "new")
        events = await stream.read_events(1)
        assert events[0].json["body"] == "new"


@pytest.mark.parametrize(
    "bad_id", ["garbage", "-1", "1.5", "x" * 10_000, "room-999:3", "99999999999999999999"]
)
async def test_a_malformed_id_gets_a_reset(lobby, alice, bob, bad_id):
    current = await history_with_edits(lobby, alice, bob)
    async with Stream("lobby", bob, last_event_id=bad_id) as stream:
        assert stream.status == 200
        events = await stream.read_events(1)
        assert events[0].type == "reset"
        assert events[0].json["last_event_id"] == current
        assert events[0].id == str(current)
        # The stream goes on live from there.
        await sync_to_async(lobby.post_message)(alice, "after reset")
        events = await stream.read_events(2)
        assert ids(events[1:]) == [current + 1]


async def test_an_id_from_the_future_gets_a_reset(lobby, alice, bob):
    current = await history_with_edits(lobby, alice, bob)
    async with Stream("lobby", bob, last_event_id=str(current + 50)) as stream:
        events = await stream.read_events(1)
        assert events[0].type == "reset"
        assert events[0].json["last_event_id"] == current


async def test_it_sends_retry_and_sse_headers(lobby, bob):
    async with Stream("lobby", bob) as stream:
        await stream.read_until(lambda evs: stream.parser.retries)
        assert stream.headers[b"content-type"].startswith(b"text/event-stream")
        assert stream.headers[b"cache-control"].startswith(b"no-cache")
        assert stream.headers[b"x-accel-buffering"] == b"no"
        assert stream.parser.retries == [2000]


async def test_the_heartbeat_is_a_comment_not_an_event(lobby, bob, monkeypatch):
    monkeypatch.setattr("rooms.stream.hub.HEARTBEAT_INTERVAL_SECS", 0.05)
    async with Stream("lobby", bob) as stream:
        await stream.read_until(lambda evs: "keep-alive" in stream.parser.comments, timeout=2)
        assert stream.events == []
        # On the wire: a comment block and nothing else. An `id:` there would move a
        # browser's resume position (to 0: a replay of the whole room on reconnect).
        blocks = stream.body.split(b"\n\n")
        assert blocks[0] == b"retry: 2000"
        assert set(blocks[1:-1]) == {b": keep-alive"}
        assert blocks[-1] == b""
