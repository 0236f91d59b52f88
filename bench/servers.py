"""The processes the benchmark measures: the site (daphne or uvicorn, on a database of its
own) and the ceiling (bench/ceiling.py), and py-spy on the site's processes.

Every server is pinned to SERVER_CORE (the client to CLIENT_CORE), gets the hard fd limit
and a listen backlog of BACKLOG. Its CPU, memory, threads and database connections are read
from /proc (tests/live.py). The site's database is a tests.live.LiveDatabase; its people and
rooms are made over HTTP by `prepare`.
"""

from __future__ import annotations

import contextlib
import os
import resource
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

from bench.report import RESULTS
from tests.live import (
    ROOT,
    LiveDatabase,
    cpu_seconds,
    free_port,
    rss_kb,
    server_command,
    server_env,
    sign_up_sync,
    thread_count,
    wait_for_port,
)

SERVER_CORE, CLIENT_CORE = 0, 1
BACKLOG = 4096  # listen backlog of every server the benchmark starts (as bench/ceiling.py's)
PASSWORD = "bench-passphrase-4711"
ROOMS = ("bench", "quiet", "replay", "overload")


class Session(NamedTuple):
    """A logged-in benchmark user: the session cookie and the CSRF token."""

    id: str
    csrf: str


def setup_django() -> None:
    """Set Django up in this process (it connects to nothing): tests.live lifts the site's
    rate limits for the servers it starts, and reads which there are from rooms.limits."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    django.setup()


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
    """Keep this process (the client) off the servers' core."""
    if (os.cpu_count() or 1) > 1:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {CLIENT_CORE})


class Server:
    """Processes serving the benchmark's paths; the site or the ceiling."""

    name = "?"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []
        # Set up by `prepare`: one per user.
        self.sessions: list[Session] = []
        self.prepared_usernames: list[str] = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def spawn(
        self, argv: list[str], env: dict[str, str], port: int, core: int = SERVER_CORE
    ) -> None:
        log_path = self.workdir / f"{self.name}-{port}.log"
        hard = fd_limit()
        process = subprocess.Popen(
            [*pinned(core), *argv],
            cwd=ROOT,
            env=env,
            stdout=log_path.open("ab"),
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard)),
        )
        self.processes.append(process)
        self.ports.append(port)
        wait_for_port(port, 60, process, log_path)

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
        return sum(thread_count(pid) for pid in self.pids)

    def db_connections(self) -> int:
        return 0


class Ceiling(Server):
    name = "ceiling"

    def start(self) -> Ceiling:
        port = free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.spawn([sys.executable, "-m", "bench.ceiling", "--port", str(port)], env, port)
        self.sessions = [Session("none", "none")] * 8
        return self


EXPRESS = ROOT / "bench" / "express"


class Express(Server):
    """The seed article's design re-created with Express (bench/express/server.js): the
    figure a user would compare the site with. Needs node; its packages are installed from
    bench/express/package-lock.json on first use."""

    name = "express"

    @staticmethod
    def available() -> bool:
        return shutil.which("node") is not None and (
            (EXPRESS / "node_modules").is_dir() or shutil.which("npm") is not None
        )

    def start(self) -> Express:
        if not (EXPRESS / "node_modules").is_dir():
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund"], cwd=EXPRESS, check=True, timeout=300
            )
        port = free_port()
        self.spawn(
            ["node", str(EXPRESS / "server.js"), "--port", str(port)], dict(os.environ), port
        )
        self.sessions = [Session("none", "none")] * 8
        return self


class Site(Server):
    name = "site"

    def __init__(self, workdir: Path, stack: str) -> None:
        super().__init__(workdir)
        self.stack = stack
        self.env: dict[str, str] = {}
        self.server_cmd = "daphne"
        if stack == "postgres":
            self.database = LiveDatabase(
                workdir,
                os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
                os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            )
        else:
            self.database = LiveDatabase(workdir, database_url="", redis_url="")

    def start(self, server_cmd: str = "daphne", cores: list[int] | None = None) -> Site:
        """Start the site: one process per entry of `cores`, pinned to it (by default one
        on SERVER_CORE, or two there on the PostgreSQL stack)."""
        if cores is None:
            cores = [SERVER_CORE] * (2 if self.stack == "postgres" else 1)
        self.server_cmd = server_cmd
        setup_django()
        if self.stack == "postgres":
            subprocess.run([str(ROOT / "bin" / "services")], check=True, timeout=120)
        self.database.create()
        env = server_env(
            {
                **self.database.env,
                "DJANGO_DEBUG": "0",
                "DJANGO_SECRET_KEY": secrets.token_hex(32),
                "CHAT_LOG_LEVEL": "WARNING",
                # Plain HTTP on 127.0.0.1, no TLS proxy in front.
                "DJANGO_SECURE_SSL_REDIRECT": "0",
                "DJANGO_SECURE_COOKIES": "0",
                # The load comes from a few benchmark users (server_env lifts the rate limits).
                "CHAT_MAX_STREAMS_PER_USER": "1000000",
            }
        )
        self.env = env  # what the site runs with (bench/userstream.py writes with it too)
        for core in cores:
            port = free_port()
            if server_cmd == "uvicorn":
                # As bin/serve runs it.
                argv = [sys.executable, *server_command("uvicorn", "127.0.0.1", port)]
                argv += ["--backlog", str(BACKLOG)]
            else:
                # Twisted listens with a backlog of 50 by default: a burst of reconnects
                # beyond that loses SYNs and waits a second for the retry. Same as the ceiling.
                endpoint = f"tcp:port={port}:interface=127.0.0.1:backlog={BACKLOG}"
                argv = [sys.executable, "-m", "daphne", "-e", endpoint]
                argv += ["chatsite.asgi:application"]
            self.spawn(argv, env, port, core)
        return self

    def stop(self) -> None:
        super().stop()
        with contextlib.suppress(Exception):
            self.database.drop()

    def db_connections(self) -> int:
        return sum(self.database.count_connections(pid) for pid in self.pids)

    def prepare(self, users: int) -> None:
        """Sign up `users` people over HTTP; the first creates the rooms, all join them."""
        base = f"http://127.0.0.1:{self.ports[0]}"
        self.sessions = []
        self.prepared_usernames = [f"bench{i}" for i in range(users)]
        for i in range(users):
            client = sign_up_sync(base, f"bench{i}", PASSWORD)
            try:
                for slug in ROOMS:
                    if i == 0:
                        room = {"slug": slug, "name": slug, "private": False}
                        r = client.post("/rooms/", json=room)
                        assert r.status_code == 201, r.text
                    else:
                        r = client.post(f"/rooms/{slug}/join/")
                        assert r.status_code in (200, 201), r.text
                self.sessions.append(
                    Session(client.cookies["sessionid"], client.cookies["csrftoken"])
                )
            finally:
                client.close()


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
