"""The benchmark: start the site (and the bare asyncio ceiling), drive real HTTP and SSE
traffic at them on 127.0.0.1, print one table row per scenario and append it as a JSON line
to bench/results/results.jsonl, then plot latency against subscribers.

    .venv/bin/python -m bench.run                     # SQLite, one daphne process
    .venv/bin/python -m bench.run --stack postgres    # PostgreSQL + Redis, two daphne processes
    .venv/bin/python -m bench.run --quick             # smaller numbers, a minute or two
    .venv/bin/python -m bench.run --scenarios fanout,post

Everything it starts (daphne, the ceiling, a temporary SQLite database or PostgreSQL
database) it stops or drops on the way out. Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CORE, CLIENT_CORE = 0, 1
BACKLOG = 4096  # listen backlog of every server the benchmark starts
PASSWORD = "bench-passphrase-4711"
ROOMS = ("bench", "quiet", "replay", "overload")
TAG = re.compile(rb'"body":"m(\d+)"')


# ---------------------------------------------------------------- processes and /proc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fd_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def raise_fd_limit() -> None:
    hard = fd_limit()
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pinned(core: int) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(core)]
    return []


def pin_self() -> None:
    if (os.cpu_count() or 1) > 1:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {CLIENT_CORE})


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def local_ports(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


class Server:
    """Processes serving the benchmark's paths; the site or the ceiling."""

    name = "?"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def spawn(self, argv: list[str], env: dict[str, str], port: int) -> None:
        log = (self.workdir / f"{self.name}-{port}.log").open("ab")
        hard = fd_limit()
        process = subprocess.Popen(
            [*pinned(SERVER_CORE), *argv],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard)),
        )
        self.processes.append(process)
        self.ports.append(port)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {log.name}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start on port {port}")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self.processes = []

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def rss_kb(self) -> int:
        return sum(rss_kb(pid) for pid in self.pids)

    def threads(self) -> int:
        return sum(threads(pid) for pid in self.pids)

    def db_connections(self) -> int:
        return 0

    # Set up by `prepare`: per user (cookie header, csrf token).
    sessions: list[tuple[str, str]] = []


class Ceiling(Server):
    name = "ceiling"

    def start(self) -> Ceiling:
        port = free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.spawn([sys.executable, "-m", "bench.ceiling", "--port", str(port)], env, port)
        self.sessions = [("sessionid=none", "none")] * 8
        return self

    def prepare(self, users: int) -> None:
        pass


