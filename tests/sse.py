"""The text/event-stream format, read incrementally: what every SSE client of the tests and
the benchmark parses with, and what the tests read a stream with (SSEClient). It imports
nothing of the application."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SSEEvent:
    type: str = "message"
    id: str | None = None
    data: str = ""
    retry: int | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.data)

    @property
    def seq(self) -> int:
        """The id as a number: this site's ids are the room's seqs."""
        assert self.id is not None, f"a {self.type} event without an id"
        return int(self.id)


@dataclass
class SSEParser:
    """Incremental parser of the text/event-stream format; keeps comments apart."""

    buffer: str = ""
    comments: list[str] = field(default_factory=list)
    retries: list[int] = field(default_factory=list)

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        # One split per chunk: a replay brings thousands of events in one chunk.
        *blocks, self.buffer = (self.buffer + chunk.decode()).split("\n\n")
        events = []
        for block in blocks:
            event = SSEEvent()
            has_data = False
            for line in block.split("\n"):
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    event.type = value
                elif name == "id":
                    event.id = value
                elif name == "data":
                    event.data = f"{event.data}\n{value}" if has_data else value
                    has_data = True
                elif name == "retry":
                    self.retries.append(int(value))
            if has_data:
                events.append(event)
        return events


class SSEClient:
    """A stream as the tests read it: the events so far, and waiting for more.

    Subclasses (tests.helpers.Stream in-process, tests.live.RawStream over a socket) keep
    `events` and say how to wait for more of the stream and when no more can come.
    """

    events: list[SSEEvent]
    read_timeout_secs = 10.0

    def finished(self) -> bool:
        """Whether nothing more can arrive: the response ended or the stream was closed."""
        raise NotImplementedError

    async def receive(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for more of the stream (TimeoutError if none came)."""
        raise NotImplementedError

    async def read_until(
        self, predicate: Callable[[list[SSEEvent]], object], timeout: float | None = None
    ) -> list[SSEEvent]:
        """Wait until predicate(events) holds; fail if the stream ends first or time is up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.read_timeout_secs if timeout is None else timeout)
        while not predicate(self.events):
            remaining = deadline - loop.time()
            if remaining <= 0 or self.finished():
                raise AssertionError(
                    f"the stream did not get there: {len(self.events)} events,"
                    f" the last {self.events[-3:]}"
                )
            with contextlib.suppress(TimeoutError):
                await self.receive(remaining)
        return self.events


def ids(events: list[SSEEvent]) -> list[int]:
    return [int(e.id) for e in events if e.id is not None]
