"""Real daphne processes on 127.0.0.1, and clients for them, for the tests that need
sockets, processes and restarts (resource use, faults, the browser).

A LiveDatabase is a fresh database the servers share: a SQLite file, or a new PostgreSQL
database on the server DATABASE_URL points at. Servers get REDIS_URL when the test run has
one, with a channel prefix of their own so that concurrent runs never hear each other.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from tests.sse import SSEEvent, SSEParser

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveDatabase:
    """A database of its own for the servers of one test, migrated and dropped after."""

    def __init__(
        self, directory: Path, database_url: str | None = None, redis_url: str | None = None
    ) -> None:
        """`database_url`/`redis_url` default to the test run's DATABASE_URL/REDIS_URL."""
        self.directory = directory
        self.env: dict[str, str] = {}
        self.pg_admin_url: str | None = None
        self.pg_name: str | None = None
        base_url = database_url or os.environ.get("DATABASE_URL", "")
        if base_url:
            parts = urlsplit(base_url)
            self.pg_name = f"chat_live_{uuid.uuid4().hex[:12]}"
            self.pg_admin_url = base_url
            self.env["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{self.pg_name}"))
        else:
            self.env["SQLITE_PATH"] = str(directory / "live.sqlite3")
        redis_url = redis_url or os.environ.get("REDIS_URL", "")
        if redis_url:
            self.env["REDIS_URL"] = redis_url
            self.env["REDIS_CHANNEL_PREFIX"] = f"live-{uuid.uuid4().hex[:12]}:"

    def _pg(self, statement: str) -> None:
        import psycopg

        assert self.pg_admin_url is not None
        with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
            conn.execute(statement)

    def create(self) -> LiveDatabase:
        if self.pg_name:
            self._pg(f'CREATE DATABASE "{self.pg_name}"')
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=ROOT,
            env=server_env(self.env),
            check=True,
            timeout=120,
        )
        return self

    def manage(self, *args: str) -> str:
        """Run a manage.py command on this database, as a process of its own; return its output."""
        return manage(self.env, *args)

    def drop(self) -> None:
        if self.pg_name:
            self._pg(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')

    def count_connections(self, pid: int) -> int:
        """Open connections to this database held by process `pid`."""
        if self.pg_name:
            import psycopg

            assert self.pg_admin_url is not None
            with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
                # A backend's client_port is the server process's local port: match by
                # the ports that process has open.
                ports = local_ports(pid)
                rows = conn.execute(
                    "SELECT client_port FROM pg_stat_activity WHERE datname = %s",
                    (self.pg_name,),
                ).fetchall()
                return sum(1 for (port,) in rows if port in ports)
        path = self.env["SQLITE_PATH"]
        count = 0
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == path:
                    count += 1
            except OSError:
                pass
        return count


def local_ports(pid: int) -> set[int]:
    """Local TCP ports of the sockets process `pid` has open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def processes_of(session: int, command: str) -> list[int]:
    """Pids of the processes in the process group `session` whose command line has `command`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        group = int(stat.rsplit(")", 1)[1].split()[2])  # after the name: state, ppid, pgrp
        if group == session and command in cmdline:
            pids.append(int(entry.name))
    return pids


def manage(env: dict[str, str], *args: str, timeout: float = 60) -> str:
    """Run a manage.py command with the servers' environment plus `env`; return its output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=server_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def server_env(extra: dict[str, str]) -> dict[str, str]:
    from rooms.limits import ALL_LIMITS

    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "SQLITE_PATH", "PYTEST_CURRENT_TEST")
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "chatsite.settings",
            "PYTHONUNBUFFERED": "1",
            # Tests post quickly as one person; the limit has tests of its own.
            "CHAT_POSTS_PER_MINUTE": "0",
            "CHAT_MAX_STREAMS_PER_USER": "100000",
            # And every other rate limit (rooms/limits.py), each tested on its own.
            **{limit.setting: "0" for limit in ALL_LIMITS},
        }
    )
    env.update(extra)
    return env


class LiveServer:
    """One daphne process serving chatsite.asgi on 127.0.0.1."""

    def __init__(self, database: LiveDatabase, port: int | None = None, **env: str) -> None:
        self.database = database
        self.port = port or free_port()
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = database.directory / f"daphne-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 30) -> LiveServer:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "--no-server-name",  # as bin/serve runs it
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "chatsite.asgi:application",
            ],
            cwd=ROOT,
            env=server_env({**self.database.env, **self.env}),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited: {self.log_path.read_text()[-2000:]}")
            try:
                response = httpx.get(f"{self.url}/accounts/login/", timeout=1)
                if response.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"daphne did not start: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye to clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def threads(self) -> int:
        return len(list(Path(f"/proc/{self.pid}/task").iterdir()))

    def db_connections(self) -> int:
        return self.database.count_connections(self.pid)


def _signup_form(client: Any, username: str, password: str) -> dict[str, str]:
    return {
        "username": username,
        "password1": password,
        "password2": password,
        "csrfmiddlewaretoken": client.cookies["csrftoken"],
    }


def _logged_in(client: Any, response: Any) -> Any:
    assert response.status_code == 302, response.text[:500]
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    return client


def sign_up_sync(base_url: str, username: str, password: str = "a-long-passphrase-9") -> Any:
    """Like sign_up, with a synchronous httpx client (for the Playwright sync API)."""
    client = httpx.Client(base_url=base_url, timeout=10)
    client.get("/accounts/signup/")
    form = _signup_form(client, username, password)
    return _logged_in(client, client.post("/accounts/signup/", data=form))


async def sign_up(base_url: str, username: str, password: str = "a-long-passphrase-9") -> Any:
    """An httpx client logged in as a new user, sending the CSRF header on every request."""
    client = httpx.AsyncClient(base_url=base_url, timeout=10)
    await client.get("/accounts/signup/")
    form = _signup_form(client, username, password)
    return _logged_in(client, await client.post("/accounts/signup/", data=form))


async def log_in(base_url: str, username: str, password: str = "a-long-passphrase-9") -> Any:
    """Another session of someone who signed up: an httpx client logged in with the form."""
    client = httpx.AsyncClient(base_url=base_url, timeout=10)
    await client.get("/accounts/login/")
    form = {
        "username": username,
        "password": password,
        "csrfmiddlewaretoken": client.cookies["csrftoken"],
    }
    return _logged_in(client, await client.post("/accounts/login/", data=form))


class RawStream:
    """An SSE stream over a bare socket (HTTP/1.0), cheap enough to open by the hundred."""

    def __init__(self, port: int, path: str, session: str, last_event_id: str | None = None):
        self.port = port
        self.path = path
        self.session = session
        self.last_event_id = last_event_id
        self.status: int | None = None
        self.parser = SSEParser()
        self.events: list[SSEEvent] = []
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.closed = False

    async def open(self) -> RawStream:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        headers = [
            f"GET {self.path} HTTP/1.0",
            f"Host: 127.0.0.1:{self.port}",
            "Accept: text/event-stream",
            f"Cookie: sessionid={self.session}",
        ]
        if self.last_event_id is not None:
            headers.append(f"Last-Event-ID: {self.last_event_id}")
        self.writer.write(("\r\n".join(headers) + "\r\n\r\n").encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        return self

    async def read_until(self, predicate: Any, timeout: float = 10.0) -> list[SSEEvent]:
        assert self.reader is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate(self.events):
            remaining = deadline - loop.time()
            if remaining <= 0 or self.closed:
                raise AssertionError(f"stream did not get there; got {len(self.events)} events")
            try:
                chunk = await asyncio.wait_for(self.reader.read(65536), remaining)
            except TimeoutError:
                continue
            if not chunk:
                self.closed = True
                continue
            self.events.extend(self.parser.feed(chunk))
        return self.events

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.closed = True
