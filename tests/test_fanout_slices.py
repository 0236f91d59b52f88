"""An event reaches its open streams FANOUT_SLICE at a time, one slice per turn of the event
loop (rooms/stream/outbox.py), on room streams and user streams alike: a fan-out to thousands
of streams no longer holds the loop for the whole of it, and every stream still gets every
event once, in order, with its access re-checked before anything that follows an event
that may have taken it, and a user stream's rooms moved exactly at their events."""

import asyncio

import pytest

from rooms.event_types import LoggedEvent, Recheck, UserEventType, UserLoggedEvent
from rooms.stream import outbox
from rooms.stream.hub import RoomChannel
from rooms.stream.site import SiteChannel, UserSubscriber
from rooms.stream.subscriber import RECHECK, Subscriber


class Recorder(Subscriber):
    """A subscriber that keeps what it is pushed."""

    def __init__(self, user_id: int) -> None:
        super().__init__(room_id=7, user_id=user_id)
        self.got: list[int | bytes | None] = []

    def push(self, seq: int | None, frame: bytes) -> None:
        if self.closed_reason is None:  # as a Subscriber's push
            self.got.append(None if frame is RECHECK else seq if seq is not None else frame)


def event(seq: int, **fields) -> LoggedEvent:
    return LoggedEvent(seq=seq, type="message", data=f'{{"n": {seq}}}', **fields)


@pytest.fixture
def slice_of_four(monkeypatch):
    monkeypatch.setattr(outbox, "FANOUT_SLICE", 4)


async def a_channel(subscribers: list[Recorder]) -> RoomChannel:
    channel = RoomChannel(7)
    channel.head = 0
    channel.subscribers.update(subscribers)
    return channel


async def until_delivered(channel: RoomChannel | SiteChannel) -> None:
    for _ in range(100):
        if not channel.outbox.busy():
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
    loop.call_soon(lambda: seen_by_the_other_callback.append(sum(s.got == [1, 2] for s in streams)))

    await until_delivered(channel)

    assert all(stream.got == [1, 2] for stream in streams)
    # Something else the loop had to do ran while the fan-out was under way.
    assert seen_by_the_other_callback and seen_by_the_other_callback[0] < 10


async def test_a_small_room_gets_its_event_at_once(slice_of_four):
    streams = [Recorder(user_id=i) for i in range(4)]
    channel = await a_channel(streams)

    channel.offer(event(1))

    assert all(stream.got == [1] for stream in streams)
    assert not channel.outbox.busy()


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


class UserRecorder(UserSubscriber):
    """A user stream that keeps the positions it is pushed."""

    def __init__(self, user_id: int) -> None:
        super().__init__(user_id)
        self.got: list[int | bytes | None] = []

    def push(self, seq: int | None, frame: bytes) -> None:
        if self.closed_reason is None:  # as a Subscriber's push
            self.got.append(seq if seq is not None else frame)


def in_room(room_id: int, position: int) -> tuple[int, LoggedEvent]:
    return room_id, event(position, position=position, room="lobby")


def user_event(position: int, user_id: int, type: str, room_id: int) -> UserLoggedEvent:
    return UserLoggedEvent(position, user_id, room_id, type, "{}")


def a_site(streams: list[UserRecorder], rooms: set[int]) -> SiteChannel:
    site = SiteChannel()
    site.head = 0
    for stream in streams:
        site.users.setdefault(stream.user_id, set()).add(stream)
        site.start(stream, rooms, 0)
    return site


async def test_a_user_stream_fan_out_lets_the_loop_run_and_keeps_the_order(slice_of_four):
    streams = [UserRecorder(user_id=i) for i in range(10)]
    site = a_site(streams, rooms={7})
    seen_by_the_other_callback: list[int] = []

    site.offer(in_room(7, 1))
    site.offer(in_room(7, 2))
    assert sum(stream.got == [1] for stream in streams) == 4
    asyncio.get_running_loop().call_soon(
        lambda: seen_by_the_other_callback.append(sum(s.got == [1, 2] for s in streams))
    )
    await until_delivered(site)

    assert all(stream.got == [1, 2] for stream in streams)
    assert seen_by_the_other_callback and seen_by_the_other_callback[0] < 10


async def test_a_user_stream_follows_a_room_from_its_join_even_while_a_fan_out_runs(
    slice_of_four,
):
    streams = [UserRecorder(user_id=i) for i in range(10)]
    site = a_site(streams, rooms={7})
    joiner = UserRecorder(user_id=50)
    site.users[50] = {joiner}
    site.start(joiner, set(), 0)

    site.offer(in_room(7, 1))  # on its way to the ten: not the joiner's
    site.offer(user_event(2, 50, UserEventType.ROOM_JOINED, 7))
    site.offer(in_room(7, 3))  # after the join: the joiner's too
    site.offer(user_event(4, 3, UserEventType.ROOM_LEFT, 7))
    site.offer(in_room(7, 5))  # after user 3 left: not theirs
    await until_delivered(site)

    assert joiner.got == [2, 3, 5]
    for stream in streams:
        assert stream.got == ([1, 3, 4] if stream.user_id == 3 else [1, 3, 5])


