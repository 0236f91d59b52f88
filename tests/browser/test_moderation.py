"""A moderator removes a message and it disappears from everyone's open page, live."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import make_room, message, post, wait_live

pytestmark = pytest.mark.server

LIVE_MS = 1000


def test_a_removed_message_disappears_from_another_users_open_page(browsing, user):
    alice, bob, carol = user("alice"), user("bob"), user("carol")
    make_room(alice, "general", bob, carol)  # alice owns the room: she moderates it
    spam = post(bob, "buy cheap watches at example.com")
    post(bob, "an honest message")

    moderator = browsing.page_for(alice, "/rooms/general/")
    reader = browsing.page_for(carol, "/rooms/general/")
    wait_live(moderator)
    wait_live(reader)
    expect(message(reader, "buy cheap watches")).to_have_count(1)
    # Carol may report it, not remove it.
    item = message(reader, "buy cheap watches")
    item.hover()
    expect(item.get_by_role("button", name="Report message")).to_be_visible()
    expect(item.get_by_role("button", name="Remove message as a moderator")).to_be_hidden()

    browsing.prompt_answers.append("spam")
    target = message(moderator, "buy cheap watches")
    target.hover()
    target.get_by_role("button", name="Remove message as a moderator").click()

    removed = reader.locator(f'.message[data-id="{spam["id"]}"]')
    expect(removed.locator(".body")).to_have_text(
        "This message was removed by a moderator.", timeout=LIVE_MS
    )
    expect(reader.get_by_text("buy cheap watches")).to_have_count(0)
    expect(message(reader, "an honest message")).to_have_count(1)
    assert bob.get(f"/rooms/general/messages/{spam['id']}/").json()["removed"] is True

    # A page opened afterwards shows the removal too, without the text.
    late = browsing.page_for(bob, "/rooms/general/")
    expect(late.locator(f'.message[data-id="{spam["id"]}"] .body')).to_have_text(
        "This message was removed by a moderator."
    )
    assert "buy cheap watches" not in late.content()

    # The moderator restores it; it comes back on the open page.
    restored = moderator.locator(f'.message[data-id="{spam["id"]}"]')
    restored.hover()
    restored.get_by_role("button", name="Restore message as a moderator").click()
    expect(removed.locator(".body")).to_have_text(
        "buy cheap watches at example.com", timeout=LIVE_MS
    )
    assert browsing.dialogs == [
        "prompt: Remove this message for everyone. Reason (for the moderation log):"
    ]
