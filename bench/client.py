"""The load client: room streams that count what they receive, and keep-alive posters.

A Stream is tests.live's RawStream that, instead of keeping the events, counts them on a
Counter shared by the streams of a scenario (duplicates, ids going backwards, closes by the
server) and records when each arrived. A Poster POSTs JSON over one keep-alive HTTP/1.1
connection, with none of an HTTP library's work per request.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from bench.servers import Session
from tests.live import RawStream
from tests.sse import SSEEvent

# The message number in the body of the messages the scenarios post ("m12").
TAG = re.compile(r'"body":"m(\d+)"')


class Counter:
    """Shared across the streams of one scenario."""

    def __init__(self) -> None:
        self.events = 0
        self.duplicates = 0
        self.backwards = 0
        self.server_closes = 0
        self.reconnects = 0
        self.failed = 0


class Stream(RawStream):
    """One SSE client: opens, counts what arrives, and (if asked) resumes from its last id."""

    def __init__(
        self,
        counter: Counter,
        port: int,
        slug: str,
        session: Session,
        last_id: int | None = None,
        keep_tags: bool = False,
        resume: bool = False,
    ) -> None:
        # The stream's retry: is 2000 ms; it reconnects a bit sooner to keep runs short.
        super().__init__(
            port, f"/rooms/{slug}/events/", session.id, last_id, resume=resume, reconnect_secs=0.5
        )
        self.counter = counter
        self.keep_tags = keep_tags
        self.seen: set[int] = set()
        self.received_at: list[tuple[int, float]] = []  # (seq, when)
        self.tags: dict[int, int] = {}  # seq -> the message number in its body
        self.opened_at = 0.0

    async def connect(self, timeout: float = 60) -> int:
        self.opened_at = time.monotonic()
        status = await super().connect(timeout)
        if not status:
            self.counter.failed += 1
            self.close()
        return status

    def received(self, event: SSEEvent, now: float) -> None:
        if event.id is None:
            return
        seq = int(event.id)
        counter = self.counter
        if seq in self.seen:
            counter.duplicates += 1
            return
        if self.last_id is not None and seq < self.last_id:
            counter.backwards += 1
        self.seen.add(seq)
        self.last_id = seq
        self.received_at.append((seq, now))
        counter.events += 1
        if self.keep_tags:
            match = TAG.search(event.data)
            if match:
                self.tags[seq] = int(match.group(1))

    def ended_by_server(self) -> None:
        self.counter.server_closes += 1
        if self.resume:
            self.counter.reconnects += 1


async def open_streams(streams: list[Stream], concurrency: int = 100) -> int:
    gate = asyncio.Semaphore(concurrency)

    async def one(stream: Stream) -> int:
        async with gate:
            return await stream.connect()

    statuses = await asyncio.gather(*(one(s) for s in streams))
    return sum(1 for status in statuses if status == 200)


def close_streams(streams: list[Stream]) -> None:
    for stream in streams:
        stream.close()


class Poster:
    """One keep-alive HTTP/1.1 connection that POSTs JSON."""

    def __init__(self, port: int, session: Session) -> None:
        self.port = port
        self.cookie = f"sessionid={session.id}; csrftoken={session.csrf}"
        self.csrf = session.csrf
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, payload: dict[str, Any], timeout: float = 30) -> int:
        try:
            return await asyncio.wait_for(self._post(path, payload), timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            self.close()
            return 0

    async def _post(self, path: str, payload: dict[str, Any]) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        body = json.dumps(payload).encode()
        self.writer.write(
            (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Cookie: {self.cookie}\r\nX-CSRFToken: {self.csrf}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        lower = head.lower()
        match = re.search(rb"content-length: *(\d+)", lower)
        if match:
            await self.reader.readexactly(int(match.group(1)))
        elif b"transfer-encoding: chunked" in lower:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            await self.reader.read()
            self.close()
        if b"connection: close" in lower:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None
