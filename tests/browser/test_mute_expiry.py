"""A mute runs out while the muted person's page is open: the page lets them post again."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import make_room, message, send, wait_live

pytestmark = pytest.mark.server

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


def test_a_mute_that_runs_out_ends_on_the_open_page_without_a_reload(
    browsing, user, server, artifacts
):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "general", bob)
    page = browsing.page_for(bob, "/rooms/general/")
    wait_live(page)
    notice = page.locator("#room-notice")
    composer = page.locator("#composer-input")
    expect(notice).to_be_hidden()

    muted = alice.post("/rooms/general/mute/", json={"username": "bob", "minutes": 1})
    assert muted.status_code == 200, muted.text
    expect(notice).to_contain_text("you are muted in this room until")
    expect(composer).to_be_disabled()
    page.screenshot(path=artifacts / "mute-expiry-muted.png")

    server.database.manage("shell", "-c", THE_MINUTE_PASSES)
    # The task worker, a process of its own as under bin/run and bin/serve, runs what is due.
    server.database.manage("db_worker", "--batch", "--no-reload", "--no-startup-delay")

    expect(notice).to_be_hidden(timeout=5_000)
    expect(composer).to_be_enabled()
    send(page, "thank you, I will be nicer")
    sent = message(page, "thank you, I will be nicer")
    expect(sent).to_have_count(1)
    expect(sent).not_to_have_class(re.compile(r"\b(pending|failed)\b"))
    expect(sent).to_have_attribute("data-id", str(last_message_id(alice)))
    page.screenshot(path=artifacts / "mute-expiry-unmuted.png")
    # The end is in the room's history of events too: a page opened now is not muted.
    late = browsing.page_for(bob, "/rooms/general/")
    wait_live(late)
    expect(late.locator("#room-notice")).to_be_hidden()
    expect(late.locator("#composer-input")).to_be_enabled()


def last_message_id(client) -> int:
    return int(client.get("/rooms/general/messages/?limit=1").json()["messages"][-1]["id"])
