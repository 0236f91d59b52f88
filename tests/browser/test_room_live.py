"""Two people in one room, each in a browser of their own, see each other live."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import (
    assert_local_time,
    history,
    make_room,
    message,
    send,
    shown,
    wait_live,
)

pytestmark = pytest.mark.server

LIVE_MS = 1000  # "appears within a second"


def test_two_people_see_messages_edits_and_deletions_live(browsing, user):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "general", bob)
    a = browsing.page_for(alice, "/rooms/general/")
    b = browsing.page_for(bob, "/rooms/general/", dark=True)
    wait_live(a)
    wait_live(b)

    send(a, "hello bob")
    # Alice's own message is there at once (pending), then reconciled with its server copy.
    expect(message(a, "hello bob")).to_have_count(1, timeout=200)
    expect(message(b, "hello bob")).to_have_count(1, timeout=LIVE_MS)
    expect(message(a, "hello bob")).not_to_have_attribute("data-id", "", timeout=LIVE_MS)
    expect(message(a, "hello bob").locator(".author")).to_have_text("alice")
    assert_local_time(message(a, "hello bob"))
    assert_local_time(message(b, "hello bob"))
    expect(b.locator("#announcer")).to_contain_text("alice: hello bob")

    send(b, "hi alice\nhow are you?")
    expect(message(a, "how are you?")).to_have_count(1, timeout=LIVE_MS)
    expect(message(a, "how are you?").locator(".body")).to_have_text("hi alice\nhow are you?")
    expect(a.locator("#announcer")).to_contain_text("bob: hi alice")

    # Alice edits her message in place; Bob sees the new text and the mark live.
    mine = message(a, "hello bob")
    mine.hover()
    mine.get_by_role("button", name="Edit").click()
    editor = mine.get_by_role("textbox", name="Edit message")
    expect(editor).to_be_focused()
    editor.fill("hello bob, edited")
    editor.press("Enter")
    expect(mine.locator(".body")).to_have_text("hello bob, edited", timeout=LIVE_MS)
    theirs = message(b, "hello bob, edited")
    expect(theirs).to_have_count(1, timeout=LIVE_MS)
    expect(theirs.locator(".edited")).to_be_visible()
    expect(theirs.get_by_role("button", name="Edit")).to_have_count(0)  # not his message

    # Bob deletes his; Alice sees the tombstone live.
    own = message(b, "how are you?")
    own.hover()
    own.get_by_role("button", name="Delete").click()
    expect(message(a, "This message was deleted.")).to_have_count(1, timeout=LIVE_MS)
    expect(message(a, "how are you?")).to_have_count(0)
    expect(message(b, "This message was deleted.")).to_have_count(1, timeout=LIVE_MS)

    # Both pages hold exactly what the server holds, in order, once.
    server = [(str(m["id"]), m["body"] or "This message was deleted.") for m in history(alice)]
    assert shown(a) == server
    assert shown(b) == server
    assert browsing.dialogs == ["confirm: Delete this message?"]


def test_a_room_and_a_conversation_started_from_the_pages(browsing, server):
    """Sign up, create a room and chat with a second window, all through the pages."""
    first = browsing.context().new_page()
    first.goto("/accounts/signup/")
    first.get_by_label("Username").fill("dana")
    first.get_by_label("Password", exact=True).fill("a-long-passphrase-9")
    first.get_by_label("Password confirmation").fill("a-long-passphrase-9")
    first.get_by_role("button", name="Create account").click()
    expect(first.locator(".site-header")).to_contain_text("dana")
    first.wait_for_load_state()  # the lobby's script is running
    first.get_by_label("Name").fill("Book Club")
    expect(first.get_by_label("Address")).to_have_value("book-club")
    first.get_by_role("button", name="Create room").click()
    expect(first).to_have_url(f"{server.url}/rooms/book-club/")
    wait_live(first)

    second = browsing.context(width=360, height=740).new_page()
    second.goto("/accounts/signup/")
    second.get_by_label("Username").fill("eli")
    second.get_by_label("Password", exact=True).fill("a-long-passphrase-9")
    second.get_by_label("Password confirmation").fill("a-long-passphrase-9")
    second.get_by_role("button", name="Create account").click()
    second.get_by_role("link", name="Book Club").click()
    expect(second).to_have_url(f"{server.url}/rooms/book-club/")
    wait_live(second)  # a public room can be read before joining it
    expect(second.locator("#composer-input")).to_have_count(0)
    second.get_by_role("button", name="Join room").click()
    # Joining reloads the page, with the composer this time: wait for that page's stream.
    expect(second.locator("#composer-input")).to_be_visible()
    wait_live(second)

    send(second, "hello from eli")
    expect(message(first, "hello from eli")).to_have_count(1, timeout=LIVE_MS)
    send(first, "welcome eli")
    expect(message(second, "welcome eli")).to_have_count(1, timeout=LIVE_MS)

    # Log out from the header.
    first.get_by_role("button", name="Log out").click()
    expect(first).to_have_url(f"{server.url}/accounts/login/")
