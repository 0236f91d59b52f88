"""Follow docs/deploy.md on this machine, as far as it allows: the test's own PostgreSQL and
Redis, the environment file from deploy/chat.env.example, bin/manage's steps, `bin/serve 2`
in place of the systemd units, behind a real nginx with TLS; the probes, a scrape of the
metrics, a rolling restart with a stream open, a backup taken while the site runs and a
restore; it ends with a working site.

Each command run here is asserted to be in the guide, word for word, then run with this
machine's paths and ports in place of the guide's (no sudo: the test is one user)."""

from __future__ import annotations

import asyncio
import functools
import os
import re
import secrets
import shutil
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.helpers import Poster, wait_until
from tests.live import (
    ROOT,
    PrivatePostgres,
    PrivateRedis,
    find_postgres_bin,
    free_port,
    processes_of,
    server_env,
    wait_for_port,
)
from tests.sse import SSEParser
from tests.test_deploy import consecutive_free_ports, port_closed

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL"),
        reason="runs once, on the postgres stack (it starts a PostgreSQL of its own)",
    ),
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        not (find_postgres_bin() and shutil.which("redis-server") and shutil.which("nginx")),
        reason="needs PostgreSQL's initdb, redis-server and nginx (bin/test installs nginx)",
    ),
    pytest.mark.skipif(
        not (shutil.which("openssl") and shutil.which("curl")), reason="needs openssl and curl"
    ),
]

GUIDE = (ROOT / "docs" / "deploy.md").read_text()


