"""What the tests call: JSON requests with Django's test client, a poster that retries across
live processes, waiting for a condition, and Stream, which reads a room's stream in-process.

Stream drives the real ASGI application (channels routing, session auth, the consumer) with
channels' ApplicationCommunicator. The application, Django's test client and channels'
testing tools are imported when a stream opens, not when this module is imported: the
benchmark uses `wait_until` without setting Django up.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
from asgiref.sync import sync_to_async

from tests.sse import SSEClient, SSEEvent, SSEParser

if TYPE_CHECKING:
    from channels.testing import ApplicationCommunicator
    from django.contrib.auth.models import User
    from django.test import Client


def post_json(client: Client, url: str, payload: Any = None, **extra: Any) -> Any:
    """POST `payload` (an empty object if None) as JSON."""
    body = json.dumps({} if payload is None else payload)
    return client.post(url, body, content_type="application/json", **extra)


def patch_json(client: Client, url: str, payload: Any, **extra: Any) -> Any:
    return client.patch(url, json.dumps(payload), content_type="application/json", **extra)


def post_message(client: Client, slug: str, payload: Any, **extra: Any) -> Any:
    """POST a message (`payload` is the JSON body) to the room `slug`."""
    return post_json(client, f"/rooms/{slug}/messages/", payload, **extra)


def upload_file(
    client: Client, slug: str, name: str, data: bytes, content_type: str = "", **extra: Any
) -> Any:
    """POST one file to the room's uploads, as a browser's multipart form does."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    file = SimpleUploadedFile(name, data, content_type=content_type or "application/octet-stream")
    return client.post(f"/rooms/{slug}/uploads/", {"file": file}, **extra)


def image_bytes(
    format: str = "PNG", size: tuple[int, int] = (64, 48), color: str = "teal", **save: Any
) -> bytes:
    """A small image made with Pillow, in `format` (PNG, JPEG, GIF, WEBP)."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format, **save)
    return out.getvalue()


# A tiny valid PDF: what a browser test drops and the tests upload as a document.
PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


async def wait_until(
    predicate: Callable[[], object], timeout: float, message: str | None = None, step: float = 0.05
) -> bool:
    """Poll until `predicate()` holds; return whether it did within `timeout` seconds.

    With a `message`, fail with it instead of returning False.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            if message is not None:
                raise AssertionError(message)
            return False
        await asyncio.sleep(step)
    return True


async def wait_for_subscribers(room_id: int, count: int = 1, timeout: float = 5) -> None:
    """Wait until `count` streams of the room have subscribed to this process's hub and the
    room's head is read: from then on every event after it reaches them."""
    from rooms.stream.hub import hub

    def subscribed() -> bool:
        channel = hub.rooms.get(room_id)
        return (
            channel is not None and channel.head is not None and (len(channel.subscribers) >= count)
        )

    await wait_until(subscribed, timeout, "the streams did not subscribe", step=0.01)


async def wait_until_live(room_id: int, timeout: float = 5) -> None:
    """Wait until every stream of the room in this process waits for events, with nothing
    queued: the next one is written from the hub (Subscriber.send_now)."""
    from rooms.stream.hub import hub

    def live() -> bool:
        channel = hub.rooms.get(room_id)
        return channel is not None and all(
            s.send_now is not None and s.waiter is not None and not s.waiter.done()
            for s in channel.subscribers
        )

    await wait_until(live, timeout, "the streams did not go live", step=0.01)


async def wait_for_user_streams(user_id: int, count: int = 1, timeout: float = 5) -> None:
    """Wait until `count` user streams of the user have read where they start from: from
    then on every event after it reaches them live."""
    from rooms.stream.hub import hub

    def started() -> bool:
        streams = hub.site.users.get(user_id, set())
        return len([s for s in streams if s.backlog is None]) >= count

    await wait_until(started, timeout, "the user streams did not start", step=0.01)


@dataclass
class Poster:
    """Posts `count` messages with client_ids, alternating servers, retrying each one with the
    same client_id (on the other server) until it is acknowledged or its time is up."""

    clients: list[httpx.AsyncClient]
    path: str
    tag: str
    acked: dict[str, int] = field(default_factory=dict)  # client_id -> message id
    unacked: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    unavailable: list[httpx.Response] = field(default_factory=list)  # the 503 answers
    unexpected: list[tuple[int, str]] = field(default_factory=list)
    transport_errors: int = 0
    sent: int = 0

    async def run(self, count: int, interval: float, per_message_secs: float = 40) -> None:
        loop = asyncio.get_running_loop()
        for i in range(count):
            client_id = f"{self.tag}-{i}"
            deadline = loop.time() + per_message_secs
            attempt = 0
            while loop.time() < deadline:
                client = self.clients[(i + attempt) % len(self.clients)]
                attempt += 1
                try:
                    response = await client.post(
                        self.path,
                        json={"body": f"message {i}", "client_id": client_id},
                        timeout=15,
                    )
                except httpx.TransportError:
                    self.transport_errors += 1
                    await asyncio.sleep(0.05)
                    continue
                self.statuses.append(response.status_code)
                if response.status_code == 201:
                    self.acked[client_id] = response.json()["id"]
                    break
                if response.status_code == 503:
                    self.unavailable.append(response)
                else:
                    self.unexpected.append((response.status_code, response.text[:300]))
                await asyncio.sleep(0.1)
            else:
                self.unacked.append(client_id)
            self.sent = i + 1
            await asyncio.sleep(interval)


class Stream(SSEClient):
    """One open stream of a room, as a given user sees it, read in-process."""

    read_timeout_secs = 5.0

    def __init__(
        self,
        slug: str | None,
        user: User | None,
        *,
        last_event_id: str | None = None,
        query: dict[str, str] | None = None,
        token: str | None = None,
        read_ahead: int | None = None,
    ) -> None:
        self.user = user
        # A slow reader: at most this many of the server's messages wait unread, and the
        # server's next send waits (as it does when a socket's buffer is full).
        self.read_ahead = read_ahead
        headers = [(b"host", b"testserver")]
        if token is not None:
            # A program's stream: its API token instead of a session (user is None then).
            headers.append((b"authorization", f"Bearer {token}".encode()))
        if last_event_id is not None:
            headers.append((b"last-event-id", last_event_id.encode("latin-1")))
        # No slug: the user stream, GET /events/.
        path = f"/rooms/{slug}/events/" if slug is not None else "/events/"
        self.scope: dict[str, Any] = {
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
        self.client: Client
        self.communicator: ApplicationCommunicator

    def _log_in(self) -> None:
        from django.test import Client

        assert self.user is not None
        client = self.client = Client()
        client.force_login(self.user)
        cookie = f"sessionid={client.cookies['sessionid'].value}"
        self.scope["headers"].append((b"cookie", cookie.encode()))

    async def open(self) -> Stream:
        from channels.testing import ApplicationCommunicator

        from chatsite.asgi import application

        if self.user is not None:
            await sync_to_async(self._log_in)()
        self.communicator = ApplicationCommunicator(application, self.scope)
        if self.read_ahead is not None:
            self.communicator._output_queue = asyncio.Queue(maxsize=self.read_ahead)
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

    def finished(self) -> bool:
        return self.ended

    async def receive(self, timeout: float) -> None:
        await self._read_chunk(timeout)

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
