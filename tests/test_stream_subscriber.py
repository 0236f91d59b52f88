"""A live stream's frames are written from where the hub pushes them while its task waits
(rooms/stream/subscriber.py): no task wake-up per stream per event, and the same order and
the same limits as when they queue."""

import asyncio

import pytest

from rooms.stream.subscriber import RECHECK, Subscriber, send_at_once


class Socket:
    """An ASGI send over a socket whose buffer holds `room` messages until the reader reads."""

    def __init__(self, room: int) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=room)
        self.sent: list[bytes] = []

    async def send(self, message: dict) -> None:
        await self.queue.put(message["body"])
        self.sent.append(message["body"])

    def read_all(self) -> list[bytes]:
        got = []
        while not self.queue.empty():
            got.append(self.queue.get_nowait())
        return got


def live(subscriber: Subscriber, socket: Socket, last_sent: int = 0) -> None:
    subscriber.last_sent = last_sent
    subscriber.send_now = lambda seq, frame: send_at_once(
        socket.send, {"type": "http.response.body", "body": frame, "more_body": True}
    )


async def writer(subscriber: Subscriber, socket: Socket) -> None:
    """What the stream's task does (StreamConsumer.live), with the same socket."""
    while True:
        await subscriber.wait()
        if subscriber.closed_reason is not None:
            return
        for seq, frame in subscriber.take():
            if not subscriber.to_send(seq):
                continue
            await socket.send({"body": frame})


async def test_a_frame_for_a_waiting_stream_is_written_without_waking_its_task():
    subscriber, socket = Subscriber(1, 1), Socket(room=100)
    live(subscriber, socket)
    task = asyncio.create_task(writer(subscriber, socket))
    await asyncio.sleep(0)
    waiter = subscriber.waiter
    assert waiter is not None

    subscriber.push(1, b"one")
    subscriber.push(None, b"heartbeat")
    subscriber.push(2, b"two")

    # Written at once, in order, while the task still waits on the same future.
    assert socket.sent == [b"one", b"heartbeat", b"two"]
    assert subscriber.waiter is waiter and not waiter.done()
    assert not subscriber.frames
    task.cancel()


async def test_what_the_replay_sent_is_not_written_again():
    subscriber, socket = Subscriber(1, 1), Socket(room=100)
    live(subscriber, socket, last_sent=5)
    task = asyncio.create_task(writer(subscriber, socket))
    await asyncio.sleep(0)
    for seq in (4, 5, 6):
        subscriber.push(seq, b"%d" % seq)
    assert socket.sent == [b"6"]
    task.cancel()


async def test_a_send_that_must_wait_is_finished_by_the_task_before_what_follows_it():
    subscriber, socket = Subscriber(1, 1), Socket(room=1)
    live(subscriber, socket)
    task = asyncio.create_task(writer(subscriber, socket))
    await asyncio.sleep(0)

    subscriber.push(1, b"one")  # fits
    subscriber.push(2, b"two")  # the socket is full: its send waits
    assert subscriber.unfinished is not None
    subscriber.push(3, b"three")  # queued behind it
    subscriber.push(None, b"heartbeat")
    subscriber.push(4, b"four")
    assert [seq for seq, _ in subscriber.frames] == [3, None, 4]

    got = []
    for _ in range(100):  # the reader reads; the task writes what waited
        got.extend(socket.read_all())
        await asyncio.sleep(0)
    assert got == [b"one", b"two", b"three", b"heartbeat", b"four"]
    # Idle again: the next one is written from the push.
    await asyncio.sleep(0)
    subscriber.push(5, b"five")
    assert socket.read_all() == [b"five"]
    task.cancel()


async def test_a_reader_that_reads_nothing_is_closed_once_its_queue_is_full(monkeypatch):
    monkeypatch.setattr("rooms.stream.subscriber.MAX_QUEUED_FRAMES", 3)
    subscriber, socket = Subscriber(1, 1), Socket(room=1)
    live(subscriber, socket)
    task = asyncio.create_task(writer(subscriber, socket))
    await asyncio.sleep(0)
    for seq in range(1, 7):
        subscriber.push(seq, b"%d" % seq)
    # One written, one under way, three queued: the sixth is one too many.
    assert subscriber.closed_reason == "overflow"
    socket.read_all()
    await asyncio.wait_for(task, 1)


async def test_a_recheck_wakes_the_task_and_what_follows_waits_for_it():
    subscriber, socket = Subscriber(1, 1), Socket(room=100)
    live(subscriber, socket)
    task = asyncio.create_task(writer(subscriber, socket))
    await asyncio.sleep(0)
    subscriber.push(1, b"ban")
    subscriber.push(None, RECHECK)
    subscriber.push(2, b"after")
    # The task asks the access rule again before anything after the recheck is written.
    assert socket.sent == [b"ban"]
    assert [frame for _, frame in subscriber.frames] == [RECHECK, b"after"]
    task.cancel()


@pytest.mark.parametrize("error", [RuntimeError, asyncio.CancelledError])
async def test_a_send_that_fails_closes_the_stream_and_spares_the_others(error):
    broken, fine = Subscriber(1, 1), Subscriber(1, 2)
    socket = Socket(room=100)

    async def refuse(message: dict) -> None:
        raise error("the connection is gone")

    broken.last_sent = fine.last_sent = 0
    broken.send_now = lambda seq, frame: send_at_once(refuse, {"body": frame})
    live(fine, socket)
    tasks = [asyncio.create_task(writer(s, socket)) for s in (broken, fine)]
    await asyncio.sleep(0)
    for subscriber in (broken, fine):
        subscriber.push(1, b"one")
    assert broken.closed_reason == "error"
    assert socket.sent == [b"one"]
    await asyncio.wait_for(tasks[0], 1)
    tasks[1].cancel()
