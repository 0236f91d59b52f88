"""CSRF on every state-changing request, and the browser-side protections on every answer."""

import json
import re
from pathlib import Path

import pytest

from rooms.models import Message, ModerationAction, Room, RoomEvent
from tests.conftest import client_for
from tests.test_security_authorization import ROWS

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent


def state():
    return (
        Message.objects.count(),
        Room.objects.count(),
        RoomEvent.objects.count(),
        ModerationAction.objects.count(),
    )


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        (method, path, payload)
        for method, path, payload, _ in ROWS
        # An incoming webhook's URL is its credential: it takes no CSRF token (and no session).
        if method != "GET" and "/accounts/logout/" not in path and not path.startswith("/hooks/")
    ],
)
def test_every_state_changing_request_needs_the_csrf_token(alice, lobby, method, path, payload):
    message, _ = lobby.post_message(alice, "hello")
    client = client_for(alice, enforce_csrf=True)
    before = state()
    payload = payload.replace("{message}", str(message.pk))
    body = json.dumps(json.loads(payload)) if payload else ""
    response = getattr(client, method.lower())(
        path.format(message=message.pk, hook=999999), body, content_type="application/json"
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]
    assert state() == before


def test_logout_needs_the_csrf_token(alice):
    client = client_for(alice, enforce_csrf=True)
    assert client.post("/accounts/logout/").status_code == 403
    assert "_auth_user_id" in client.session


@pytest.mark.parametrize(
    "path", ["/", "/rooms/lobby/", "/rooms/", "/rooms/lobby/messages/", "/accounts/login/"]
)
def test_every_answer_carries_the_security_headers(as_bob, lobby, path):
    response = as_bob.get(path)
    csp = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_no_template_has_inline_script_or_event_handlers():
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag or 'type="application/json"' in tag, f"{template}: {tag}"
        assert not re.search(r"\son[a-z]+\s*=", text), f"{template} has an inline event handler"


def test_the_session_and_csrf_cookies_are_httponly_and_samesite(bob):
    from django.test import Client

    client = Client()
    client.get("/accounts/login/")
    response = client.post("/accounts/login/", {"username": "bob", "password": "bob-password-1"})
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"
    csrf = client.cookies["csrftoken"]
    assert csrf["httponly"] and csrf["samesite"] == "Lax"


def assert_security_headers(headers):
    """headers: {lowercase bytes name: bytes value}, as an ASGI answer carries them."""
    csp = headers[b"content-security-policy"].decode()
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert headers[b"x-frame-options"] == b"DENY"
    assert headers[b"x-content-type-options"] == b"nosniff"
    assert headers[b"referrer-policy"] == b"same-origin"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("who", "slug", "status"),
    [("bob", "lobby", 200), (None, "lobby", 401), ("carol", "secret", 404)],
)
async def test_every_answer_of_the_stream_carries_the_security_headers(
    lobby, secret, carol, who, slug, status
):
    from django.contrib.auth.models import User

    from tests.helpers import Stream

    user = await User.objects.aget(username=who) if who else None
    async with Stream(slug, user) as stream:
        assert stream.status == status
        assert_security_headers(stream.headers)


@pytest.mark.django_db(transaction=True)
async def test_the_stream_sends_hsts_over_https(lobby, bob, settings):
    from tests.helpers import Stream

    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31_536_000
    stream = Stream("lobby", bob)
    stream.scope["headers"].append((b"x-forwarded-proto", b"https"))
    async with stream:
        assert stream.status == 200
        assert stream.headers[b"strict-transport-security"].startswith(b"max-age=31536000")


@pytest.mark.django_db(transaction=True)
async def test_the_stream_headers_are_built_once_and_follow_the_settings(lobby, bob, settings):
    from rooms.middleware import security_headers
    from tests.helpers import Stream

    async with Stream("lobby", bob) as stream:
        assert stream.headers[b"referrer-policy"] == b"same-origin"
    assert security_headers(False) is security_headers(False)  # not built per stream

    settings.SECURE_REFERRER_POLICY = "no-referrer"
    settings.SECURE_CSP = {**settings.SECURE_CSP, "img-src": ["'self'", "https://example.com"]}
    async with Stream("lobby", bob) as stream:
        assert stream.headers[b"referrer-policy"] == b"no-referrer"
        assert b"img-src 'self' https://example.com" in stream.headers[b"content-security-policy"]


def test_the_413_answer_carries_the_security_headers(as_bob, lobby, settings):
    huge = "x" * (settings.CHAT_MAX_REQUEST_BYTES + 1)
    response = as_bob.post("/rooms/lobby/messages/", {"body": huge})
    assert response.status_code == 413
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