class Site(Server):
    name = "site"

    def __init__(self, workdir: Path, stack: str) -> None:
        super().__init__(workdir)
        self.stack = stack
        self.env: dict[str, str] = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "SQLITE_PATH")
        }
        self.env.update(
            {
                "DJANGO_SETTINGS_MODULE": "chatsite.settings",
                "DJANGO_DEBUG": "0",
                "DJANGO_SECRET_KEY": secrets.token_hex(32),
                "CHAT_LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
                # Plain HTTP on 127.0.0.1, no TLS proxy in front.
                "DJANGO_SECURE_SSL_REDIRECT": "0",
                "DJANGO_SECURE_COOKIES": "0",
                # The load comes from a few benchmark users: lift the per-person limits.
                "CHAT_POSTS_PER_MINUTE": "0",
                "CHAT_MAX_STREAMS_PER_USER": "1000000",
                # It signs up its users and makes its rooms from one address in a second.
                "CHAT_SIGNUPS_PER_HOUR": "0",
                "CHAT_ROOMS_PER_HOUR": "0",
                "CHAT_ROOMS_PER_HOUR_PER_ADDRESS": "0",
                "CHAT_MEMBERSHIP_CHANGES_PER_HOUR": "0",
            }
        )
        self.pg_admin: str | None = None
        self.pg_name: str | None = None
        self.sqlite_path: str | None = None
        if stack == "postgres":
            base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
            self.pg_admin = base
            self.pg_name = f"chat_bench_{uuid.uuid4().hex[:10]}"
            self.env["DATABASE_URL"] = urlunsplit(urlsplit(base)._replace(path=f"/{self.pg_name}"))
            self.env["REDIS_URL"] = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
            self.env["REDIS_CHANNEL_PREFIX"] = f"bench-{uuid.uuid4().hex[:10]}:"
        else:
            self.sqlite_path = str(workdir / "bench.sqlite3")
            self.env["SQLITE_PATH"] = self.sqlite_path

    def _pg(self, statement: str) -> None:
        import psycopg

        assert self.pg_admin is not None
        with psycopg.connect(self.pg_admin, autocommit=True) as conn:
            conn.execute(statement)

    def start(self, server_cmd: str = "daphne") -> Site:
        if self.pg_name:
            subprocess.run([str(ROOT / "bin" / "services")], check=True, timeout=120)
            self._pg(f'CREATE DATABASE "{self.pg_name}"')
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=ROOT,
            env=self.env,
            check=True,
            timeout=300,
        )
        for _ in range(2 if self.stack == "postgres" else 1):
            port = free_port()
            if server_cmd == "uvicorn":
                argv = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1"]
                argv += ["--port", str(port), "--backlog", str(BACKLOG), "--no-access-log"]
                argv += ["--lifespan", "off"]
                argv += ["chatsite.asgi:application"]
            else:
                # Twisted listens with a backlog of 50 by default: a burst of reconnects
                # beyond that loses SYNs and waits a second for the retry. Same as the ceiling.
                endpoint = f"tcp:port={port}:interface=127.0.0.1:backlog={BACKLOG}"
                argv = [sys.executable, "-m", "daphne", "-e", endpoint]
                argv += ["chatsite.asgi:application"]
            self.spawn(argv, self.env, port)
        return self

    def stop(self) -> None:
        super().stop()
        if self.pg_name:
            with contextlib.suppress(Exception):
                self._pg(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')

    def db_connections(self) -> int:
        if self.pg_name:
            import psycopg

            assert self.pg_admin is not None
            ports: set[int] = set()
            for pid in self.pids:
                ports |= local_ports(pid)
            with psycopg.connect(self.pg_admin, autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT client_port FROM pg_stat_activity WHERE datname = %s",
                    (self.pg_name,),
                ).fetchall()
            return sum(1 for (port,) in rows if port in ports)
        count = 0
        for pid in self.pids:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) == self.sqlite_path:
                        count += 1
        return count

    def prepare(self, users: int) -> None:
        """Sign up `users` people over HTTP; the first creates the rooms, all join them."""
        import httpx

        base = f"http://127.0.0.1:{self.ports[0]}"
        self.sessions = []
        for i in range(users):
            with httpx.Client(base_url=base, timeout=30) as client:
                client.get("/accounts/signup/")
                response = client.post(
                    "/accounts/signup/",
                    data={
                        "username": f"bench{i}",
                        "password1": PASSWORD,
                        "password2": PASSWORD,
                        "csrfmiddlewaretoken": client.cookies["csrftoken"],
                    },
                )
                if response.status_code != 302:
                    raise RuntimeError(f"sign-up failed: {response.status_code}")
                csrf = client.cookies["csrftoken"]
                client.headers["X-CSRFToken"] = csrf
                for slug in ROOMS:
                    if i == 0:
                        room = {"slug": slug, "name": slug, "private": False}
                        r = client.post("/rooms/", json=room)
                        assert r.status_code == 201, r.text
                    else:
                        r = client.post(f"/rooms/{slug}/join/")
                        assert r.status_code in (200, 201), r.text
                cookie = f"sessionid={client.cookies['sessionid']}; csrftoken={csrf}"
                self.sessions.append((cookie, csrf))


# ---------------------------------------------------------------- the client


class Poster:
    """One keep-alive HTTP/1.1 connection that POSTs JSON."""

    def __init__(self, port: int, session: tuple[str, str]) -> None:
        self.port = port
        self.cookie, self.csrf = session
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


class Counter:
    """Shared across the streams of one scenario."""

    def __init__(self) -> None:
        self.events = 0
        self.duplicates = 0
        self.backwards = 0
        self.server_closes = 0
        self.reconnects = 0
        self.failed = 0


