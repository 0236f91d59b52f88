"""Real processes on 127.0.0.1, and clients for them, for the tests that need sockets,
processes and restarts (resource use, faults, the browser), and for the benchmark.

A LiveDatabase is a fresh database the servers share: a SQLite file, or a new PostgreSQL
database on the server DATABASE_URL points at. Each is a copy of one database the run
migrated once (`manage.py migrate` takes seconds, a copy milliseconds), except on a
database server of a test's own, where it is migrated itself. Servers get REDIS_URL when
the test run has one, with a channel prefix of their own so that concurrent runs never hear
each other.
PrivateRedis and PrivatePostgres are servers of one test's own, which it may kill and restart.
RawStream reads a room's stream over a bare socket, and can follow it across reconnects.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import glob
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from tests.sse import SSEClient, SSEEvent, SSEParser

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Wait until something accepts connections on 127.0.0.1:`port`; fail if `process` exits
    first or the time is up (with the end of its `log`)."""

    def tail() -> str:
        return f": {log.read_text()[-3000:]}" if log is not None and log.exists() else ""

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"exited{tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s{tail()}")


class LiveDatabase:
    """A database of its own for the servers of one test, migrated and dropped after."""

    def __init__(
        self, directory: Path, database_url: str | None = None, redis_url: str | None = None
    ) -> None:
        """`database_url`/`redis_url` default to the test run's DATABASE_URL/REDIS_URL;
        an empty one means none (SQLite, in-process fan-out)."""
        self.directory = directory
        # Uploaded files of its own, beside it.
        self.env: dict[str, str] = {"CHAT_MEDIA_ROOT": str(directory / "media")}
        self.pg_admin_url: str | None = None
        self.pg_name: str | None = None
        # On the run's own database (not a server of the test's own): a copy of its template.
        self.from_template = not database_url
        if database_url is None:
            database_url = os.environ.get("DATABASE_URL", "")
        if database_url:
            parts = urlsplit(database_url)
            self.pg_name = f"chat_live_{uuid.uuid4().hex[:12]}"
            self.pg_admin_url = database_url
            self.env["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{self.pg_name}"))
        else:
            self.env["SQLITE_PATH"] = str(directory / "live.sqlite3")
        if redis_url is None:
            redis_url = os.environ.get("REDIS_URL", "")
        if redis_url:
            self.env["REDIS_URL"] = redis_url
            self.env["REDIS_CHANNEL_PREFIX"] = f"live-{uuid.uuid4().hex[:12]}:"

    def _pg(self, statement: str) -> None:
        import psycopg

        assert self.pg_admin_url is not None
        with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
            conn.execute(statement)

    def create(self) -> LiveDatabase:
        """Make it, migrated: a copy of the run's template, or migrated here."""
        if not self.from_template:
            if self.pg_name:
                self._pg(f'CREATE DATABASE "{self.pg_name}"')
            migrate(self.env)
        elif self.pg_name:
            self._pg(f'CREATE DATABASE "{self.pg_name}" TEMPLATE "{self._pg_template()}"')
        else:
            shutil.copyfile(self._sqlite_template(), self.env["SQLITE_PATH"])
        return self

    def _sqlite_template(self) -> str:
        """The run's migrated SQLite file, made at the first call."""
        path = _templates.get("sqlite")
        if path is None:
            directory = tempfile.mkdtemp(prefix="chat-live-template-")
            atexit.register(shutil.rmtree, directory, True)
            path = os.path.join(directory, "migrated.sqlite3")
            migrate({"SQLITE_PATH": path, "CHAT_MEDIA_ROOT": os.path.join(directory, "media")})
            # Everything in the file itself, none of it in a write-ahead log beside it.
            with contextlib.closing(sqlite3.connect(path)) as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            _templates["sqlite"] = path
        return path

    def _pg_template(self) -> str:
        """The run's migrated PostgreSQL database on this server, made at the first call
        and dropped when the run ends."""
        assert self.pg_admin_url is not None
        name = _templates.get(self.pg_admin_url)
        if name is None:
            name = f"chat_live_template_{uuid.uuid4().hex[:12]}"
            self._pg(f'CREATE DATABASE "{name}"')
            atexit.register(self._drop_quietly, name)
            url = urlunsplit(urlsplit(self.pg_admin_url)._replace(path=f"/{name}"))
            migrate({"DATABASE_URL": url})
            _templates[self.pg_admin_url] = name
        return name

    def _drop_quietly(self, name: str) -> None:
        with contextlib.suppress(Exception):
            self._pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

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


