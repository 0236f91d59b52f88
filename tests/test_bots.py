"""Bots: accounts staff make in the admin, with no password; they work with tokens, are
members of the rooms they are added to, and their messages say they are from a bot.

alice: owns the lobby; bob: a member; mod: staff; robo: a bot.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from rooms.models import ApiToken, Bot, Message
from tests.conftest import client_for
from tests.helpers import post_json


@pytest.fixture
def robo(db) -> User:
    """A bot account, as the admin makes one."""
    user = User.objects.create_user("robo")
    Bot.objects.create(user=user, description="posts the build status")
    return user


def bearer(text: str) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": f"Bearer {text}"}


@pytest.mark.django_db
def test_staff_make_a_bot_in_the_admin_and_it_has_no_password(db):
    root = User.objects.create_superuser("root", password="root-password-1")
    response = client_for(root).post(
        "/admin/rooms/bot/add/", {"username": "builder", "description": "CI"}
    )
    assert response.status_code == 302, response.content[:500]
    bot = Bot.objects.get(user__username="builder")
    assert not bot.user.has_usable_password()
    assert bot.description == "CI"


@pytest.mark.django_db
def test_a_bot_cannot_log_in_with_a_password_even_one_staff_gave_it(robo):
    robo.set_password("a-password-for-the-bot")
    robo.save()
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": "robo", "password": "a-password-for-the-bot"}
    )
    assert response.status_code == 200  # the form again, not a redirect
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_bot_posts_with_its_token_in_rooms_it_was_added_to_and_its_messages_say_so(
    lobby, alice, robo
):
    _, text = ApiToken.objects.create_token(robo, "ci", "write")
    program = Client()
    refused = post_json(program, "/rooms/lobby/messages/", {"body": "build"}, **bearer(text))
    assert refused.status_code == 403  # not a member yet
    added = post_json(client_for(alice), "/rooms/lobby/members/", {"username": "robo"})
    assert added.status_code == 201
    posted = post_json(program, "/rooms/lobby/messages/", {"body": "build green"}, **bearer(text))
    assert posted.status_code == 201, posted.content
    assert posted.json()["bot"] is True
    history = client_for(alice).get("/rooms/lobby/messages/").json()["messages"]
    assert [(m["author"], m["bot"]) for m in history] == [("robo", True)]
    page = client_for(alice).get("/rooms/lobby/").content.decode()
    assert 'class="bot-badge" title="Posted by a program">bot</span>' in page


@pytest.mark.django_db
def test_a_persons_messages_are_not_from_a_bot(lobby, bob):
    response = post_json(client_for(bob), "/rooms/lobby/messages/", {"body": "me"})
    assert response.json()["bot"] is False
    assert Message.objects.get().from_bot is False
    page = client_for(bob).get("/rooms/lobby/").content.decode()
    assert 'class="bot-badge" title="Posted by a program" hidden>' in page


@pytest.mark.django_db
def test_showing_whether_messages_are_from_bots_costs_no_query_per_message(
    lobby, alice, robo, django_assert_max_num_queries
):
    lobby.add_member(robo)
    for i in range(5):
        lobby.post_message(robo, f"bot {i}")
        lobby.post_message(alice, f"alice {i}")
    as_alice = client_for(alice)
    as_alice.get("/rooms/lobby/messages/")
    with django_assert_max_num_queries(8):
        messages = as_alice.get("/rooms/lobby/messages/").json()["messages"]
    assert [m["bot"] for m in messages] == [True, False] * 5


@pytest.mark.django_db
def test_staff_make_a_bot_token_in_the_admin_shown_once(robo):
    root = User.objects.create_superuser("root", password="root-password-1")
    response = client_for(root).post(
        "/admin/rooms/bot/",
        {"action": "make_tokens", "_selected_action": [robo.pk]},
    )
    assert response.status_code == 200
    text = response.content.decode().split("data-new-token>")[1].split("<")[0]
    assert text.startswith("chat_")
    token = ApiToken.objects.get(user=robo)
    assert token.scope == "write" and text not in str(token.__dict__)
    assert Client().get("/rooms/", **bearer(text)).status_code == 200
