"""API tokens: made on the settings page, shown once, stored as a digest; they authenticate
the JSON API and both streams by the Authorization header only, with their scope; revoking
one (or its expiry) ends it and closes the streams it opened.

alice: owns the lobby; bob: a member of it; carol: a member of nothing.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.utils import timezone

from rooms.models import ApiToken
from rooms.models.programs import token_digest
from tests.conftest import client_for
from tests.helpers import Stream, post_json, wait_for_subscribers


def token_for(user, scope="write", **fields) -> str:
    _, text = ApiToken.objects.create_token(user, "a program", scope, **fields)
    return text


def bearer(text: str) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": f"Bearer {text}"}


@pytest.mark.django_db
def test_a_token_made_on_the_settings_page_is_shown_once_and_stored_as_a_digest(bob):
    as_bob = client_for(bob)
    page = as_bob.post(
        "/settings/tokens/",
        {"token-name": "my bot", "token-scope": "write", "token-expires_in_days": "30"},
    )
    assert page.status_code == 200
    shown = re.search(rb"data-new-token>(chat_[A-Za-z0-9_-]+)<", page.content)
    assert shown is not None
    text = shown.group(1).decode()
    token = ApiToken.objects.get(user=bob)
    assert token.digest == token_digest(text)
    assert text not in repr(ApiToken.objects.filter(user=bob).values())
    assert token.name == "my bot" and token.scope == "write"
    assert token.expires_at is not None and token.expires_at > timezone.now()
    # Listed (by its prefix), never shown again.
    listed = as_bob.get("/settings/").content.decode()
    assert "my bot" in listed and token.display in listed and text not in listed


@pytest.mark.django_db
def test_a_token_authenticates_the_json_api_without_a_session_or_csrf(lobby, bob):
    text = token_for(bob)
    program = Client(enforce_csrf_checks=True)
    rooms = program.get("/rooms/", **bearer(text))
    assert rooms.status_code == 200
    assert "lobby" in [room["slug"] for room in rooms.json()["rooms"]]
    posted = post_json(
        program, "/rooms/lobby/messages/", {"body": "hi from a program"}, **bearer(text)
    )
    assert posted.status_code == 201, posted.content
    assert posted.json()["author"] == "bob"
    assert posted.json()["bot"] is False
    assert "sessionid" not in program.cookies
    assert ApiToken.objects.get(user=bob).last_used_at is not None


@pytest.mark.django_db
def test_last_used_is_written_at_most_once_a_minute(lobby, bob, django_assert_num_queries):
    text = token_for(bob)
    program = Client()
    program.get("/rooms/lobby/messages/", **bearer(text))
    first = ApiToken.objects.get(user=bob).last_used_at
    assert first is not None
    program.get("/rooms/lobby/messages/", **bearer(text))
    assert ApiToken.objects.get(user=bob).last_used_at == first
    ApiToken.objects.filter(user=bob).update(last_used_at=first - datetime.timedelta(minutes=2))
    program.get("/rooms/lobby/messages/", **bearer(text))
    again = ApiToken.objects.get(user=bob).last_used_at
    assert again is not None and again > first


@pytest.mark.django_db
def test_a_read_token_may_read_but_not_write(lobby, bob):
    text = token_for(bob, scope="read")
    program = Client()
    assert program.get("/rooms/lobby/messages/", **bearer(text)).status_code == 200
    refused = post_json(program, "/rooms/lobby/messages/", {"body": "no"}, **bearer(text))
    assert refused.status_code == 403
    assert "write scope" in refused.json()["error"]
    assert program.delete("/rooms/lobby/messages/1/", **bearer(text)).status_code == 403


@pytest.mark.django_db
def test_a_revoked_or_expired_or_unknown_token_is_a_401(lobby, bob):
    revoked, text = ApiToken.objects.create_token(bob, "old", "write")
    revoked.revoke()
    expired = token_for(bob, expires_at=timezone.now() - datetime.timedelta(seconds=1))
    program = Client()
    for bad in (text, expired, "chat_00000000_nothing", "not-even-ours"):
        response = program.get("/rooms/", **bearer(bad))
        assert response.status_code == 401, bad
        assert response["WWW-Authenticate"].startswith("Bearer")
    basic = program.get("/rooms/", HTTP_AUTHORIZATION="Basic Ym9iOmJvYg==")
    assert basic.status_code == 401


@pytest.mark.django_db
def test_a_token_in_the_query_string_is_refused(lobby, bob):
    text = token_for(bob)
    for name in ("access_token", "token"):
        response = Client().get(f"/rooms/?{name}={text}")
        assert response.status_code == 400
        assert "Authorization header" in response.json()["error"]


@pytest.mark.django_db
def test_a_session_cookie_with_a_bad_token_is_still_checked_for_csrf(lobby, bob):
    as_bob = client_for(bob, enforce_csrf=True)
    response = post_json(as_bob, "/rooms/lobby/messages/", {"body": "x"}, **bearer("chat_bad"))
    assert response.status_code == 401
    # And without the header, the cookie alone still needs its CSRF token.
    assert post_json(as_bob, "/rooms/lobby/messages/", {"body": "x"}).status_code == 403


@pytest.mark.django_db
def test_a_token_cannot_reach_the_accounts_pages(bob, alice):
    text = token_for(bob)
    bob.is_staff = bob.is_superuser = True
    bob.save()
    for path in ("/settings/", "/admin/", "/accounts/password_change/"):
        assert Client().get(path, **bearer(text)).status_code == 403, path
    created = Client().post("/settings/tokens/", {"token-name": "more"}, **bearer(text))
    assert created.status_code == 403
    assert ApiToken.objects.filter(user=bob).count() == 1


@pytest.mark.django_db
def test_a_person_revokes_their_own_tokens_only(bob, carol):
    token, text = ApiToken.objects.create_token(bob, "b", "write")
    assert client_for(carol).post(f"/settings/tokens/{token.pk}/revoke/").status_code == 404
    response = client_for(bob).post(f"/settings/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert Client().get("/rooms/", **bearer(text)).status_code == 401


# Streams

stream_db = pytest.mark.django_db(transaction=True)


@stream_db
async def test_a_token_opens_a_rooms_stream_and_the_user_stream(lobby, bob):
    text = await sync_to_async(token_for)(bob, "read")
    async with Stream("lobby", None, token=text) as stream:
        assert stream.status == 200
    async with Stream(None, None, token=text) as stream:
        assert stream.status == 200


@stream_db
async def test_a_bad_token_or_one_in_the_query_cannot_open_a_stream(lobby, bob, carol):
    text = await sync_to_async(token_for)(bob, "read")
    async with Stream("lobby", None, token="chat_nothing") as stream:
        assert stream.status == 401
    async with Stream("lobby", None, query={"access_token": text}) as stream:
        assert stream.status == 400
    carols = await sync_to_async(token_for)(carol, "read")
    async with Stream("secret", None, token=carols) as stream:
        assert stream.status == 404  # the access rule applies to a token's person as to a session


@stream_db
async def test_revoking_a_token_closes_the_streams_it_opened_only(lobby, bob):
    token, text = await sync_to_async(ApiToken.objects.create_token)(bob, "b", "read")
    other = await sync_to_async(token_for)(bob, "read")
    async with (
        Stream("lobby", None, token=text) as by_token,
        Stream(None, None, token=text) as user_stream,
        Stream("lobby", None, token=other) as by_other,
        Stream("lobby", bob) as by_session,
    ):
        await wait_for_subscribers(lobby.pk, 3)
        await sync_to_async(token.revoke)()
        await by_token.read_to_end()
        await user_stream.read_to_end()
        assert by_token.events[-1].type == "revoked"
        assert user_stream.events[-1].type == "revoked"
        await by_other.expect_nothing(0.3)
        await by_session.expect_nothing(0.1)
        assert not by_other.ended and not by_session.ended


@stream_db
async def test_a_stream_closes_when_its_token_expires(lobby, bob):
    soon = timezone.now() + datetime.timedelta(seconds=1)
    text = await sync_to_async(token_for)(bob, "read", expires_at=soon)
    async with Stream("lobby", None, token=text) as stream:
        assert stream.status == 200
        await stream.read_to_end(timeout=5)
        assert stream.events[-1].type == "revoked"


@stream_db
async def test_a_token_works_through_the_asgi_application_in_async_mode(lobby, bob):
    """The async middleware path (a thread hop for the token's query only), as daphne runs it."""
    from tests.asgi import asgi_client

    text = await sync_to_async(token_for)(bob)
    async with asgi_client() as program:
        program.headers["Authorization"] = f"Bearer {text}"
        posted = await program.post("/rooms/lobby/messages/", json={"body": "async"})
        assert posted.status_code == 201, posted.text
        assert posted.json()["author"] == "bob"
        assert "set-cookie" not in posted.headers
        program.headers["Authorization"] = "Bearer chat_not_a_token"
        refused = await program.post("/rooms/lobby/messages/", json={"body": "no"})
        assert refused.status_code == 401