# What a process uses, from /proc.


def cpu_seconds(pid: int) -> float:
    """CPU time the process has used: user plus system."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def thread_count(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


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


# The run's migrated databases that LiveDatabases copy: "sqlite" -> its file, a PostgreSQL
# server's URL -> the template database's name on it.
_templates: dict[str, str] = {}


def migrate(env: dict[str, str]) -> None:
    """`manage.py migrate` on the database `env` names, as a process of its own."""
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=server_env(env),
        check=True,
        timeout=120,
    )


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


def send_raw(port: int, head: bytes, body: bytes = b"") -> Any:
    """Open a connection to 127.0.0.1:port and send a request's head (lines joined by \\n) and
    as much of a body as given; the socket is left open for more."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(head.replace(b"\n", b"\r\n") + b"\r\n" + body)
    return sock


def read_raw_answer(sock: Any) -> tuple[int, dict[bytes, bytes]]:
    """The status and headers (lowercase names) of the answer, once the server closes."""
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except ConnectionResetError:
        # The server answered, then closed with some of the body unread in its socket (it
        # stops reading a body it refused): its kernel resets the connection after the answer.
        if b"\r\n\r\n" not in answer:
            raise
    sock.close()
    status = int(answer.split(b" ", 2)[1])
    headers = dict(line.split(b": ", 1) for line in answer.split(b"\r\n\r\n")[0].split(b"\r\n")[1:])
    return status, {name.lower(): value for name, value in headers.items()}


# The server the live tests run: daphne (what `manage.py runserver` serves) or uvicorn (what
# bin/serve and the systemd units run). bin/test runs its SQLite stack under daphne and its
# PostgreSQL+Redis stack, the production one, under uvicorn.
SERVERS = ("daphne", "uvicorn")
SERVER = os.environ.get("CHAT_TEST_SERVER", "").strip() or "daphne"
if SERVER not in SERVERS:
    raise RuntimeError(f"CHAT_TEST_SERVER must be daphne or uvicorn, got {SERVER!r}")


def server_command(server: str, host: str, port: int) -> list[str]:
    """The arguments after `python` that run the site on host:port, as bin/serve runs it
    (uvicorn) or as runserver does (daphne)."""
    if server == "uvicorn":
        # bin/serve's options, but a shorter wait for open streams at SIGTERM.
        return [
            *("-m", "uvicorn", "chatsite.asgi:application"),
            *("--loop", "uvloop", "--http", "httptools", "--ws", "none", "--lifespan", "off"),
            *("--no-proxy-headers", "--no-server-header", "--no-access-log"),
            *("--timeout-keep-alive", "75", "--timeout-graceful-shutdown", "3"),
            *("--host", host, "--port", str(port)),
        ]
    return [
        *("-m", "daphne", "--no-server-name"),  # as runserver does
        *("-b", host, "-p", str(port), "chatsite.asgi:application"),
    ]


class LiveServer:
    """One server process (daphne or uvicorn, CHAT_TEST_SERVER) serving chatsite.asgi on
    127.0.0.1."""

    def __init__(
        self,
        database: LiveDatabase,
        port: int | None = None,
        server: str | None = None,
        **env: str,
    ) -> None:
        self.database = database
        self.port = port or free_port()
        self.server = server or SERVER
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = database.directory / f"{self.server}-{self.port}.log"

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
            [sys.executable, *server_command(self.server, "127.0.0.1", self.port)],
            cwd=ROOT,
            env=server_env({**self.database.env, **self.env}),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.server} exited: {self.log_path.read_text()[-2000:]}")
            try:
                response = httpx.get(f"{self.url}/accounts/login/", timeout=1)
                if response.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.server} did not start: {self.log_path.read_text()[-2000:]}")

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
        return thread_count(self.pid)

    def db_connections(self) -> int:
        return self.database.count_connections(self.pid)


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


