"""Production: `check --deploy` is clean with production settings, and bin/serve runs the
site as several uvicorn processes behind nginx (deploy/nginx.conf) with static files served,
HTTPS-only cookies and an unbuffered event stream.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.live import ROOT, LiveDatabase, free_port, processes_of, server_env, wait_for_port
from tests.sse import SSEEvent, SSEParser

PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "chat.example.org",
    # Parsed only: `check` does not connect to either.
    "DATABASE_URL": "postgres://chat@127.0.0.1:5432/chat",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=server_env(env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("ssl_redirect", ["1", "0"])
def test_check_deploy_is_clean_with_production_settings(ssl_redirect):
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING",
        **PRODUCTION, DJANGO_SECURE_SSL_REDIRECT=ssl_redirect,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_about_in_process_fan_out_in_production():
    env = {key: value for key, value in PRODUCTION.items() if key != "REDIS_URL"}
    result = manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode != 0
    assert "rooms.W001" in result.stderr


def test_production_without_a_secret_key_fails_naming_it():
    env = {**PRODUCTION, "DJANGO_SECRET_KEY": ""}
    result = manage("check", **env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def consecutive_free_ports(count: int) -> int:
    for _ in range(50):
        base = free_port()
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sock.bind(("127.0.0.1", port))
                sockets.append(sock)
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no consecutive free ports")


def port_closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.2):
            return False
    except OSError:
        return True


@pytest.mark.server
@pytest.mark.timeout(180)
@pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")),
    reason="bin/serve runs on PostgreSQL and Redis: set DATABASE_URL and REDIS_URL",
)
@pytest.mark.skipif(
    not (shutil.which("nginx") and shutil.which("openssl")),
    reason="nginx and openssl are not installed (apt-get install nginx-light openssl)",
)
def test_bin_serve_runs_two_processes_behind_nginx(tmp_path):
    database = LiveDatabase(tmp_path).create()
    base_port = consecutive_free_ports(2)
    http_port, https_port = free_port(), free_port()
    static_root = tmp_path / "static"
    site = tmp_path / "chat.conf"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    env = {
        **PRODUCTION,
        **database.env,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_STATIC_ROOT": str(static_root),
        "CHAT_SKIP_BOOTSTRAP": "1",
        "CHAT_BASE_PORT": str(base_port),
        "CHAT_NGINX_SITE": str(site),
        "CHAT_HTTP_PORT": str(http_port),
        "CHAT_HTTPS_PORT": str(https_port),
        "CHAT_SSL_CERTIFICATE": str(cert),
        "CHAT_SSL_CERTIFICATE_KEY": str(key),
    }
    serve_log = tmp_path / "serve.log"
    serve = subprocess.Popen(
        ["bin/serve", "2"],
        cwd=ROOT,
        env=server_env(env),
        stdout=serve_log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    nginx_log = tmp_path / "nginx-error.log"
    main_conf = tmp_path / "nginx.conf"
    user = "user root;\n" if os.geteuid() == 0 else ""
    main_conf.write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {tmp_path}/nginx.pid;\n"
        f"error_log {nginx_log};\nevents {{}}\n"
        f"http {{\n include /etc/nginx/mime.types;\n access_log {tmp_path}/access.log;\n"
        f" client_body_temp_path {tmp_path}/body;\n proxy_temp_path {tmp_path}/proxy;\n"
        f" include {site};\n}}\n"
    )
    nginx = None
    try:
        wait_for_port(base_port, 90, serve, serve_log)
        wait_for_port(base_port + 1, 30, serve, serve_log)
        rendered = site.read_text()
        assert f"server 127.0.0.1:{base_port} " in rendered
        assert f"server 127.0.0.1:{base_port + 1} " in rendered
        assert "proxy_buffering off;" in rendered
        assert re.search(r"@[A-Z_]+@", rendered) is None  # every placeholder filled in
        check = subprocess.run(
            ["nginx", "-t", "-c", str(main_conf)], capture_output=True, text=True, timeout=30
        )
        assert check.returncode == 0, check.stderr
        nginx = subprocess.Popen(
            ["nginx", "-c", str(main_conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(https_port, 20, nginx, nginx_log)

        # The web process does not name itself (nginx drops upstream Server headers anyway).
        direct = httpx.get(f"http://127.0.0.1:{base_port}/accounts/login/", timeout=10)
        assert "server" not in direct.headers
        asyncio.run(use_the_site(f"https://127.0.0.1:{https_port}", http_port))
        asyncio.run(spoof_the_client_address(https_port))
        check_the_task_worker(serve.pid, database)
    finally:
        if nginx is not None:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(10)
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(20)
        finally:
            if serve.poll() is None:
                os.killpg(serve.pid, signal.SIGKILL)
        database.drop()
    # SIGTERM stops bin/serve and every web process it started, and the task worker.
    assert serve.returncode == 0, serve_log.read_text()[-3000:]
    deadline = time.monotonic() + 10
    while not (port_closed(base_port) and port_closed(base_port + 1)):
        assert time.monotonic() < deadline, "web processes outlived bin/serve"
        time.sleep(0.1)
    while processes_of(serve.pid, "manage.py run_worker"):
        assert time.monotonic() < deadline, "the task worker outlived bin/serve"
        time.sleep(0.1)


# A mute that expired while no worker ran (and whose task is gone).
EXPIRED_MUTE = """
from datetime import timedelta
from django.utils import timezone
from rooms.models import Restriction, Room
room = Room.objects.get(slug="general")
Restriction.objects.create(
    room=room, user=room.owner, kind="mute", expires_at=timezone.now() - timedelta(hours=1)
)
"""
COUNT_UNMUTES = """
from rooms.models import RoomEvent
print("unmutes:", RoomEvent.objects.filter(type="user_unmuted").count())
"""


def check_the_task_worker(session: int, database: LiveDatabase) -> None:
    """bin/serve runs the task worker and restarts it when it exits; a worker that starts
    ends the mutes that expired while none ran."""
    deadline = time.monotonic() + 30
    while not (workers := processes_of(session, "manage.py run_worker")):
        assert time.monotonic() < deadline, "bin/serve runs no task worker"
        time.sleep(0.2)
    assert len(workers) == 1
    database.manage("shell", "-c", EXPIRED_MUTE)
    os.kill(workers[0], signal.SIGKILL)
    while processes_of(session, "manage.py run_worker") in ([], workers):
        assert time.monotonic() < deadline, "the task worker was not restarted"
        time.sleep(0.2)
    while "unmutes: 1" not in database.manage("shell", "-c", COUNT_UNMUTES):
        assert time.monotonic() < deadline, "the restarted worker did not end the expired mute"
        time.sleep(0.5)


async def use_the_site(origin: str, http_port: int) -> None:
    """What a browser does, through nginx."""
    async with httpx.AsyncClient(base_url=origin, verify=False, timeout=10) as client:
        # Plain HTTP is redirected to HTTPS.
        redirect = await client.get(f"http://127.0.0.1:{http_port}/rooms/")
        assert redirect.status_code == 301
        assert redirect.headers["location"] == f"{origin}/rooms/"

        # Static files come from STATIC_ROOT through nginx, after collectstatic.
        css = await client.get("/static/rooms/app.css")
        assert css.status_code == 200
        assert css.content == (ROOT / "static/rooms/app.css").read_bytes()
        assert css.headers["server"].startswith("nginx")

        # DEBUG is off: an unknown page is a plain 404, not the debug page.
        missing = await client.get("/no-such-page/")
        assert missing.status_code == 404
        assert "URLconf" not in missing.text

        # Sign up over HTTPS: secure, HttpOnly, SameSite cookies and HSTS.
        page = await client.get("/accounts/signup/")
        assert page.headers["strict-transport-security"].startswith("max-age=31536000")
        client.headers["Referer"] = f"{origin}/accounts/signup/"
        signed_up = await client.post(
            "/accounts/signup/",
            data={
                "username": "alice",
                "password1": "a-long-passphrase-9",
                "password2": "a-long-passphrase-9",
                "csrfmiddlewaretoken": client.cookies["csrftoken"],
            },
        )
        assert signed_up.status_code == 302, signed_up.text[:500]
        session_cookie = next(
            c for c in signed_up.headers.get_list("set-cookie") if c.startswith("sessionid=")
        )
        for flag in ("Secure", "HttpOnly", "SameSite=Lax"):
            assert flag in session_cookie
        client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
        created = await client.post("/rooms/", json={"slug": "general", "name": "General"})
        assert created.status_code == 201

        # The stream passes through nginx unbuffered: an event posted (on either
        # process, nginx balances the requests) arrives at once.
        parser = SSEParser()
        async with client.stream("GET", "/rooms/general/events/") as stream:
            assert stream.status_code == 200
            chunks = stream.aiter_raw()
            await asyncio.wait_for(chunks.__anext__(), 5)  # the retry line
            latencies = []
            for i in range(4):
                started = time.monotonic()
                response = await client.post(
                    "/rooms/general/messages/", json={"body": f"hello {i}"}
                )
                assert response.status_code == 201
                events: list[SSEEvent] = []
                while not events:
                    events = parser.feed(await asyncio.wait_for(chunks.__anext__(), 5))
                latencies.append(time.monotonic() - started)
                assert events[0].json["body"] == f"hello {i}"
            assert max(latencies) < 2


def client_at(address: str, https_port: int) -> httpx.AsyncClient:
    """A client whose connections come from `address` (any 127.x address is this machine)."""
    transport = httpx.AsyncHTTPTransport(local_address=address, verify=False)
    return httpx.AsyncClient(
        base_url=f"https://127.0.0.1:{https_port}", transport=transport, timeout=10
    )


async def log_in(client: httpx.AsyncClient, username: str, password: str, **headers: str) -> int:
    await client.get("/accounts/login/")
    response = await client.post(
        "/accounts/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
        headers={"Referer": f"{str(client.base_url).rstrip('/')}/accounts/login/", **headers},
    )
    return response.status_code


async def spoof_the_client_address(https_port: int) -> None:
    """X-Forwarded-For written by the client neither dodges the address lockout nor turns it
    on someone else: the address that counts is the one nginx saw. Attackers connect from
    127.0.0.2 and 127.0.0.4, alice (who signed up already) from 127.0.0.3."""
    async with client_at("127.0.0.2", https_port) as attacker:
        for i in range(5):
            await log_in(attacker, f"nobody{i}", "wrong", **{"X-Forwarded-For": "127.0.0.3"})
    async with client_at("127.0.0.3", https_port) as alice:
        assert await log_in(alice, "alice", "a-long-passphrase-9") == 302
    async with client_at("127.0.0.4", https_port) as attacker:
        statuses = []
        for i in range(12):
            forwarded_for = {"X-Forwarded-For": f"198.51.100.{i}, 127.0.0.1"}
            statuses.append(await log_in(attacker, f"someone{i}", "wrong", **forwarded_for))
        # Four forms with an error, then the address is locked out.
        assert statuses == [200] * 4 + [429] * 8, statuses
