"""The text/event-stream format, read incrementally: what every SSE client of the tests and
the benchmark parses with. It imports nothing of the application."""

from __future__ import annotations

import json
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


def ids(events: list[SSEEvent]) -> list[int]:
    return [int(e.id) for e in events if e.id is not None]