class Machine:
    """Runs the guide's commands here: the PostgreSQL superuser is the test cluster's, the
    site's environment file and backup directory are the test's own."""

    def __init__(self, tmp_path: Path, postgres: PrivatePostgres, base_port: int) -> None:
        self.tmp_path = tmp_path
        self.env_file = tmp_path / "chat.env"
        self.backups = tmp_path / "backups"
        self.backups.mkdir()
        self.base_port = base_port
        self.env = server_env(
            {
                "PGHOST": "127.0.0.1",
                "PGPORT": str(postgres.port),
                "PGUSER": "postgres",
                "CHAT_SKIP_BOOTSTRAP": "1",
                # bin/manage's default is /etc/chat/chat.env.
                "CHAT_ENV_FILE": str(self.env_file),
            }
        )

    def translate(self, command: str) -> str:
        assert command in GUIDE, f"docs/deploy.md no longer says: {command}"
        for old, new in [
            ("sudo -u postgres ", ""),
            ("sudo -u chat ", ""),
            ("/etc/chat/chat.env", str(self.env_file)),
            ("/var/backups/chat", str(self.backups)),
            ("127.0.0.1:8001", f"127.0.0.1:{self.base_port}"),
        ]:
            command = command.replace(old, new)
        return command

    def run(self, command: str, **env: str) -> str:
        result = subprocess.run(
            ["bash", "-c", self.translate(command)],
            cwd=ROOT,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def start(self, command: str, log: Path, **env: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            ["bash", "-c", self.translate(command)],
            cwd=ROOT,
            env={**self.env, **env},
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def fill_in(example: str, values: dict[str, str]) -> str:
    """The environment example with the guide's edits made (step 3)."""
    for name, value in values.items():
        example, count = re.subn(rf"^(# )?{name}=.*$", f"{name}={value}", example, flags=re.M)
        assert count == 1, name
    return example


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


async def follow(
    client: httpx.AsyncClient, last_id: int, events: list, ends: list, opened: list
) -> None:
    """A page's stream: reconnect after any end with Last-Event-ID, as EventSource does."""
    while True:
        try:
            headers = {"Last-Event-ID": str(last_id)}
            async with client.stream("GET", "/rooms/general/events/", headers=headers) as stream:
                if stream.status_code == 200:
                    opened.append(last_id)
                    parser = SSEParser()
                    async for chunk in stream.aiter_raw():
                        for event in parser.feed(chunk):
                            if event.id is not None:
                                events.append(event)
                                last_id = int(event.id)
        except httpx.HTTPError:
            pass
        ends.append(last_id)
        await asyncio.sleep(0.2)


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")) and all(
            f'{key}="{value}"' in line for key, value in labels.items()
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_the_deploy_guide_ends_with_a_working_site(tmp_path):
    postgres = PrivatePostgres().create()
    redis = PrivateRedis(tmp_path).start()
    base_port = consecutive_free_ports(2)
    http_port, https_port = free_port(), free_port()
    machine = Machine(tmp_path, postgres, base_port)
    serve = nginx = None
    try:
        # 2. The database and its role.
        machine.run("""sudo -u postgres psql -c "CREATE ROLE chat LOGIN PASSWORD 'change-me'\"""")
        machine.run("sudo -u postgres createdb --owner=chat chat")

        # 3. The environment, edited as the guide says.
        origin = f"https://127.0.0.1:{https_port}"
        machine.env_file.write_text(
            fill_in(
                (ROOT / "deploy" / "chat.env.example").read_text(),
                {
                    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
                    "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
                    "DJANGO_CSRF_TRUSTED_ORIGINS": origin,
                    "DATABASE_URL": f"postgres://chat:change-me@127.0.0.1:{postgres.port}/chat",
                    "REDIS_URL": redis.url,
                    "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
                    "CHAT_MEDIA_ROOT": str(tmp_path / "media"),
                    "CHAT_MAX_UPLOAD_BYTES": str(60 * MB),
                    "CHAT_LOG_FORMAT": "json",
                },
            )
        )

        # 4. Migrate, the first admin, static files.
        machine.run("sudo -u chat bin/manage check --deploy --fail-level WARNING")
        machine.run("sudo -u chat bin/manage migrate")
        machine.run("sudo -u chat bin/manage collectstatic --no-input")
        said = machine.run("sudo -u chat bin/manage ensure_admin")
        found = re.search(r"password '([^']+)'", said)
        assert found is not None, said
        admin_password = found.group(1)

        # 5 and 6. The processes (bin/serve in place of the units) and nginx with TLS.
        cert, key = make_certificate(tmp_path)
        site = tmp_path / "chat.conf"
        serve_env = {
            "CHAT_BASE_PORT": str(base_port),
            "CHAT_NGINX_SITE": str(site),
            "CHAT_HTTP_PORT": str(http_port),
            "CHAT_HTTPS_PORT": str(https_port),
            "CHAT_SSL_CERTIFICATE": str(cert),
            "CHAT_SSL_CERTIFICATE_KEY": str(key),
            "CHAT_METRICS_DIR": str(tmp_path / "metrics"),
        }
        serve_command = "sudo -u chat CHAT_ENV_FILE=/etc/chat/chat.env bin/serve 2"
        serve_log = tmp_path / "serve.log"
        serve = machine.start(serve_command, serve_log, **serve_env)
        wait_for_port(base_port, 90, serve, serve_log)
        wait_for_port(base_port + 1, 30, serve, serve_log)
        nginx = start_nginx(tmp_path, site, https_port)

        # 7. Health and readiness.
        assert '"ok"' in machine.run("curl -fsS http://127.0.0.1:8001/healthz")
        assert '"ready"' in machine.run("curl -fsS http://127.0.0.1:8001/readyz")

        async with httpx.AsyncClient(base_url=origin, verify=False, timeout=10) as alice:
            await sign_up(alice, origin)
            created = await alice.post("/rooms/", json={"slug": "general", "name": "General"})
            assert created.status_code == 201
            start = (await alice.get("/rooms/general/messages/")).json()["last_event_id"]
            events: list = []
            ends: list = []
            opened: list = []
            follower = asyncio.create_task(follow(alice, start, events, ends, opened))
            poster = Poster([alice], "/rooms/general/messages/", "guide")
            try:
                # The stream opens before the posts begin: nginx then sends it to the first
                # process (its fifth request, taking turns), which the upgrade restarts first,
                # so that each restart below ends it. (Had a post gone first, the stream
                # would be on the second process, and only the second restart would end it.)
                await wait_until(lambda: opened, 10, "the stream did not open")
                await poster.run(5, 0.05)
                await wait_until(lambda: len(events) >= 5, 10, "the stream got no events")
                # A scrape while the stream is open and after the posts, of the whole site.
                scraped = await asyncio.to_thread(
                    machine.run, "curl -fsS http://127.0.0.1:8001/metrics"
                )
                assert metric(scraped, "chat_streams_open") == 1
                assert metric(
                    scraped, "chat_http_requests_total", method="POST", view="room-messages",
                    status="201",
                ) == 5  # fmt: skip
                # Each post reached the page live, or by replay if it came before the stream.
                sent = metric(scraped, "chat_events_delivered_total") + metric(
                    scraped, "chat_events_replayed_total"
                )
                assert sent >= 5

                # 9. Upgrades: one process at a time, while posts go on and the page follows.
                upgrade = Poster([alice], "/rooms/general/messages/", "upgrade")
                burst = asyncio.create_task(upgrade.run(60, 0.05))
                for port in (base_port, base_port + 1):
                    web = processes_of(serve.pid, f"--port {port} ")  # uvicorn's
                    assert len(web) == 1
                    os.kill(web[0], signal.SIGTERM)  # what systemctl restart does first
                    await wait_until(functools.partial(port_closed, port), 10, "it did not stop")
                    await asyncio.to_thread(
                        machine.run,
                        "bin/wait-ready http://127.0.0.1:$port/readyz 60",
                        port=str(port),
                    )
                await burst
                head = (await alice.get("/rooms/general/messages/?limit=1")).json()
                await wait_until(
                    lambda: events and int(events[-1].id) >= head["last_event_id"],
                    30,
                    "the page did not catch up",
                )
                await asyncio.sleep(0.5)
            finally:
                follower.cancel()
            acked = {**poster.acked, **upgrade.acked}
            assert poster.unacked == upgrade.unacked == [] and len(acked) == 65
            # A POST that reached a process as it stopped got nginx's 502; its retry, with the
            # same client_id, got the message.
            assert {status for status, _ in upgrade.unexpected} <= {502}
            ids = [int(event.id) for event in events]
            assert ids == list(range(start + 1, head["last_event_id"] + 1)), ids
            received = [e.json["client_id"] for e in events if e.type == "message"]
            assert sorted(received) == sorted(acked)  # each once
            assert len(ends) >= 2, "the restarts did not end the stream"

            # Files: nginx sends them after the site's check.
            await serve_a_large_file(alice, serve.pid, base_port)

            # 10. A backup while the site runs.
            machine.run("sudo -u chat bin/manage backup /var/backups/chat/chat-manual.dump")

        # The logs: JSON lines, with the request and the stream.
        log = serve_log.read_text()
        assert '"message": "stream opened"' in log and '"view": "room-messages"' in log

        # 10. Restore, as the guide does it: stop, a new empty database, restore, migrate, start.
        stop(serve)
        machine.run("sudo -u postgres dropdb chat")
        machine.run("sudo -u postgres createdb --owner=chat chat")
        restored = machine.run("sudo -u chat bin/manage restore /var/backups/chat/chat-manual.dump")
        assert "every room's event log is whole" in restored
        machine.run("sudo -u chat bin/manage migrate")
        serve = machine.start(serve_command, serve_log, **serve_env)
        wait_for_port(base_port, 90, serve, serve_log)
        wait_for_port(base_port + 1, 30, serve, serve_log)

        # A working site: the history is back, alice posts, the admin logs in.
        async with httpx.AsyncClient(base_url=origin, verify=False, timeout=10) as alice:
            await log_in(alice, origin, "alice", "a-long-passphrase-9")
            history = (await alice.get("/rooms/general/messages/?limit=100")).json()
            client_ids = {message["client_id"] for message in history["messages"]}
            assert set(acked) <= client_ids
            after = await alice.post("/rooms/general/messages/", json={"body": "after"})
            assert after.status_code == 201
            assert (await alice.get("/readyz")).json()["status"] == "ready"
        async with httpx.AsyncClient(base_url=origin, verify=False, timeout=10) as admin:
            await log_in(admin, origin, "admin", admin_password, "/admin/login/")
            assert (await admin.get("/admin/")).status_code == 200
    finally:
        if nginx is not None:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(10)
        if serve is not None and serve.poll() is None:
            stop(serve)
        postgres.destroy()
        redis.kill()


MB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) * 1024  # type: ignore[union-attr]


async def serve_a_large_file(alice: httpx.AsyncClient, serve_pid: int, base_port: int) -> None:
    """A 50 MB upload is sent by nginx after the site's check (X-Accel-Redirect): no web
    process grows by the file's size, and a Range request gets its part."""
    data = os.urandom(50 * MB)
    uploaded = await alice.post(
        "/rooms/general/uploads/", files={"file": ("big.bin", data)}, timeout=120
    )
    assert uploaded.status_code == 201, uploaded.text[:300]
    url = uploaded.json()["url"]
    posted = await alice.post(
        "/rooms/general/messages/", json={"body": "big", "attachments": [uploaded.json()["id"]]}
    )
    assert posted.status_code == 201, posted.text[:300]

    web = processes_of(serve_pid, "uvicorn chatsite.asgi:application")  # bin/serve's two
    assert len(web) == 2
    before = {pid: rss_bytes(pid) for pid in web}
    downloaded = await alice.get(url, timeout=120)
    assert downloaded.status_code == 200
    assert downloaded.content == data
    assert downloaded.headers["content-disposition"] == 'attachment; filename="big.bin"'
    assert downloaded.headers["x-content-type-options"] == "nosniff"
    assert downloaded.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert downloaded.headers["cache-control"] == "private, no-cache"
    assert "x-accel-redirect" not in downloaded.headers
    grown = {pid: rss_bytes(pid) - before[pid] for pid in web}
    assert max(grown.values()) < 10 * MB, grown

    ranged = await alice.get(url, headers={"Range": "bytes=1000-1999"})
    assert ranged.status_code == 206
    assert ranged.content == data[1000:2000]
    assert ranged.headers["content-range"] == f"bytes 1000-1999/{50 * MB}"

    # Asked directly, a process checks and names the file; it sends none of its bytes.
    direct = await asyncio.to_thread(
        httpx.get,
        f"http://127.0.0.1:{base_port}{url}",
        cookies={"sessionid": alice.cookies["sessionid"]},
        headers={"X-Forwarded-Proto": "https", "Host": "127.0.0.1"},
    )
    assert direct.status_code == 200 and direct.content == b""
    assert direct.headers["x-accel-redirect"].startswith("/_files/uploads/")
    # nginx's file location is internal: its path, asked from outside, is nothing.
    assert (await alice.get(direct.headers["x-accel-redirect"])).status_code == 404
    stranger = await asyncio.to_thread(
        httpx.get,
        f"http://127.0.0.1:{base_port}{url}",
        headers={"X-Forwarded-Proto": "https", "Host": "127.0.0.1"},
    )
    assert stranger.status_code == 404 and "x-accel-redirect" not in stranger.headers


def make_certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def start_nginx(tmp_path: Path, site: Path, https_port: int) -> subprocess.Popen[bytes]:
    """nginx with the site bin/serve wrote (the guide links it into sites-enabled/)."""
    main_conf = tmp_path / "nginx.conf"
    user = "user root;\n" if os.geteuid() == 0 else ""
    main_conf.write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {tmp_path}/nginx.pid;\n"
        f"error_log {tmp_path}/nginx-error.log;\nevents {{}}\n"
        f"http {{\n include /etc/nginx/mime.types;\n access_log {tmp_path}/access.log;\n"
        f" client_body_temp_path {tmp_path}/body;\n proxy_temp_path {tmp_path}/proxy;\n"
        f" include {site};\n}}\n"
    )
    check = subprocess.run(["nginx", "-t", "-c", str(main_conf)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    nginx = subprocess.Popen(
        ["nginx", "-c", str(main_conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for_port(https_port, 20, nginx, tmp_path / "nginx-error.log")
    return nginx


async def sign_up(client: httpx.AsyncClient, origin: str) -> None:
    await client.get("/accounts/signup/")
    response = await client.post(
        "/accounts/signup/",
        data={
            "username": "alice",
            "password1": "a-long-passphrase-9",
            "password2": "a-long-passphrase-9",
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
        headers={"Referer": f"{origin}/accounts/signup/"},
    )
    assert response.status_code == 302, response.text[:300]
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    client.headers["Referer"] = f"{origin}/"  # over HTTPS, Django's CSRF check wants one


async def log_in(
    client: httpx.AsyncClient,
    origin: str,
    username: str,
    password: str,
    path: str = "/accounts/login/",
) -> None:
    await client.get(path)
    response = await client.post(
        path,
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
        headers={"Referer": f"{origin}{path}"},
    )
    assert response.status_code == 302, response.text[:300]
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    client.headers["Referer"] = f"{origin}/"  # over HTTPS, Django's CSRF check wants one