class SSEProtocol(asyncio.Protocol):
    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.head = b""
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        s = self.stream
        lines = [
            f"GET /rooms/{s.slug}/events/ HTTP/1.0",
            f"Host: 127.0.0.1:{s.port}",
            "Accept: text/event-stream",
            f"Cookie: {s.cookie}",
        ]
        if s.last_id is not None:
            lines.append(f"Last-Event-ID: {s.last_id}")
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        stream = self.stream
        if stream.status is None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            stream.status = int(self.head.split(b" ", 2)[1])
            data, self.head = self.head[end + 4 :], b""
            if not stream.ready.done():
                stream.ready.set_result(stream.status)
        frames = (self.buffer + data).split(b"\n\n")
        self.buffer = frames.pop()
        for frame in frames:
            i = frame.find(b"id: ")
            if i < 0 or (i and frame[i - 1] != 10):
                continue
            j = frame.find(b"\n", i)
            stream.event(int(frame[i + 4 : j if j > 0 else None]), now, frame)

    def connection_lost(self, exc: Exception | None) -> None:
        self.stream.lost(self)


class Stream:
    """One SSE client: opens, counts what arrives, and (if asked) resumes from its last id."""

    def __init__(
        self,
        counter: Counter,
        port: int,
        slug: str,
        cookie: str,
        last_id: int | None = None,
        keep_tags: bool = False,
        resume: bool = False,
    ) -> None:
        self.counter = counter
        self.port = port
        self.slug = slug
        self.cookie = cookie
        self.last_id = last_id
        self.keep_tags = keep_tags
        self.resume = resume
        self.status: int | None = None
        self.ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.seen: set[int] = set()
        self.received: list[tuple[int, float]] = []
        self.tags: dict[int, int] = {}
        self.protocol: SSEProtocol | None = None
        self.stopped = False
        self.opened_at = 0.0

    async def open(self, timeout: float = 60) -> int:
        self.opened_at = time.monotonic()
        self.status = None
        loop = asyncio.get_running_loop()
        if self.ready.done():
            self.ready = loop.create_future()
        try:
            _, self.protocol = await asyncio.wait_for(
                loop.create_connection(lambda: SSEProtocol(self), "127.0.0.1", self.port), timeout
            )
            return await asyncio.wait_for(asyncio.shield(self.ready), timeout)
        except (TimeoutError, OSError):
            self.counter.failed += 1
            self.close()
            return 0

    def event(self, seq: int, now: float, frame: bytes) -> None:
        counter = self.counter
        if seq in self.seen:
            counter.duplicates += 1
            return
        if self.last_id is not None and seq < self.last_id:
            counter.backwards += 1
        self.seen.add(seq)
        self.last_id = seq
        self.received.append((seq, now))
        counter.events += 1
        if self.keep_tags:
            match = TAG.search(frame)
            if match:
                self.tags[seq] = int(match.group(1))

    def lost(self, protocol: SSEProtocol) -> None:
        if protocol is not self.protocol:
            return
        self.protocol = None
        if not self.ready.done():
            self.ready.set_result(0)
        if self.stopped:
            return
        self.counter.server_closes += 1
        if self.resume:
            self.counter.reconnects += 1
            # The stream's retry: is 2000 ms; reconnect a bit sooner to keep runs short.
            asyncio.get_running_loop().call_later(0.5, self._reopen)

    def _reopen(self) -> None:
        if not self.stopped:
            asyncio.get_running_loop().create_task(self.open())

    def pause(self) -> None:
        if self.protocol and self.protocol.transport:
            self.protocol.transport.pause_reading()

    def unpause(self) -> None:
        if self.protocol and self.protocol.transport:
            self.protocol.transport.resume_reading()

    def close(self) -> None:
        self.stopped = True
        if self.protocol and self.protocol.transport:
            self.protocol.transport.close()


async def open_streams(streams: list[Stream], concurrency: int = 100) -> int:
    gate = asyncio.Semaphore(concurrency)

    async def one(stream: Stream) -> int:
        async with gate:
            return await stream.open()

    statuses = await asyncio.gather(*(one(s) for s in streams))
    return sum(1 for status in statuses if status == 200)


def close_streams(streams: list[Stream]) -> None:
    for stream in streams:
        stream.close()