async def test_a_failure_on_the_way_goes_no_further_than_its_stream(slice_of_four, caplog):
    got: list[tuple[int, int]] = []

    def begin(n: int):
        if n == 2:
            raise RuntimeError("the event could not be read")

        def hand(stream: int) -> None:
            if (n, stream) == (1, 2):
                raise RuntimeError("a stream's push failed")
            got.append((n, stream))

        return list(range(10)), hand

    box = outbox.Outbox(begin, overflow=lambda: None)
    for n in (1, 2, 3):
        box.add(n)  # raises nothing into whoever offered it
    await until_idle(box)

    everyone_but_2 = [stream for stream in range(10) if stream != 2]
    assert got == [*((1, stream) for stream in everyone_but_2), *((3, s) for s in range(10))]
    assert "a stream's push failed" in caplog.text
    assert "the event could not be read" in caplog.text


async def until_idle(box: outbox.Outbox) -> None:
    for _ in range(100):
        if not box.busy():
            return
        await asyncio.sleep(0)
    raise AssertionError("the outbox never emptied")


async def test_a_user_stream_gone_during_its_join_does_not_follow_the_room(slice_of_four):
    followers = [UserRecorder(user_id=i) for i in range(10)]
    site = a_site(followers, rooms={7})
    joiners = [UserRecorder(user_id=50) for _ in range(3)]
    site.users[50] = set(joiners)
    for joiner in joiners:
        site.start(joiner, set(), 0)

    site.offer(in_room(7, 1))
    site.offer(user_event(2, 50, UserEventType.ROOM_JOINED, 7))
    # Wait for the join to reach some of the joiner's streams and not yet all.
    for _ in range(20):
        await asyncio.sleep(0)
        if any(joiner.got for joiner in joiners):
            break
    assert 0 < sum(bool(joiner.got) for joiner in joiners) < 3
    late = next(joiner for joiner in joiners if not joiner.got)
    site.unsubscribe(late)
    await until_delivered(site)
    site.offer(in_room(7, 3))
    await until_delivered(site)

    assert late not in site.followers[7]
    assert late.got == []
    assert all(joiner.got == [2, 3] for joiner in joiners if joiner is not late)


async def test_typing_waits_behind_the_events_on_their_way(slice_of_four):
    streams = [Recorder(user_id=i) for i in range(10)]
    channel = await a_channel(streams)

    channel.offer(event(1, recheck=Recheck.SUBJECT, subject=8))
    channel.offer_ephemeral(b"typing")
    await until_delivered(channel)

    for stream in streams:
        first = [1, None] if stream.user_id == 8 else [1]
        assert stream.got == [*first, b"typing"]


async def test_typing_in_a_room_does_not_reach_a_user_stream_that_just_left_it(slice_of_four):
    streams = [UserRecorder(user_id=i) for i in range(10)]
    site = a_site(streams, rooms={7})

    site.offer(in_room(7, 1))
    site.offer(user_event(2, 3, UserEventType.ROOM_LEFT, 7))
    site.offer_ephemeral(7, b"typing")
    await until_delivered(site)

    for stream in streams:
        assert stream.got == ([1, 2] if stream.user_id == 3 else [1, b"typing"])


async def test_a_fan_out_that_cannot_keep_up_closes_its_streams_to_resume(
    slice_of_four, monkeypatch
):
    monkeypatch.setattr(outbox, "MAX_WAITING", 3)
    streams = [Recorder(user_id=i) for i in range(10)]
    channel = await a_channel(streams)

    for seq in range(1, 6):  # no turn of the loop between them
        channel.offer(event(seq))

    assert all(stream.closed_reason == "overflow" for stream in streams)
    await until_delivered(channel)
    newcomer = Recorder(user_id=99)
    channel.subscribers = {newcomer}
    channel.offer(event(6))
    await until_delivered(channel)
    assert newcomer.got == [6]


async def test_behind_a_fan_out_takes_a_slice_more_per_event_waiting(slice_of_four):
    streams = [Recorder(user_id=i) for i in range(40)]
    channel = await a_channel(streams)

    for seq in (1, 2, 3):
        channel.offer(event(seq))
    assert sum(bool(stream.got) for stream in streams) == 4  # the first slice, at once
    await asyncio.sleep(0)
    # The next turn: three slices, as two events were waiting.
    assert sum(len(stream.got) for stream in streams) == 4 + 3 * 4


@pytest.mark.parametrize(("replayed_up_to", "expected"), [(1, [2]), (0, [1, 2])])
async def test_a_user_stream_that_starts_during_a_fan_out_gets_each_event_once(
    slice_of_four, replayed_up_to, expected
):
    streams = [UserRecorder(user_id=i) for i in range(10)]
    site = a_site(streams, rooms={7})
    starting = UserRecorder(user_id=60)
    site.users[60] = {starting}
    site.starting.add(starting)  # subscribed, still reading where it starts from

    site.offer(in_room(7, 1))  # begun: kept in the starting stream's backlog
    site.offer(in_room(7, 2))  # not begun yet when the stream starts
    site.start(starting, {7}, replayed_up_to)
    await until_delivered(site)

    assert starting.got == expected
    assert all(stream.got == [1, 2] for stream in streams)


async def test_what_is_on_its_way_is_dropped_when_the_last_user_stream_goes(slice_of_four):
    streams = [UserRecorder(user_id=i) for i in range(10)]
    site = a_site(streams, rooms={7})

    async def loaded() -> None:
        pass

    site.loading = asyncio.create_task(loaded())  # the channel read its head
    await site.loading

    site.offer(in_room(7, 1))
    site.offer(in_room(7, 2))
    for stream in streams:
        site.unsubscribe(stream)

    assert not site.outbox.busy()
    assert site.head is None  # the next stream reads it again
    await asyncio.sleep(0)
    assert sum(len(stream.got) for stream in streams) == 4  # the first slice, no more
