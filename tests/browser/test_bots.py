"""A bot's message shows a "bot" badge, live and after a reload; a person's shows none.

alice owns the room and watches it; ci-bot (made by staff) posts through an incoming webhook.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import make_room, message, post, wait_live

pytestmark = pytest.mark.server

MAKE_BOT = (
    "from django.contrib.auth.models import User; from rooms.models import Bot;"
    " Bot.objects.create(user=User.objects.create_user('ci-bot'))"
)


def test_a_bots_message_has_a_badge_live_and_after_a_reload(browsing, user, server, live_database):
    live_database.manage("shell", "-c", MAKE_BOT)
    alice = user("alice")
    make_room(alice)
    post(alice, "a person's word")
    hook = alice.post("/rooms/general/webhooks/incoming/", json={"name": "CI", "bot": "ci-bot"})
    assert hook.status_code == 201, hook.text
    page = browsing.page_for(alice, "/rooms/general/")
    wait_live(page)
    posted = httpx.post(f"{server.url}{hook.json()['path']}", json={"text": "build 7 passed"})
    assert posted.status_code == 201
    for _ in range(2):
        expect(message(page, "build 7 passed").locator(".bot-badge")).to_be_visible()
        expect(message(page, "a person's word").locator(".bot-badge")).to_be_hidden()
        page.reload()
        wait_live(page)