async def settle(server: Server, max_secs: float = 30) -> None:
    """Wait until the server is idle (under 5% of a core over 0.5 s)."""
    deadline = time.monotonic() + max_secs
    while time.monotonic() < deadline:
        before = server.cpu()
        await asyncio.sleep(0.5)
        if server.cpu() - before < 0.025:
            return


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def wait_until(predicate: Any, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return predicate()


# ---------------------------------------------------------------- scenarios


@dataclass
class Bench:
    args: argparse.Namespace
    site: Site
    ceiling: Ceiling
    rows: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def record(self, row: dict[str, Any]) -> None:
        row = {**self.meta, **row}
        self.rows.append(row)
        RESULTS.mkdir(parents=True, exist_ok=True)
        with (RESULTS / self.args.results).open("a") as out:
            out.write(json.dumps(row) + "\n")
        print(format_row(row), flush=True)

    def port(self, server: Server, i: int) -> int:
        return server.ports[i % len(server.ports)]

    async def fanout_run(
        self,
        server: Server,
        n: int,
        messages: int,
        rate: float,
        slug: str = "bench",
        during: Any = None,
    ) -> dict[str, Any]:
        counter = Counter()
        streams = [
            Stream(
                counter,
                self.port(server, i),
                slug,
                server.sessions[i % len(server.sessions)][0],
                keep_tags=(i == 0),
            )
            for i in range(n)
        ]
        opened = await open_streams(streams)
        await settle(server)
        poster = Poster(server.ports[0], server.sessions[0])
        starts: dict[int, float] = {}
        statuses: list[int] = []
        cpu0, t0 = server.cpu(), time.monotonic()
        rss_peak = server.rss_kb()

        async def post_all() -> None:
            for k in range(messages):
                due = t0 + k / rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                starts[k] = time.monotonic()
                statuses.append(await poster.post(f"/rooms/{slug}/messages/", {"body": f"m{k}"}))

        posting = asyncio.create_task(post_all())
        extra = asyncio.create_task(during()) if during else None
        expected = opened * messages
        while not posting.done():
            await asyncio.sleep(0.25)
            rss_peak = max(rss_peak, server.rss_kb())
        await wait_until(lambda: counter.events >= expected, 15 + messages / rate)
        cpu = server.cpu() - cpu0
        extra_result = await extra if extra else None
        poster.close()
        by_seq = {seq: starts[k] for seq, k in streams[0].tags.items() if k in starts}
        latencies = [t - by_seq[seq] for s in streams for seq, t in s.received if seq in by_seq]
        close_streams(streams)
        await settle(server)
        received = sum(1 for s in streams for seq, _ in s.received if seq in by_seq)
        return {
            "subscribers": n,
            "opened": opened,
            "messages": messages,
            "rate": rate,
            "posts_ok": sum(1 for s in statuses if s == 201),
            "expected": expected,
            "received": received,
            "duplicates": counter.duplicates,
            "backwards": counter.backwards,
            "p50_ms": pct(latencies, 50) * 1000,
            "p99_ms": pct(latencies, 99) * 1000,
            "max_ms": max(latencies, default=float("nan")) * 1000,
            "cpu_s": cpu,
            "cpu_per_delivery_us": cpu / received * 1e6 if received else float("nan"),
            "rss_peak_kb": rss_peak,
            "during": extra_result,
        }

    async def fanout(self) -> None:
        sizes = [100, 1000] if self.args.quick else [100, 1000, 3000]
        messages = 20 if self.args.quick else 50
        for n in sizes:
            for server in (self.ceiling, self.site):
                result = await self.fanout_run(server, n, messages, 5.0)
                self.record({"scenario": "fanout", "server": server.name, **result})

    async def connections(self) -> None:
        total = 2000 if self.args.quick else 10000
        for server in (self.ceiling, self.site):
            counter = Counter()
            cookies = [s[0] for s in server.sessions]
            streams = [
                Stream(counter, self.port(server, i), "bench", cookies[i % len(cookies)])
                for i in range(total)
            ]
            first = await open_streams(streams[:10])
            await settle(server)
            at10 = {
                "rss_kb": server.rss_kb(),
                "threads": server.threads(),
                "db_connections": server.db_connections(),
            }
            cpu0, t0 = server.cpu(), time.monotonic()
            rest = await open_streams(streams[10:], concurrency=200)
            ramp_secs = time.monotonic() - t0
            cpu = server.cpu() - cpu0
            await settle(server)
            held = sum(1 for s in streams if s.protocol is not None and s.status == 200)
            atn = {
                "rss_kb": server.rss_kb(),
                "threads": server.threads(),
                "db_connections": server.db_connections(),
            }
            close_streams(streams)
            await settle(server)
            opened = first + rest
            self.record(
                {
                    "scenario": "connections",
                    "server": server.name,
                    "target": total,
                    "opened": opened,
                    "held": held,
                    "failed": counter.failed,
                    "ramp_s": ramp_secs,
                    "cpu_per_stream_ms": cpu / max(1, rest) * 1000,
                    "rss_per_stream_kb": (atn["rss_kb"] - at10["rss_kb"]) / max(1, held - 10),
                    "at10": at10,
                    "atN": atn,
                }
            )

    async def post_burst(
        self, server: Server, posters: int, secs: float, slug: str = "quiet"
    ) -> dict[str, Any]:
        clients = [
            Poster(self.port(server, i), server.sessions[(i + 1) % len(server.sessions)])
            for i in range(posters)
        ]
        latencies: list[float] = []
        errors = 0
        cpu0 = server.cpu()
        end = time.monotonic() + secs

        async def loop(i: int, client: Poster) -> None:
            nonlocal errors
            k = 0
            while time.monotonic() < end:
                t = time.monotonic()
                status = await client.post(f"/rooms/{slug}/messages/", {"body": f"p{i}-{k}"})
                if status == 201:
                    latencies.append(time.monotonic() - t)
                else:
                    errors += 1
                k += 1

        await asyncio.gather(*(loop(i, c) for i, c in enumerate(clients)))
        cpu = server.cpu() - cpu0
        for client in clients:
            client.close()
        return {
            "posters": posters,
            "secs": secs,
            "ok": len(latencies),
            "errors": errors,
            "msgs_per_s": len(latencies) / secs,
            "p50_ms": pct(latencies, 50) * 1000,
            "p99_ms": pct(latencies, 99) * 1000,
            "cpu_per_post_ms": cpu / max(1, len(latencies)) * 1000,
        }

    async def post(self) -> None:
        secs = 5.0 if self.args.quick else 10.0
        n = 1000 if self.args.quick else 3000
        for server in (self.ceiling, self.site):
            for posters in (1, 8):
                result = await self.post_burst(server, posters, secs)
                self.record({"scenario": "post", "server": server.name, **result})
                await settle(server)
            for posters in (1, 8):

                async def during(server: Server = server, posters: int = posters) -> Any:
                    await asyncio.sleep(1.0)
                    return await self.post_burst(server, posters, secs)

                fan = await self.fanout_run(
                    server, n, int(5 * (secs + 2)), 5.0, slug="bench", during=during
                )
                self.record(
                    {
                        "scenario": f"post+fanout{n}",
                        "server": server.name,
                        **fan.pop("during"),
                        "fanout": fan,
                    }
                )

    async def current_seq(self, slug: str) -> int:
        """The room's newest event id, from a fresh stream's history answer."""
        import httpx

        cookie = self.site.sessions[0][0]
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.get(
                f"http://127.0.0.1:{self.site.ports[0]}/rooms/{slug}/messages/?limit=1",
                headers={"Cookie": cookie},
            )
            return int(response.json()["last_event_id"])

    async def post_many(self, slug: str, count: int) -> int:
        clients = [
            Poster(self.port(self.site, i), self.site.sessions[i % len(self.site.sessions)])
            for i in range(8)
        ]
        todo = iter(range(count))
        ok = 0

        async def loop(client: Poster) -> None:
            nonlocal ok
            for k in todo:
                if await client.post(f"/rooms/{slug}/messages/", {"body": f"r{k}"}) == 201:
                    ok += 1

        await asyncio.gather(*(loop(c) for c in clients))
        for client in clients:
            client.close()
        return ok

    async def catch_up(self, clients: int, missed: int) -> dict[str, Any]:
        site = self.site
        head = await self.current_seq("replay")
        posted = await self.post_many("replay", missed)
        target = head + posted
        await settle(site)
        counter = Counter()
        cookies = [s[0] for s in site.sessions]
        streams = [
            Stream(counter, self.port(site, i), "replay", cookies[i % len(cookies)], last_id=head)
            for i in range(clients)
        ]
        cpu0 = site.cpu()
        opened = await open_streams(streams, concurrency=clients)
        await wait_until(
            lambda: all(s.last_id is not None and s.last_id >= target for s in streams),
            30 + missed / 500,
        )
        cpu = site.cpu() - cpu0
        await asyncio.sleep(0.3)  # anything extra (a duplicate) would arrive now
        want = list(range(head + 1, target + 1))
        times = []
        exact = in_order = 0
        for s in streams:
            ids = [seq for seq, _ in s.received]
            if sorted(ids) == want:
                exact += 1
            if ids == want:
                in_order += 1
            done = [t for seq, t in s.received if seq == target]
            if done:
                times.append(done[0] - s.opened_at)
        close_streams(streams)
        await settle(site)
        return {
            "clients": clients,
            "missed": missed,
            "posted": posted,
            "opened": opened,
            "exactly_once": exact,
            "in_order": in_order,
            "duplicates": counter.duplicates,
            "backwards": counter.backwards,
            "p50_ms": pct(times, 50) * 1000,
            "max_ms": max(times, default=float("nan")) * 1000,
            "cpu_s": cpu,
        }

    async def replay(self) -> None:
        result = await self.catch_up(100, 100)
        self.record({"scenario": "replay100x100", "server": "site", **result})
        big = 2000 if self.args.quick else 10000
        result = await self.catch_up(1, big)
        self.record({"scenario": f"replay1x{big}", "server": "site", **result})

    async def overload(self) -> None:
        site = self.site
        n = 1000 if self.args.quick else 3000
        slow_n = 30
        per_delivery = [
            r["cpu_per_delivery_us"]
            for r in self.rows
            if r["scenario"] == "fanout" and r["server"] == "site"
        ]
        # What the process can push per second, from this run's largest fan-out if any.
        capacity = 1e6 / per_delivery[-1] if per_delivery else 20000.0
        rate = min(200.0, 3 * capacity / n)
        secs = 5.0 if self.args.quick else 10.0
        messages = int(rate * secs)
        head = await self.current_seq("overload")
        counter = Counter()
        cookies = [s[0] for s in site.sessions]
        streams = [
            Stream(counter, self.port(site, i), "overload", cookies[i % len(cookies)], resume=True)
            for i in range(n)
        ]
        opened = await open_streams(streams)
        await settle(site)
        slow = streams[:slow_n]
        for s in slow:
            s.pause()
        rss0 = rss_peak = site.rss_kb()
        cpu0, t0 = site.cpu(), time.monotonic()
        posters = [
            Poster(self.port(site, i), site.sessions[i % len(site.sessions)]) for i in range(8)
        ]
        free: asyncio.Queue[Poster] = asyncio.Queue()
        for p in posters:
            free.put_nowait(p)
        statuses: list[int] = []
        post_latency: list[float] = []
        starts: dict[int, float] = {}

        async def one(k: int, poster: Poster) -> None:
            t = time.monotonic()
            starts[k] = t
            status = await poster.post("/rooms/overload/messages/", {"body": f"m{k}"})
            statuses.append(status)
            if status == 201:
                post_latency.append(time.monotonic() - t)
            free.put_nowait(poster)

        tasks = []
        for k in range(messages):
            await asyncio.sleep(max(0.0, t0 + k / rate - time.monotonic()))
            poster = await free.get()
            tasks.append(asyncio.create_task(one(k, poster)))
            rss_peak = max(rss_peak, site.rss_kb())
        await asyncio.gather(*tasks)
        offered_secs = time.monotonic() - t0
        for s in slow:
            s.unpause()
        target = head + sum(1 for s in statuses if s == 201)

        def caught_up() -> bool:
            return all(s.last_id is not None and s.last_id >= target for s in streams)

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not caught_up():
            await asyncio.sleep(0.25)
            rss_peak = max(rss_peak, site.rss_kb())
        cpu = site.cpu() - cpu0
        await asyncio.sleep(0.3)
        for p in posters:
            p.close()
        starts_by_seq: dict[int, float] = {}
        # The overload room only has these messages: seq = head + 1 + k in commit order,
        # which can differ from k; map through the frames one stream kept.
        latencies = []
        complete = 0
        want = set(range(head + 1, target + 1))
        for s in streams:
            if {seq for seq, _ in s.received} >= want:
                complete += 1
        tagged = Stream(counter, site.ports[0], "overload", cookies[0], last_id=head, keep_tags=1)
        await tagged.open()
        await wait_until(lambda: tagged.last_id is not None and tagged.last_id >= target, 30)
        tagged.close()
        for seq, k in tagged.tags.items():
            if k in starts:
                starts_by_seq[seq] = starts[k]
        for s in streams:
            latencies += [t - starts_by_seq[seq] for seq, t in s.received if seq in starts_by_seq]
        close_streams(streams)
        await settle(site)
        self.record(
            {
                "scenario": "overload",
                "server": "site",
                "subscribers": n,
                "opened": opened,
                "slow": slow_n,
                "capacity_per_s": capacity,
                "offered_per_s": rate * n,
                "rate": rate,
                "messages": messages,
                "offered_secs": offered_secs,
                "posts_ok": sum(1 for s in statuses if s == 201),
                "post_errors": sum(1 for s in statuses if s != 201),
                "post_p99_ms": pct(post_latency, 99) * 1000,
                "delivered_per_s": counter.events / max(0.001, offered_secs),
                "p50_ms": pct(latencies, 50) * 1000,
                "p99_ms": pct(latencies, 99) * 1000,
                "max_ms": max(latencies, default=float("nan")) * 1000,
                "duplicates": counter.duplicates,
                "backwards": counter.backwards,
                "server_closes": counter.server_closes,
                "reconnects": counter.reconnects,
                "complete_streams": complete,
                "rss_before_kb": rss0,
                "rss_peak_kb": rss_peak,
                "cpu_s": cpu,
            }
        )


# ---------------------------------------------------------------- output


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:
            return "-"
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


COLUMNS = {
    "fanout": [
        "subscribers", "received", "expected", "duplicates", "backwards",
        "p50_ms", "p99_ms", "max_ms", "cpu_per_delivery_us",
    ],
    "connections": [
        "opened", "held", "failed", "rss_per_stream_kb", "cpu_per_stream_ms", "at10", "atN",
    ],
    "post": ["posters", "ok", "errors", "msgs_per_s", "p50_ms", "p99_ms", "cpu_per_post_ms"],
    "replay": ["clients", "missed", "exactly_once", "in_order", "duplicates", "p50_ms", "max_ms"],
    "overload": [
        "subscribers", "offered_per_s", "delivered_per_s", "posts_ok", "post_errors",
        "post_p99_ms", "p50_ms", "p99_ms", "max_ms", "duplicates", "backwards",
        "server_closes", "complete_streams", "rss_before_kb", "rss_peak_kb",
    ],
}  # fmt: skip


def columns(row: dict[str, Any]) -> list[str]:
    scenario = row["scenario"]
    for key in ("fanout", "connections", "replay", "overload"):
        if scenario == key or (scenario.startswith("replay") and key == "replay"):
            return COLUMNS[key]
    return COLUMNS["post"]


def format_row(row: dict[str, Any]) -> str:
    parts = []
    for key in columns(row):
        value = row.get(key)
        if isinstance(value, dict):
            value = "/".join(fmt(v) for v in value.values())
        parts.append(f"{key}={fmt(value)}")
    return f"{row['scenario']:>16} {row['server']:>7}  " + " ".join(parts)


RATIO_KEYS = (
    "p50_ms", "p99_ms", "max_ms", "cpu_per_delivery_us", "rss_per_stream_kb",
    "cpu_per_stream_ms", "msgs_per_s", "cpu_per_post_ms",
)  # fmt: skip


def markdown(rows: list[dict[str, Any]]) -> str:
    """One table per scenario; site rows get a ratio to the ceiling row of the same shape."""
    out = []
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(columns(row)[0] + row["scenario"].rstrip("0123456789x"), []).append(row)
    for group in groups.values():
        cols = columns(group[0])
        out.append("| scenario | server | " + " | ".join(cols) + " |")
        out.append("|---" * (len(cols) + 2) + "|")
        for row in group:
            twin = None
            if row["server"] != "ceiling":
                for other in group:
                    same = all(other.get(k) == row.get(k) for k in ("subscribers", "posters"))
                    if other["server"] == "ceiling" and other["scenario"] == row["scenario"]:
                        twin = other if same else twin
            cells = []
            for key in cols:
                value = row.get(key)
                if isinstance(value, dict):
                    text = " / ".join(fmt(v) for v in value.values())
                else:
                    text = fmt(value)
                if twin and key in RATIO_KEYS and twin.get(key):
                    ratio = value / twin[key]
                    text += f" ({ratio:.1f}x)" if ratio >= 1 else f" ({ratio:.2g}x)"
                cells.append(text)
            out.append(f"| {row['scenario']} | {row['server']} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e .[bench]): no plot")
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for server, color in (("site", "tab:red"), ("ceiling", "tab:blue")):
        data = sorted(
            (r for r in rows if r["scenario"] == "fanout" and r["server"] == server),
            key=lambda r: r["subscribers"],
        )
        if not data:
            continue
        xs = [r["subscribers"] for r in data]
        for key, style in (("p50_ms", ":"), ("p99_ms", "-"), ("max_ms", "--")):
            ax.plot(xs, [r[key] for r in data], style, color=color, marker="o",
                    label=f"{server} {key[:-3]}")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("subscribers in one room (5 messages/s)")
    ax.set_ylabel("delivery latency, ms (POST start to receipt)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


# ---------------------------------------------------------------- main


def start_profilers(site: Site, run: str) -> list[subprocess.Popen[bytes]]:
    """py-spy on each site process for the whole run; collapsed stacks in results/tmp/."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out = RESULTS / "tmp"
    out.mkdir(parents=True, exist_ok=True)
    profilers = []
    for pid in site.pids:
        path = out / f"profile-{run}-{pid}.txt"
        argv = [py_spy, "record", "--pid", str(pid), "--rate", "250", "--format", "raw"]
        argv += ["--output", str(path), "--nonblocking"]
        profilers.append(subprocess.Popen([*pinned(CLIENT_CORE), *argv]))
        print(f"profiling {pid} into {path.relative_to(ROOT)}")
    return profilers


SCENARIOS = ("fanout", "connections", "replay", "post", "overload")


async def amain(args: argparse.Namespace) -> int:
    raise_fd_limit()
    pin_self()
    workdir = Path(tempfile.mkdtemp(prefix="chat-bench-"))
    site = Site(workdir, args.stack)
    ceiling = Ceiling(workdir)
    started = datetime.datetime.now(datetime.UTC)
    meta = {
        "run": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "stack": args.stack,
        "asgi": args.server,
        "quick": args.quick,
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
    }
    bench = Bench(args, site, ceiling, meta=meta)
    print(f"bench: {meta}; fd limit {fd_limit()}; logs in {workdir}", flush=True)
    profilers: list[subprocess.Popen[bytes]] = []
    try:
        ceiling.start()
        site.start(args.server)
        site.prepare(8)
        if args.profile:
            profilers = start_profilers(site, meta["run"])
        for name in args.scenarios:
            await getattr(bench, name)()
    finally:
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                profiler.wait(60)
        site.stop()
        ceiling.stop()
        if not args.keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)
    render(bench.rows, args.output)
    return 0


def render(rows: list[dict[str, Any]], output: str) -> None:
    """Write the tables (<output>.md) and the plot (<output>.png) of one run's rows."""
    if not rows:
        return
    meta = rows[0]
    header = f"Run {meta['run']}, {meta['machine']}, stack {meta['stack']}, {meta['asgi']}"
    table = markdown(rows)
    (RESULTS / f"{output}.md").write_text(f"{header}\n\n{table}\n")
    print("\n" + header + "\n\n" + table)
    fanouts = any(r["scenario"] == "fanout" for r in rows)
    if fanouts and plot(rows, RESULTS / f"{output}.png", header):
        print(f"plot: bench/results/{output}.png")


def render_last_run(args: argparse.Namespace) -> int:
    """Render the newest run found in the results file, without running anything."""
    with (RESULTS / args.results).open() as results:
        rows = [json.loads(line) for line in results if line.strip()]
    last = rows[-1]["run"]
    render([r for r in rows if r["run"] == last], args.output)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--quick", action="store_true", help="smaller numbers, shorter runs")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated, from {','.join(SCENARIOS)}",
    )
    parser.add_argument("--server", choices=("daphne", "uvicorn"), default="daphne")
    parser.add_argument("--results", default="results.jsonl", help="file in bench/results/")
    parser.add_argument("--profile", action="store_true", help="py-spy the site processes")
    parser.add_argument(
        "--output", default="latest", help="name of the table (.md) and plot (.png) written"
    )
    parser.add_argument(
        "--render", action="store_true", help="only redraw the newest run of the results file"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the server logs")
    args = parser.parse_args()
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for name in args.scenarios:
        if name not in SCENARIOS:
            parser.error(f"unknown scenario {name!r}")
    if args.render:
        return render_last_run(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
