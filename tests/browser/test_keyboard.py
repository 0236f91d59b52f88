"""The keyboard alone: log in, open a room, send, edit and delete a message."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import history, make_room, message, wait_live

pytestmark = pytest.mark.server


def tab_to(page: Page, selector: str, limit: int = 40, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until the element matching `selector` has the focus."""
    for _ in range(limit):
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
    raise AssertionError(f"{selector} never got the focus in {limit} presses of Tab")


def test_the_keyboard_alone_logs_in_opens_a_room_and_sends(browsing, user, server):
    alice, bob = user("alice"), user("bob")
    make_room(bob, "general")
    make_room(bob, "random")
    page = browsing.context().new_page()
    page.goto("/accounts/login/")

    keys = page.keyboard
    tab_to(page, "#id_username")
    keys.type("alice")
    keys.press("Tab")
    keys.type("a-long-passphrase-9")
    keys.press("Enter")
    expect(page).to_have_url(f"{server.url}/")
    expect(page.locator(".whoami")).to_contain_text("alice")
    page.wait_for_load_state()  # the lobby's script is running

    keys.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    # Alice is in no room yet: join "general" from the list of public rooms.
    tab_to(page, "[data-join=general]")
    keys.press("Enter")
    expect(page).to_have_url(f"{server.url}/rooms/general/")
    wait_live(page)

    tab_to(page, "#composer-input")
    keys.type("typed")
    keys.press("Shift+Enter")
    keys.type("on two lines")
    keys.press("Enter")
    expect(message(page, "on two lines")).not_to_have_attribute("data-id", "", timeout=5000)
    sent_id = message(page, "on two lines").get_attribute("data-id")
    sent = page.locator(f"#messages > [data-id='{sent_id}']")
    expect(sent.locator(".body")).to_have_text("typed\non two lines")
    expect(page.locator("#composer-input")).to_have_value("")
    expect(page.locator("#composer-input")).to_be_focused()

    # Edit it: its Edit button is reachable by Tab.
    tab_to(page, f"#messages > [data-id='{sent_id}'] .edit", backwards=True)
    expect(sent.locator(".actions")).to_have_css("opacity", "1")  # visible when focused
    keys.press("Enter")
    expect(sent.get_by_role("textbox", name="Edit message")).to_be_focused()
    keys.press("Control+A")
    keys.type("typed, then edited")
    keys.press("Enter")
    expect(sent.locator(".body")).to_have_text("typed, then edited", timeout=5000)
    expect(sent.locator(".edited")).to_be_visible()
    expect(sent.locator(".edit")).to_be_focused()  # the focus is not lost

    # Escape leaves the editor without saving.
    keys.press("Enter")
    keys.type(" and more")
    keys.press("Escape")
    expect(sent.locator(".body")).to_have_text("typed, then edited")
    expect(sent.locator(".edit")).to_be_focused()

    keys.press("Tab")
    expect(sent.locator(".delete")).to_be_focused()
    keys.press("Enter")  # the confirmation is accepted by the test's dialog handler
    expect(sent.locator(".body")).to_have_text("This message was deleted.", timeout=5000)
    assert [m["deleted"] for m in history(alice)] == [True]
    assert browsing.dialogs == ["confirm: Delete this message?"]
