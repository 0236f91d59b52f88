"""A room's event reaches its open streams FANOUT_SLICE at a time, one slice per turn of the
event loop (rooms/stream/hub.py): a fan-out to thousands of streams no longer holds the loop
for the whole of it, and every stream still gets every event once, in order, with its
access re-checked before anything that follows an event that may have taken it."""

import asyncio

import pytest

from rooms.event_types import LoggedEvent, Recheck
from rooms.stream import hub as hub_module
from rooms.stream.hub import RoomChannel
from rooms.stream.subscriber import RECHECK, Subscriber


class Recorder(Subscriber):
    """A subscriber that keeps what it is pushed."""

    def __init__(self, user_id: int) -> None:
        super().__init__(room_id=7, user_id=user_id)
        self.got: list[int | None] = []

    def push(self, seq: int | None, frame: bytes) -> None:
        self.got.append(None if frame is RECHECK else seq)


def event(seq: int, **fields) -> LoggedEvent:
    return LoggedEvent(seq=seq, type="message", data=f'{{"n": {seq}}}', **fields)


@pytest.fixture
def slice_of_four(monkeypatch):
    monkeypatch.setattr(hub_module, "FANOUT_SLICE", 4)


async def a_channel(subscribers: list[Recorder]) -> RoomChannel:
    channel = RoomChannel(7)
    channel.head = 0
    channel.subscribers.update(subscribers)
    return channel


async def until_delivered(channel: RoomChannel) -> None:
    for _ in range(100):
        if not channel.outbox:
            return
        await asyncio.sleep(0)
    raise AssertionError("the fan-out never finished")


async def test_a_fan_out_lets_the_loop_run_between_slices(slice_of_four):
    streams = [Recorder(user_id=i) for i in range(10)]
    channel = await a_channel(streams)
    seen_by_the_other_callback: list[int] = []
    loop = asyncio.get_running_loop()

    channel.offer(event(1))
    channel.offer(event(2))
    # The first slice went at once; the rest waits for later turns of the loop.
    assert sum(stream.got == [1] for stream in streams) == 4
    assert sum(stream.got == [] for stream in streams) == 6
    loop.call_soon(lambda: seen_by_the_other_callback.append(sum(bool(s.got) for s in streams)))

    await until_delivered(channel)

    assert all(stream.got == [1, 2] for stream in streams)
    # Something else the loop had to do ran while the fan-out was under way.
    assert seen_by_the_other_callback and seen_by_the_other_callback[0] < 10


async def test_a_small_room_gets_its_event_at_once(slice_of_four):
    streams = [Recorder(user_id=i) for i in range(4)]
    channel = await a_channel(streams)

    channel.offer(event(1))

    assert all(stream.got == [1] for stream in streams)
    assert not channel.outbox


async def test_a_stream_opened_during_a_fan_out_gets_only_what_follows(slice_of_four):
    streams = [Recorder(user_id=i) for i in range(10)]
    channel = await a_channel(streams)
    channel.offer(event(1))
    newcomer = Recorder(user_id=99)
    channel.subscribers.add(newcomer)
    # Its replay covers the head, which has moved past the event still on its way.
    assert channel.head == 1

    channel.offer(event(2))
    await until_delivered(channel)

    assert newcomer.got == [2]
    assert all(stream.got == [1, 2] for stream in streams)


async def test_a_recheck_comes_before_anything_that_follows_it(slice_of_four):
    streams = [Recorder(user_id=i) for i in range(10)]
    channel = await a_channel(streams)

    channel.offer(event(1, recheck=Recheck.SUBJECT, subject=8))
    channel.offer(event(2, recheck=Recheck.EVERYONE))
    channel.offer(event(3))
    await until_delivered(channel)

    for stream in streams:
        first = [1, None] if stream.user_id == 8 else [1]
        assert stream.got == [*first, 2, None, 3]
