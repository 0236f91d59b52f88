"""The stream's cheaper paths: one DB trip per connect, recent frames replayed from memory."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

import rooms.stream.log
from rooms.event_types import LoggedEvent
from rooms.stream import log
from rooms.stream.log import RecentFrames
from tests.helpers import Stream
from tests.sse import ids

pytestmark = pytest.mark.django_db(transaction=True)


def event(seq, type="member_joined", message_id=None):
    return LoggedEvent(seq, type, "{}", message_id)


def test_recent_frames_answer_only_a_complete_range():
    recent = RecentFrames(per_room=4, rooms=2)
    for seq in (1, 2, 3):
        recent.add(7, event(seq), f"f{seq}".encode())
    assert recent.get(7, 0, 3) == [b"f1", b"f2", b"f3"]
    assert recent.get(7, 1, 2) == [b"f2"]
    assert recent.get(7, 3, 3) is None  # nothing to send
    assert recent.get(7, 2, 4) is None  # 4 is not here
    recent.add(7, event(5), b"f5")
    assert recent.get(7, 3, 5) is None  # a hole at 4
    for seq in range(6, 12):
        recent.add(7, event(seq), b"x")
    assert recent.get(7, 0, 3) is None  # trimmed to the newest
    assert recent.get(7, 7, 11) == [b"x"] * 4
    recent.add(8, event(1), b"a")
    recent.add(9, event(1), b"b")
    assert recent.get(7, 10, 11) is None  # the least recently used room went


def test_recent_frames_forget_a_message_once_it_changes():
    recent = RecentFrames()
    recent.add(7, event(1, "message", message_id=40), b"posted 40")
    recent.add(7, event(2, "message", message_id=41), b"posted 41")
    recent.add(7, event(3, "message_edited", message_id=40), b"edited 40")
    assert recent.get(7, 0, 3) is None  # the post of 40 is stale: the log has its present
    assert recent.get(7, 1, 3) == [b"posted 41", b"edited 40"]
    recent.add(7, event(4, "message_deleted", message_id=40), b"deleted 40")
    assert recent.get(7, 1, 4) is None
    assert recent.get(7, 3, 4) == [b"deleted 40"]


def test_recent_frames_drop_a_log_read_that_a_change_overtook():
    recent = RecentFrames()
    recent.add(7, event(1, "message", message_id=40), b"posted 40")
    generation = recent.generation(7)  # a log read begins
    recent.add(7, event(2, "message_removed", message_id=40), b"removed 40")  # delivered live
    recent.add(7, event(1, "message", message_id=40), b"posted 40, as read", generation)
    assert recent.get(7, 0, 2) is None


@sync_to_async
def post(room, user, count):
    for k in range(count):
        room.post_message(user, f"m{k}")
    return room.current_event_seq()


async def test_a_crowd_resuming_from_one_id_shares_one_read_and_gets_everything(
    lobby, alice, bob, monkeypatch
):
    start = await post(lobby, alice, 1)
    current = await post(lobby, alice, 5)
    reads = []
    real = rooms.stream.log.read_events

    async def counted(room_id, after):
        reads.append(after)
        return await real(room_id, after)

    monkeypatch.setattr(rooms.stream.log, "read_events", counted)
    streams = [Stream("lobby", bob, last_event_id=str(start)) for _ in range(5)]
    await asyncio.gather(*(s.open() for s in streams))
    for stream in streams:
        events = await stream.read_until(lambda evs: evs and evs[-1].seq == current)
        assert ids(events) == list(range(start + 1, current + 1))
    assert len(reads) < len(streams)

    # Those events are now in memory: a later resume reads nothing from the log.
    reads.clear()
    async with Stream("lobby", bob, last_event_id=str(start + 2)) as late:
        events = await late.read_until(lambda evs: evs and evs[-1].seq == current)
        assert ids(events) == list(range(start + 3, current + 1))
        await late.expect_nothing(0.3)
    assert reads == []
    assert log.recent.get(lobby.pk, start, current) is not None
    for stream in streams:
        await stream.close()


async def test_a_stale_session_gets_401_and_its_cookie_deleted(lobby, bob, monkeypatch):
    stream = Stream("lobby", bob)
    log_in = stream._log_in

    def log_in_then_change_password():
        log_in()
        bob.set_password("another-long-passphrase-5")
        bob.save()

    monkeypatch.setattr(stream, "_log_in", log_in_then_change_password)
    async with stream:
        assert stream.status == 401
        cookie = stream.headers.get(b"Set-Cookie", b"")
        assert cookie.startswith(b"sessionid=") and b"Max-Age=0" in cookie
