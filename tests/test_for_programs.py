"""The README's "For programs" section, run as a program would, against a real server and
task worker: every curl example, in order, and the whole flow. A person makes a token on
the settings page; with only that token a script creates a room, posts, follows the room's
stream, makes an incoming webhook for a bot and posts through it, registers an outgoing
webhook on a receiver of the test's own, which gets the signed call, checks its signature
with the README's recipe, and replies; the reply appears in the stream, from the bot.
Revoking the token then ends the stream.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.live import ROOT, LiveServer, server_env, sign_up_sync
from tests.receiver import receiver

pytestmark = pytest.mark.server

README = Path(__file__).resolve().parent.parent / "README.md"
EXAMPLE = re.compile(r"<!-- example: ([a-z-]+) -->\n```(sh|python)\n(.*?)```", re.DOTALL)


def examples() -> dict[str, str]:
    section = README.read_text().split("## For programs", 1)[1].split("\n## ", 1)[0]
    return {name: code for name, _, code in EXAMPLE.findall(section)}


def test_the_readme_has_every_example_this_test_runs():
    assert set(examples()) == {
        "list-rooms",
        "create-room",
        "post-message",
        "follow-stream",
        "make-incoming-hook",
        "post-through-hook",
        "make-outgoing-hook",
        "verify",
    }


class Shell:
    """Runs the README's shell examples with the variables they use."""

    def __init__(self, **env: str) -> None:
        self.env = {**os.environ, **env}

    def run(self, code: str) -> dict:
        result = subprocess.run(
            ["bash", "-c", code], env=self.env, capture_output=True, text=True, timeout=20
        )
        assert result.returncode == 0, (code, result.stdout, result.stderr)
        return json.loads(result.stdout)

    def start(self, code: str) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
        """Run a long example (the stream): its lines arrive in the queue."""
        process = subprocess.Popen(
            ["bash", "-c", f"exec {code.strip()}"],
            env=self.env,
            stdout=subprocess.PIPE,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.put(line.rstrip("\n"))
            lines.put("<end>")

        threading.Thread(target=read, daemon=True).start()
        return process, lines


def next_event(lines: queue.Queue[str], wanted: str, timeout: float = 15) -> dict | str:
    """Read the stream until an event of type `wanted`; return its data."""
    deadline = time.monotonic() + timeout
    kind = None
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line == "<end>":
            raise AssertionError(f"the stream ended before {wanted}")
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: ") and kind == wanted:
            return json.loads(line.removeprefix("data: "))
    raise AssertionError(f"no {wanted} event within {timeout}s")


def next_message(lines: queue.Queue[str], body: str) -> dict:
    while True:
        data = next_event(lines, "message")
        assert isinstance(data, dict)
        if data["body"] == body:
            return data


MAKE_BOT = (
    "from django.contrib.auth.models import User; from rooms.models import Bot;"
    " Bot.objects.create(user=User.objects.create_user('ci-bot'))"
)


def test_a_program_drives_the_whole_flow_with_only_its_token(live_database):
    allowed: dict[str, Any] = {"CHAT_HOOK_ALLOWED_HOSTS": "127.0.0.1", "CHAT_HOOK_RETRY_SECS": "1"}
    # Staff make the bot (as the admin would), while the server starts.
    make_bot = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", MAKE_BOT],
        cwd=ROOT,
        env=server_env(live_database.env),
    )
    server = LiveServer(live_database, **allowed).start()
    worker = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "run_worker",
            "--interval",
            "0.2",
            "--no-reload",
            "--no-startup-delay",
        ],
        cwd=ROOT,
        env=server_env({**live_database.env, **allowed}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stream = None
    try:
        # A person makes a token on the settings page.
        alice = sign_up_sync(server.url, "alice")
        page = alice.post(
            "/settings/tokens/", data={"token-name": "script", "token-scope": "write"}
        )
        found = re.search(r"data-new-token>(chat_[\w-]+)<", page.text)
        assert found is not None
        token = found.group(1)
        assert make_bot.wait(30) == 0
        code = examples()
        shell = Shell(CHAT=server.url, TOKEN=token)

        assert isinstance(shell.run(code["list-rooms"])["rooms"], list)
        assert shell.run(code["create-room"])["slug"] == "builds"
        stream, lines = shell.start(code["follow-stream"])
        time.sleep(0.5)  # the stream starts at the present: let it open first
        posted = shell.run(code["post-message"])
        assert posted["author"] == "alice" and posted["bot"] is False
        assert next_message(lines, "hello from a script")["id"] == posted["id"]

        hook = shell.run(code["make-incoming-hook"])
        shell.env["HOOK_PATH"] = hook["path"]
        through_hook = shell.run(code["post-through-hook"])
        seen = next_message(lines, "build 42 passed")
        assert seen["id"] == through_hook["id"]
        assert (seen["author"], seen["bot"]) == ("ci-bot", True)

        with receiver(reply=json.dumps({"text": "pong"}).encode()) as receiving:
            shell.env["RECEIVER_URL"] = receiving.url
            outgoing = shell.run(code["make-outgoing-hook"])
            shell.env["TOKEN"] = token
            asked = shell.run(code["post-message"])
            reply = next_message(lines, "pong")
            assert (reply["author"], reply["bot"]) == ("ci-bot", True)
            [call] = receiving.received
        namespace: dict = {}
        exec(code["verify"], namespace)  # the README's recipe, as a receiver would use it
        verify = namespace["verify"]
        assert verify(outgoing["secret"], call.headers["X-Chat-Signature"], call.body)
        assert not verify(outgoing["secret"], call.headers["X-Chat-Signature"], call.body + b" ")
        assert json.loads(call.body)["message"]["id"] == asked["id"]

        # Revoking the token on the settings page ends the stream it opened.
        listed = re.search(r'data-token-id="(\d+)"', alice.get("/settings/").text)
        assert listed is not None
        token_id = listed.group(1)
        revoked = alice.post(f"/settings/tokens/{token_id}/revoke/")
        assert revoked.status_code == 302
        assert next_event(lines, "revoked") == {"reason": "access revoked"}
        stream.wait(10)
        with pytest.raises(AssertionError):
            shell.run(code["list-rooms"])  # 401 now: curl --fail-with-body fails
    finally:
        if stream is not None and stream.poll() is None:
            stream.kill()
        worker.terminate()
        worker.wait(10)
        server.stop()
