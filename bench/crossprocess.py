"""Cross-process delivery latency: two daphne processes on PostgreSQL and Redis.

A poster sends messages to process A, one at a time at a steady pace; subscribers hold the
room's stream open on A (same process) and on B (the event crosses Redis). For every
message and subscriber it measures the time from sending the POST to the event arriving on
the stream, and prints p50/p99/max per process, as JSON.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python bench/crossprocess.py [--messages 300] [--subscribers 20]

It starts its own servers on free ports of 127.0.0.1, in a fresh database it drops after,
and stops by itself (bounded in messages and in time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench.servers import setup_django
from tests.live import LiveDatabase, LiveServer, RawStream, sign_up
from tests.sse import SSEEvent

DEADLINE_SECS = 300


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float | int]:
    ms = [v * 1000 for v in values]
    return {
        "samples": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


class Subscriber(RawStream):
    """Records when each message (by its index in the body) arrives."""

    def __init__(self, port: int, session: str, start: int) -> None:
        super().__init__(port, "/rooms/bench/events/", session, start)
        self.arrivals: dict[int, float] = {}

    def received(self, event: SSEEvent, now: float) -> None:
        if event.type == "message" and event.json["body"].startswith("message "):
            self.arrivals[int(event.json["body"].split()[-1])] = now

    async def read_messages(self, count: int, timeout: float) -> None:
        await self.read_until(lambda _: len(self.arrivals) >= count, timeout)


async def measure(args: argparse.Namespace, directory: Path) -> dict[str, object]:
    database = LiveDatabase(directory).create()
    a, b = LiveServer(database), LiveServer(database)
    try:
        a.start()
        b.start()
        alice = await sign_up(a.url, "alice")
        assert (await alice.post("/rooms/", json={"slug": "bench", "name": "B"})).status_code == 201
        start = (await alice.get("/rooms/bench/messages/?limit=1")).json()["last_event_id"]
        session = alice.cookies["sessionid"]
        streams = {
            name: [Subscriber(server.port, session, start) for _ in range(args.subscribers)]
            for name, server in (("same_process_A", a), ("other_process_B", b))
        }
        for group in streams.values():
            await asyncio.gather(*(s.open() for s in group))
            await asyncio.gather(*(s.read_retry() for s in group))
        readers = [
            asyncio.create_task(s.read_messages(args.messages, 60))
            for group in streams.values()
            for s in group
        ]
        # Warm up both processes' paths before measuring.
        for _ in range(5):
            await alice.post("/rooms/bench/messages/", json={"body": "warm-up"})
        sent: dict[int, float] = {}
        acked: dict[int, float] = {}
        for i in range(args.messages):
            sent[i] = time.monotonic()  # the streams' clock
            response = await alice.post("/rooms/bench/messages/", json={"body": f"message {i}"})
            acked[i] = time.monotonic()
            assert response.status_code == 201, response.text
            await asyncio.sleep(args.interval)
        await asyncio.wait_for(asyncio.gather(*readers), 60)
        result: dict[str, object] = {
            "processes": 2,
            "stack": "PostgreSQL + Redis",
            "messages": args.messages,
            "subscribers_per_process": args.subscribers,
            "interval_ms": args.interval * 1000,
            "measured": "POST sent on A -> event read by a subscriber (the POST's own time "
            "included); after_201: from the 201 reaching the poster (negative when the event "
            "came first)",
            "post_to_201": summary([acked[i] - sent[i] for i in range(args.messages)]),
        }
        for name, group in streams.items():
            per_stream = [s.arrivals for s in group]
            latencies = [got[i] - sent[i] for got in per_stream for i in range(args.messages)]
            after = [got[i] - acked[i] for got in per_stream for i in range(args.messages)]
            result[name] = {
                **summary(latencies),
                "after_201": {
                    "p50_ms": round(percentile([v * 1000 for v in after], 50), 2),
                    "p99_ms": round(percentile([v * 1000 for v in after], 99), 2),
                },
            }
        for group in streams.values():
            for s in group:
                s.close()
        await alice.aclose()
        return result
    finally:
        a.stop()
        b.stop()
        database.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--subscribers", type=int, default=20, help="per process")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between posts")
    args = parser.parse_args()
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        sys.exit("set DATABASE_URL (PostgreSQL) and REDIS_URL: this measures that stack")
    if not (1 <= args.messages <= 10_000 and 1 <= args.subscribers <= 500):
        sys.exit("--messages must be 1-10000 and --subscribers 1-500")
    setup_django()
    with tempfile.TemporaryDirectory(prefix="chat-bench-") as directory:
        result = asyncio.run(asyncio.wait_for(measure(args, Path(directory)), DEADLINE_SECS))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
