"""Incoming webhooks: a room owner makes one for a bot; POST /hooks/<id>/<secret>/ with
{"text"} (or Slack's body) posts as that bot; a wrong secret is a 404 like a missing hook;
the secret can be rotated; posts are rate-limited per hook and bodies size-limited.

alice: owns the lobby; bob: a member; robo: a bot.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from django.test import Client

from rooms.models import Bot, IncomingWebhook, Message
from tests.conftest import client_for
from tests.helpers import post_json


@pytest.fixture
def robo(db) -> User:
    user = User.objects.create_user("robo")
    Bot.objects.create(user=user)
    return user


@pytest.fixture
def hook(lobby, alice, robo) -> dict:
    response = post_json(
        client_for(alice), "/rooms/lobby/webhooks/incoming/", {"name": "CI", "bot": "robo"}
    )
    assert response.status_code == 201, response.content
    return response.json()


def hook_post(url: str, payload, **extra):
    return Client(enforce_csrf_checks=True).post(
        url, json.dumps(payload), content_type="application/json", **extra
    )


@pytest.mark.django_db
def test_an_owner_makes_a_hook_and_it_posts_as_its_bot(hook, lobby, robo):
    assert lobby.is_member(robo)  # made a member with the hook
    response = hook_post(hook["path"], {"text": "deploy finished"})
    assert response.status_code == 201, response.content
    assert response.json()["author"] == "robo" and response.json()["bot"] is True
    message = Message.objects.get()
    assert (message.author, message.body, message.from_bot) == (robo, "deploy finished", True)


@pytest.mark.django_db
def test_a_slack_body_json_or_form_encoded_is_accepted(hook):
    slack = {"text": "from slack", "username": "ignored", "icon_emoji": ":ghost:"}
    assert hook_post(hook["path"], slack).status_code == 201
    form = Client().post(
        hook["path"],
        urlencode({"payload": json.dumps({"text": "form slack"})}),
        content_type="application/x-www-form-urlencoded",
    )
    assert form.status_code == 201, form.content
    assert [m.body for m in Message.objects.order_by("id")] == ["from slack", "form slack"]


@pytest.mark.django_db
def test_bad_bodies_get_a_400_and_post_nothing(hook):
    for body in ({}, {"text": "  "}, {"text": 5}, {"text": "x", "extra": 1}):
        response = hook_post(hook["path"], body)
        assert response.status_code == 400, body
        assert "error" in response.json()
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_a_wrong_secret_answers_like_a_missing_hook(hook):
    hook_id = hook["id"]
    wrong = hook_post(f"/hooks/{hook_id}/not-the-secret/", {"text": "x"})
    missing = hook_post(f"/hooks/{hook_id + 100}/not-the-secret/", {"text": "x"})
    assert wrong.status_code == missing.status_code == 404
    assert wrong.content == missing.content
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_rotating_the_secret_retires_the_old_url(hook, alice):
    rotated = post_json(client_for(alice), f"/rooms/lobby/webhooks/incoming/{hook['id']}/rotate/")
    assert rotated.status_code == 200
    assert rotated.json()["path"] != hook["path"]
    assert hook_post(hook["path"], {"text": "old"}).status_code == 404
    assert hook_post(rotated.json()["path"], {"text": "new"}).status_code == 201


@pytest.mark.django_db
def test_a_body_over_the_limit_is_a_413(hook, settings):
    settings.CHAT_MAX_HOOK_BYTES = 1000
    response = hook_post(hook["path"], {"text": "x" * 2000})
    assert response.status_code == 413
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_posts_are_limited_per_hook(hook, settings):
    settings.CHAT_HOOK_POSTS_PER_MINUTE = 2
    assert hook_post(hook["path"], {"text": "1"}).status_code == 201
    assert hook_post(hook["path"], {"text": "2"}).status_code == 201
    limited = hook_post(hook["path"], {"text": "3"})
    assert limited.status_code == 429
    assert limited["Retry-After"]
    assert Message.objects.count() == 2


@pytest.mark.django_db
def test_only_the_owner_manages_hooks_and_only_for_bots(lobby, alice, bob, robo):
    made = post_json(
        client_for(bob), "/rooms/lobby/webhooks/incoming/", {"name": "x", "bot": "robo"}
    )
    assert made.status_code == 403
    assert client_for(bob).get("/rooms/lobby/webhooks/").status_code == 403
    not_a_bot = post_json(
        client_for(alice), "/rooms/lobby/webhooks/incoming/", {"name": "x", "bot": "bob"}
    )
    assert not_a_bot.status_code == 400
    assert not IncomingWebhook.objects.exists()


@pytest.mark.django_db
def test_the_owner_sees_the_hooks_on_the_webhooks_page_and_makes_one_with_a_form(
    lobby, alice, robo
):
    as_alice = client_for(alice)
    made = as_alice.post(
        "/rooms/lobby/webhooks/incoming/",
        {"name": "From a form", "bot": "robo"},
        HTTP_ACCEPT="text/html",
    )
    assert made.status_code == 303
    assert made["Location"] == "/rooms/lobby/webhooks/"
    page = as_alice.get("/rooms/lobby/webhooks/").content.decode()
    hook = IncomingWebhook.objects.get()
    assert "From a form" in page and hook.path() in page


@pytest.mark.django_db
def test_an_authorization_header_a_tool_adds_is_ignored_on_the_hook(hook, robo):
    response = hook_post(hook["path"], {"text": "x"}, HTTP_AUTHORIZATION="Basic dXNlcjpwdw==")
    assert response.status_code == 201
    assert response.json()["author"] == "robo"
