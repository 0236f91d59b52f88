"""Helpers for the fault tests: private Redis and PostgreSQL servers that a test may restart
without disturbing anyone else, a reconnecting SSE client and a retrying poster.

Everything listens on 127.0.0.1 only, on free ports, and is stopped by the test that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.live import LiveServer, free_port
from tests.sse import SSEParser


def wait_for_port(port: int, timeout: float) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class PrivateRedis:
    """A redis-server of this test's own: no persistence, so a restart loses everything."""

    def __init__(self, directory: Path) -> None:
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        assert self.binary is not None
        log = (self.directory / f"redis-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            [
                self.binary,
                *("--bind", "127.0.0.1", "--port", str(self.port)),
                *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, 10)
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


def find_postgres_bin() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PrivatePostgres:
    """A PostgreSQL cluster of this test's own (initdb, trust auth, 127.0.0.1, a free port).

    As root the cluster runs as the `postgres` user, since PostgreSQL refuses to run as root.
    """

    def __init__(self) -> None:
        self.bindir = find_postgres_bin()
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="chat-pg-"))
        self.data = self.directory / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.directory, "postgres")
        self.running = False

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        assert self.bindir is not None
        subprocess.run(
            [*self.as_user, str(self.bindir / args[0]), *args[1:]],
            check=True,
            timeout=timeout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def create(self) -> PrivatePostgres:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        return self.start()

    def start(self) -> PrivatePostgres:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c fsync=off"
            " -c max_connections=100"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.directory / "log"),
            "-w", "start",
        )  # fmt: skip
        self.running = True
        return self

    def stop(self, mode: str = "fast") -> None:
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
            self.running = False

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class Received:
    seq: int
    type: str
    data: Any


@dataclass
class Follower:
    """A client that keeps one room's stream open, reconnecting with Last-Event-ID.

    It reconnects to the same server after a stream ends, and moves on to the next server
    when its server refuses connections (a killed process). It records every event it gets,
    duplicates included, so the test can tell.
    """

    name: str
    servers: list[LiveServer]
    index: int
    session: str
    path: str
    last_id: int
    events: list[Received] = field(default_factory=list)
    connects: list[tuple[int, int, int | None]] = field(default_factory=list)  # (port, id, status)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            server = self.servers[self.index]
            status = None
            writer = None
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", server.port), 2
                )
                request = (
                    f"GET {self.path} HTTP/1.0\r\nHost: 127.0.0.1:{server.port}\r\n"
                    f"Accept: text/event-stream\r\nCookie: sessionid={self.session}\r\n"
                    f"Last-Event-ID: {self.last_id}\r\n\r\n"
                )
                writer.write(request.encode())
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)
                status = int(head.split(b" ", 2)[1])
                self.connects.append((server.port, self.last_id, status))
                if status == 200:
                    await self.read(reader, stop)
            except ConnectionRefusedError:
                self.connects.append((server.port, self.last_id, None))
                self.index = (self.index + 1) % len(self.servers)
            except (OSError, TimeoutError, asyncio.IncompleteReadError):
                self.connects.append((server.port, self.last_id, status))
            finally:
                if writer is not None:
                    writer.close()
            if not stop.is_set():
                await asyncio.sleep(0.2)  # the stream's retry is 2 s; tests need not wait that long

    async def read(self, reader: asyncio.StreamReader, stop: asyncio.Event) -> None:
        parser = SSEParser()
        while not stop.is_set():
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 0.25)
            except TimeoutError:
                continue
            if not chunk:
                return
            for event in parser.feed(chunk):
                if event.id is None:
                    continue
                self.events.append(Received(int(event.id), event.type, event.json))
                self.last_id = int(event.id)

    def message_ids(self) -> list[int]:
        return [e.data["id"] for e in self.events if e.type == "message"]

    def client_ids(self) -> list[str]:
        return [e.data["client_id"] for e in self.events if e.type == "message"]


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


async def wait_until(predicate: Any, timeout: float, message: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(message)
        await asyncio.sleep(0.1)