class ChunkedDecoder:
    """The body of an answer sent with Transfer-Encoding: chunked, as it arrives. uvicorn
    sends an answer without a Content-Length that way even to an HTTP/1.0 request."""

    def __init__(self) -> None:
        self.buffer = b""
        self.remaining = 0  # bytes of the current chunk still to come
        self.crlf = False  # the CRLF after a chunk's data is next
        self.done = False  # the last (empty) chunk came

    def feed(self, data: bytes) -> bytes:
        self.buffer += data
        out = []
        while not self.done:
            if self.remaining:
                taken = self.buffer[: self.remaining]
                self.buffer = self.buffer[len(taken) :]
                self.remaining -= len(taken)
                out.append(taken)
                if self.remaining:
                    break
                self.crlf = True
            if self.crlf:
                if len(self.buffer) < 2:
                    break
                self.buffer, self.crlf = self.buffer[2:], False
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            size = int(self.buffer[:end].split(b";", 1)[0], 16)
            self.buffer = self.buffer[end + 2 :]
            self.done = size == 0
            self.remaining = size
        return b"".join(out)


class _Connection(asyncio.Protocol):
    """One connection of a RawStream: hands what arrives to it, and tells it when it ends."""

    def __init__(self, stream: RawStream) -> None:
        self.stream = stream
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.stream.connection = self
        transport.write(self.stream.request())

    def data_received(self, data: bytes) -> None:
        self.stream.arrived(self, data, time.monotonic())

    def connection_lost(self, exc: Exception | None) -> None:
        self.stream.lost(self)


