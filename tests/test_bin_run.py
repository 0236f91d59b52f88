"""bin/run: the development server on SQLite, with the task worker beside it.

The worker ends a mute whose time ran out (the event reaches the log), and stops with the
server: nothing bin/run started outlives it. Mail is printed: a password reset shows its link.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.live import ROOT, free_port, manage, processes_of, server_env, sign_up_sync

pytestmark = [pytest.mark.server, pytest.mark.timeout(120)]

# The mute's minute passes: its expiry and its task's start move into the past.
THE_MINUTE_PASSES = """
from datetime import timedelta
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from rooms.models import Restriction
past = timezone.now() - timedelta(seconds=1)
Restriction.objects.update(expires_at=past)
DBTaskResult.objects.filter(task_path="rooms.moderation.expiry.end_restriction").update(run_after=past)
"""
ALICE_HAS_AN_EMAIL = """
from django.contrib.auth.models import User
User.objects.filter(username="alice").update(email="alice@example.org")
"""
COUNT_UNMUTES = """
from rooms.models import RoomEvent
print("unmutes:", RoomEvent.objects.filter(type="user_unmuted").count())
"""


def wait_for(predicate, timeout: float, message: str, log: Path):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"{message}\n{log.read_text()[-3000:]}"
        time.sleep(0.2)
    return value


def serving(url: str) -> bool:
    try:
        return httpx.get(f"{url}/accounts/login/", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_bin_run_runs_the_task_worker_beside_the_server_and_stops_both(tmp_path):
    database = {"SQLITE_PATH": str(tmp_path / "db.sqlite3")}  # bin/run serves SQLite only
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "run.log"
    run = subprocess.Popen(
        ["bin/run", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=server_env({**database, "CHAT_SKIP_BOOTSTRAP": "1"}),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(lambda: serving(url), 60, "bin/run does not serve", log)
        wait_for(lambda: processes_of(run.pid, "manage.py run_worker"), 10, "no worker", log)

        alice, bob = sign_up_sync(url, "alice"), sign_up_sync(url, "bob")
        assert alice.post("/rooms/", json={"slug": "general", "name": "G"}).status_code == 201
        assert bob.post("/rooms/general/join/").status_code == 201
        mute = alice.post("/rooms/general/mute/", json={"username": "bob", "minutes": 1})
        assert mute.status_code == 200, mute.text
        manage(database, "shell", "-c", THE_MINUTE_PASSES)
        wait_for(
            lambda: "unmutes: 1" in manage(database, "shell", "-c", COUNT_UNMUTES),
            20,
            "the worker did not end the mute",
            log,
        )

        manage(database, "shell", "-c", ALICE_HAS_AN_EMAIL)
        reset = alice.post("/accounts/password_reset/", data={"email": "alice@example.org"})
        assert reset.status_code == 302, reset.text[:500]
        assert reset.headers["location"] == "/accounts/password_reset/done/"
        wait_for(
            lambda: f"http://127.0.0.1:{port}/accounts/reset/" in log.read_text(),
            10,
            "the reset link was not printed",
            log,
        )
    finally:
        run.send_signal(signal.SIGTERM)
        try:
            run.wait(20)
        finally:
            if run.poll() is None:
                subprocess.run(["kill", "-KILL", f"-{run.pid}"], check=False)
    wait_for(lambda: not processes_of(run.pid, "manage.py"), 10, "processes outlived bin/run", log)
