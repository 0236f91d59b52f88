"""How long the event loop is held while a room's events go out to its streams, in process.

    python -m bench.loop_turns [--streams 3000] [--events 40]

A room channel of the hub (rooms/stream/hub.py) with that many live streams, each writing
to a real socket of its own (a socket pair; nothing reads them, their buffers hold the
run). The events are offered 20 ms apart, as the fan-out backend would offer them; a
callback that runs at every turn of the loop records how long each turn took. Prints the
longest turn, the 99th percentile and how many turns took over 5 ms: while one turn runs,
nothing else of the process runs (answering a post, say). The CPU figure includes that
callback spinning between events, so it is no measure of delivery's cost (the fan-out
scenarios of bench.run are).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import time
from collections.abc import Callable

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")  # settings need no secret key for this

import django

django.setup()

from rooms.event_types import LoggedEvent  # noqa: E402
from rooms.stream.hub import RoomChannel  # noqa: E402
from rooms.stream.subscriber import Subscriber  # noqa: E402


def writer(sock: socket.socket) -> Callable[[int | None, bytes], None]:
    def send_now(seq: int | None, frame: bytes) -> None:
        sock.send(frame)

    return send_now


async def run(streams: int, events: int) -> None:
    loop = asyncio.get_running_loop()
    pairs = [socket.socketpair() for _ in range(streams)]
    channel = RoomChannel(1)
    channel.head = 0
    for i, (ours, _) in enumerate(pairs):
        ours.setblocking(False)
        subscriber = Subscriber(1, i)
        subscriber.waiter = loop.create_future()  # a live stream waiting with nothing queued
        subscriber.send_now = writer(ours)
        channel.subscribers.add(subscriber)
    turns: list[float] = []
    last = time.perf_counter()
    running = True

    def tick() -> None:
        nonlocal last
        now = time.perf_counter()
        turns.append(now - last)
        last = now
        if running:
            loop.call_soon(tick)

    loop.call_soon(tick)
    cpu = time.process_time()
    for seq in range(1, events + 1):
        channel.offer(LoggedEvent(seq, "message", '{"body": "%s"}' % ("x" * 120)))
        await asyncio.sleep(0.02)
    outbox = getattr(channel, "outbox", None)  # (none before the fan-out went in slices)
    for _ in range(10_000):  # what is still on its way: at most a few turns
        if outbox is None or not outbox.busy():
            break
        await asyncio.sleep(0.001)
    running = False
    cpu = time.process_time() - cpu
    turns.sort()
    print(
        f"{streams} streams, {events} events: longest turn {turns[-1] * 1000:.1f} ms, "
        f"p99 {turns[int(len(turns) * 0.99)] * 1000:.2f} ms, "
        f"turns over 5 ms: {sum(1 for t in turns if t > 0.005)}, CPU {cpu:.2f} s"
    )
    for ours, theirs in pairs:
        ours.close()
        theirs.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=3000)
    parser.add_argument("--events", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(run(args.streams, args.events))


if __name__ == "__main__":
    main()