class RawStream(SSEClient):
    """A room's stream over a bare socket (HTTP/1.0), cheap enough to open by the thousand.

    Every event that arrives goes to `received` (which keeps it in `events`, duplicates
    included, so that a test can tell). With `resume`, the stream reconnects whenever it ends
    (the server closed it or was killed), `reconnect_secs` later, sending the last id it got
    as Last-Event-ID, and moves on to the next of its `ports` when one refuses connections;
    `connects` records every attempt as (port, last id sent, status or None).
    """

    def __init__(
        self,
        port: int | Sequence[int],
        path: str,
        session: str,
        last_event_id: int | str | None = None,
        *,
        resume: bool = False,
        reconnect_secs: float = 0.2,  # the stream's retry is 2 s; tests need not wait that long
    ) -> None:
        self.ports = [port] if isinstance(port, int) else list(port)
        self.index = 0
        self.path = path
        self.session = session
        self.last_id = None if last_event_id is None else int(last_event_id)
        self.resume = resume
        self.reconnect_secs = reconnect_secs
        self.status: int | None = None
        self.head = b""
        self.body = b""  # the answer to a refused stream (not 200)
        self.dechunk: ChunkedDecoder | None = None  # when the answer comes in chunks
        self.parser = SSEParser()
        self.events: list[SSEEvent] = []
        self.connects: list[tuple[int, int | None, int | None]] = []
        self.closed = False  # ended (by the server, unless it resumes) or closed here
        self.stopped = False  # closed here
        self.connection: _Connection | None = None
        self.answered: asyncio.Future[int] | None = None  # the status, once the head is in
        self.changed: asyncio.Future[None] | None = None  # woken when something arrives
        self.reconnecting: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return self.ports[self.index]

    @property
    def connected(self) -> bool:
        return self.connection is not None

    def request(self) -> bytes:
        lines = [
            f"GET {self.path} HTTP/1.0",
            f"Host: 127.0.0.1:{self.port}",
            "Accept: text/event-stream",
            f"Cookie: sessionid={self.session}",
        ]
        if self.last_id is not None:
            lines.append(f"Last-Event-ID: {self.last_id}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def connect(self, timeout: float = 15) -> int:
        """Connect once and read the answer's head; return its status, 0 if none came.

        A port that refuses the connection is left for the next one.
        """
        loop = asyncio.get_running_loop()
        port, sent = self.port, self.last_id
        self.status, self.head, self.body, self.dechunk = None, b"", b"", None
        self.parser = SSEParser()  # nothing of an earlier connection's last frame
        answered = self.answered = loop.create_future()
        status = 0
        try:
            await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(self), "127.0.0.1", port), timeout
            )
            status = await asyncio.wait_for(asyncio.shield(answered), timeout)
        except ConnectionRefusedError:
            self.index = (self.index + 1) % len(self.ports)
        except (OSError, TimeoutError):
            pass
        self.connects.append((port, sent, status or None))
        if not status or self.stopped:  # closed meanwhile
            self.drop()
        return status

    async def open(self, timeout: float = 15) -> RawStream:
        """Connect; fail unless an answer came."""
        if not await self.connect(timeout):
            raise AssertionError(f"no answer from 127.0.0.1:{self.connects[-1][0]}{self.path}")
        return self

    def follow(self) -> RawStream:
        """Connect in the background, again and again until a stream is open (and, as it
        resumes, whenever it ends), until close()."""
        self.resume = True
        self.reconnecting = asyncio.get_running_loop().create_task(self._reconnect(first=True))
        return self

    def arrived(self, connection: _Connection, data: bytes, now: float) -> None:
        if connection is not self.connection:
            return
        if self.status is None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            self.head, data = self.head[:end], self.head[end + 4 :]
            self.status = int(self.head.split(b" ", 2)[1])
            if b"\r\ntransfer-encoding: chunked" in self.head.lower():
                self.dechunk = ChunkedDecoder()
            if self.answered is not None and not self.answered.done():
                self.answered.set_result(self.status)
        if self.dechunk is not None:
            data = self.dechunk.feed(data)
        if self.status != 200:
            self.body += data
        else:
            for event in self.parser.feed(data):
                self.received(event, now)
        self._wake()

    def received(self, event: SSEEvent, now: float) -> None:
        """Keep an event that arrived at `now` (time.monotonic())."""
        self.events.append(event)
        if event.id is not None:
            self.last_id = int(event.id)

    def lost(self, connection: _Connection) -> None:
        if connection is not self.connection:
            return
        self.connection = None
        if self.answered is not None and not self.answered.done():
            self.answered.set_result(0)
        if not self.stopped:
            self.ended_by_server()
            if self.resume and self.reconnecting is None:
                self.reconnecting = asyncio.get_running_loop().create_task(self._reconnect())
        if self.stopped or not self.resume:
            self.closed = True
        self._wake()

    def ended_by_server(self) -> None:
        """Called when the server ends the connection (or it breaks)."""

    async def _reconnect(self, first: bool = False) -> None:
        try:
            while not self.stopped:
                if not first:
                    await asyncio.sleep(self.reconnect_secs)
                first = False
                if self.stopped:
                    return
                if await self.connect() == 200 and self.connected:
                    return
                self.drop()  # a refusal (503 while the database restarts): try again
        finally:
            self.reconnecting = None

    def _wake(self) -> None:
        if self.changed is not None and not self.changed.done():
            self.changed.set_result(None)

    def finished(self) -> bool:
        return self.closed

    async def receive(self, timeout: float) -> None:
        self.changed = asyncio.get_running_loop().create_future()
        await asyncio.wait_for(self.changed, timeout)

    async def read_retry(self, timeout: float = 10.0) -> None:
        """Wait for the stream's retry line: the server let it in (and subscribes it next)."""
        await self.read_until(lambda _: self.parser.retries, timeout)

    async def read_to_end(self, timeout: float = 10.0) -> None:
        """Wait until the server ends the answer (a refused stream's, say)."""
        with contextlib.suppress(AssertionError):
            await self.read_until(lambda _: False, timeout)
        assert self.closed, f"the answer did not end within {timeout}s"

    def pause_reading(self) -> None:
        if self.connection is not None and self.connection.transport is not None:
            self.connection.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.connection is not None and self.connection.transport is not None:
            self.connection.transport.resume_reading()

    def drop(self) -> None:
        """Close the connection, if any, without ending the stream (it may resume)."""
        connection, self.connection = self.connection, None
        if connection is not None and connection.transport is not None:
            connection.transport.close()

    def close(self) -> None:
        self.stopped = self.closed = True
        self.drop()
        self._wake()
