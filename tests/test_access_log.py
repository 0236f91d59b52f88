"""One log line per request and per stream open and close, plain or JSON, with no message
text, cookie, password or token in it."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from chatsite.logs import JSONFormatter, PlainFormatter
from tests.asgi import asgi_client
from tests.helpers import Stream
from tests.live import ROOT, server_env

pytestmark = pytest.mark.django_db(transaction=True)

BODY = "the secret plans are under the third stone"


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The access log's fields of a record (rooms/access_log.py puts them there)."""
    fields: dict[str, Any] = getattr(record, "fields")  # noqa: B009
    return fields


def access_lines(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "rooms.access"]


def reset_link(user) -> tuple[str, str]:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return f"/accounts/reset/{uid}/{token}/", token


async def test_requests_and_streams_are_logged_without_secrets(bob, lobby, caplog, settings):
    settings.CHAT_METRICS_TOKEN = "metrics-bearer-token-42"
    caplog.set_level(logging.INFO, logger="rooms.access")
    link, token = await sync_to_async(reset_link)(bob)
    async with asgi_client(bob) as client:
        secrets = [client.cookies["sessionid"], client.cookies["csrftoken"], token, BODY]
        async with Stream("lobby", bob) as stream:
            posted = await client.post("/rooms/lobby/messages/", json={"body": BODY})
            assert posted.status_code == 201
            await stream.read_events(1)
        await client.get(link)
        await client.get("/metrics", headers={"Authorization": "Bearer metrics-bearer-token-42"})
        await client.post("/accounts/logout/")
    async with asgi_client() as anonymous:
        await anonymous.get("/accounts/login/")
        form = {
            "username": "bob",
            "password": "bob-password-1",
            "csrfmiddlewaretoken": anonymous.cookies["csrftoken"],
        }
        logged_in = await anonymous.post("/accounts/login/", data=form)
        assert logged_in.status_code == 302
        secrets += ["bob-password-1", anonymous.cookies["sessionid"], "metrics-bearer-token-42"]

    records = access_lines(caplog)
    messages = [(r.getMessage(), fields_of(r).get("path")) for r in records]
    assert ("stream opened", None) in messages and ("stream closed", None) in messages
    post = next(fields_of(r) for r in records if fields_of(r).get("method") == "POST")
    assert post["path"] == "/rooms/lobby/messages/"
    assert post["view"] == "room-messages"
    assert (post["status"], post["user"]) == (201, "bob")
    assert post["addr"] == "127.0.0.1" and post["duration_ms"] >= 0
    closed = next(fields_of(r) for r in records if r.getMessage() == "stream closed")
    assert (closed["room"], closed["user"], closed["reason"]) == ("lobby", "bob", "client")
    assert closed["events"] >= 1 and closed["duration_s"] >= 0
    # The reset link's token is a secret: its route is logged instead.
    assert "/accounts/reset/<uidb64>/<token>/" in [fields_of(r).get("path") for r in records]

    for formatter in (PlainFormatter(), JSONFormatter()):
        text = "\n".join(formatter.format(record) for record in records)
        for secret in secrets:
            assert secret not in text, (secret, type(formatter).__name__)


async def test_a_refused_stream_is_logged_with_its_status(carol, secret, caplog):
    caplog.set_level(logging.INFO, logger="rooms.access")
    async with Stream("secret", carol) as stream:
        assert stream.status == 404
    refused = [fields_of(r) for r in access_lines(caplog) if r.getMessage() == "stream refused"]
    assert refused == [
        {"room": "secret", "user": "carol", "user_id": carol.pk, "addr": "127.0.0.1", "status": 404}
    ]


def test_the_plain_format_keeps_one_record_on_one_line():
    record = logging.LogRecord("rooms.access", logging.INFO, "", 0, "request", None, None)
    record.fields = {"path": "/rooms/x\nINFO forged line/", "user": None, "status": 200}
    line = PlainFormatter().format(record)
    assert "\n" not in line
    assert 'path="/rooms/x\\nINFO forged line/" user=- status=200' in line


def test_the_json_format_is_one_object_per_line():
    record = logging.LogRecord("rooms.access", logging.INFO, "", 0, "request", None, None)
    record.fields = {"path": "/rooms/x/", "status": 200}
    entry = json.loads(JSONFormatter().format(record))
    assert entry["message"] == "request" and entry["logger"] == "rooms.access"
    assert (entry["path"], entry["status"], entry["level"]) == ("/rooms/x/", 200, "INFO")


SAY = "import logging; logging.getLogger('rooms.access').info('hi', extra={'fields': {'a': 1}})"


@pytest.mark.parametrize("log_format", ["json", "plain"])
def test_chat_log_format_picks_the_format(log_format):
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SAY],
        cwd=ROOT,
        env=server_env({"CHAT_LOG_FORMAT": log_format}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = result.stderr.strip().splitlines()[-1]
    if log_format == "json":
        assert json.loads(line)["a"] == 1
    else:
        assert line.endswith("INFO rooms.access hi a=1")


def test_an_unknown_log_format_is_refused_naming_the_variable():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=server_env({"CHAT_LOG_FORMAT": "xml"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "CHAT_LOG_FORMAT" in result.stderr
