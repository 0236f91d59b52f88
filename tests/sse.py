"""Read the room stream in-process, through the real ASGI application (channels routing,
session auth, the consumer), with channels' ApplicationCommunicator."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from asgiref.sync import sync_to_async
from channels.testing import ApplicationCommunicator
from django.contrib.auth.models import User
from django.test import Client

from chatsite.asgi import application


@dataclass
class SSEEvent:
    type: str = "message"
    id: str | None = None
    data: str = ""
    retry: int | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class SSEParser:
    """Incremental parser of the text/event-stream format; keeps comments apart."""

    buffer: str = ""
    comments: list[str] = field(default_factory=list)
    retries: list[int] = field(default_factory=list)

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self.buffer += chunk.decode()
        events = []
        while "\n\n" in self.buffer:
            block, self.buffer = self.buffer.split("\n\n", 1)
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


class Stream:
    """One open stream of a room, as a given user sees it."""

    def __init__(
        self,
        slug: str,
        user: User | None,
        *,
        last_event_id: str | None = None,
        query: dict[str, str] | None = None,
    ) -> None:
        self.user = user
        headers = [(b"host", b"testserver")]
        if last_event_id is not None:
            headers.append((b"last-event-id", last_event_id.encode("latin-1")))
        path = f"/rooms/{slug}/events/"
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": urlencode(query or {}).encode(),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self.parser = SSEParser()
        self.events: list[SSEEvent] = []
        self.status: int | None = None
        self.headers: dict[bytes, bytes] = {}
        self.body = b""
        self.ended = False

    def _log_in(self) -> None:
        client = self.client = Client()
        client.force_login(self.user)
        cookie = f"sessionid={client.cookies['sessionid'].value}"
        self.scope["headers"].append((b"cookie", cookie.encode()))

    async def open(self) -> Stream:
        if self.user is not None:
            await sync_to_async(self._log_in)()
        self.communicator = ApplicationCommunicator(application, self.scope)
        await self.communicator.send_input({"type": "http.request", "body": b""})
        start = await self.communicator.receive_output(timeout=5)
        assert start["type"] == "http.response.start"
        self.status = start["status"]
        self.headers = dict(start["headers"])
        return self

    async def _read_chunk(self, timeout: float) -> bool:
        # Not receive_output: on a timeout it cancels the application.
        if self.communicator.future.done() and self.communicator.output_queue.empty():
            self.communicator.future.result()  # raise what the application raised
            raise AssertionError("the application ended without ending the response")
        message = await asyncio.wait_for(self.communicator.output_queue.get(), timeout)
        assert message["type"] == "http.response.body"
        self.body += message.get("body", b"")
        self.events.extend(self.parser.feed(message.get("body", b"")))
        if not message.get("more_body", False):
            self.ended = True
        return not self.ended

    async def read_until(self, predicate, timeout: float = 5.0) -> list[SSEEvent]:
        """Read until predicate(events) holds; fail after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate(self.events):
            remaining = deadline - loop.time()
            if remaining <= 0 or self.ended:
                raise AssertionError(f"stream did not get there; events so far: {self.events}")
            try:
                await self._read_chunk(remaining)
            except TimeoutError:
                raise AssertionError(f"stream timed out; events so far: {self.events}") from None
        return self.events

    async def read_events(self, count: int, timeout: float = 5.0) -> list[SSEEvent]:
        return await self.read_until(lambda events: len(events) >= count, timeout)

    async def expect_nothing(self, seconds: float = 0.5) -> None:
        """Fail if any event arrives within `seconds`."""
        before = len(self.events)
        try:
            while True:
                await self._read_chunk(seconds)
                assert len(self.events) == before, f"unexpected events: {self.events[before:]}"
                if self.ended:
                    return
        except TimeoutError:
            pass

    async def read_to_end(self, timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.ended:
            await self._read_chunk(max(0.01, deadline - loop.time()))

    async def close(self) -> None:
        # Like daphne, tell the application once the connection is gone, ended or not.
        if not self.communicator.future.done():
            await self.communicator.send_input({"type": "http.disconnect"})
        await self.communicator.wait(timeout=5)

    async def __aenter__(self) -> Stream:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def ids(events: list[SSEEvent]) -> list[int]:
    return [int(e.id) for e in events if e.id is not None]
