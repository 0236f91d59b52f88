"""Richer conversation (issue #17) between two browsers: formatted text, replies and
reactions reach the other person live, rendered, within a second.

alice formats, replies and reacts; bob watches, then reacts back by keyboard.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import history, make_room, message, post, send, wait_live

pytestmark = pytest.mark.server

LIVE_MS = 1000  # "appears within a second"


def test_a_code_block_a_reply_and_a_reaction_reach_the_other_person_live(browsing, user):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "general", bob)
    question = post(bob, "how do I **print**?")
    a = browsing.page_for(alice, "/rooms/general/")
    b = browsing.page_for(bob, "/rooms/general/")
    wait_live(a)
    wait_live(b)
    # The first render is the server's HTML: bold, no stars.
    expect(message(b, "how do I print?").locator(".body strong")).to_have_text("print")

    # alice answers bob's question with a reply holding a code block.
    asked = message(a, "how do I print?")
    asked.hover()
    asked.get_by_role("button", name="Reply to message").click()
    expect(a.locator("#reply-bar")).to_contain_text("bob")
    send(a, "like this:\n```\nprint('<b>hi</b>')\n```")
    answer = b.locator("#messages > .message").filter(has=b.locator("pre code"))
    expect(answer).to_have_count(1, timeout=LIVE_MS)
    expect(answer.locator("pre code")).to_have_text("print('<b>hi</b>')\n")
    expect(answer.locator("b")).to_have_count(0)  # the markup is text, not a tag
    quote = answer.locator(".reply-quote")
    expect(quote).to_be_visible()
    expect(quote).to_contain_text("how do I **print**?")
    assert quote.get_attribute("href") == f"?around={question['id']}"
    # The code block scrolls sideways instead of widening the page.
    overflow = answer.locator("pre").evaluate("e => getComputedStyle(e).overflowX")
    assert overflow == "auto"

    # alice reacts to the question with the picker; bob sees the chip at once.
    asked.hover()
    asked.get_by_role("button", name="React to message").click()
    a.locator("#emoji-picker").get_by_role("button", name="🎉").click()
    chip = message(b, "how do I print?").locator(".reaction", has_text="🎉")
    expect(chip).to_have_count(1, timeout=LIVE_MS)
    expect(chip).to_have_attribute("aria-pressed", "false")  # not bob's
    expect(chip).to_have_attribute("title", "alice")
    expect(chip.locator(".reaction-count")).to_have_text("1")

    # bob adds his by keyboard on the chip; alice sees the count and both names.
    chip.focus()
    b.keyboard.press("Enter")
    expect(chip).to_have_attribute("aria-pressed", "true", timeout=LIVE_MS)
    mine = message(a, "how do I print?").locator(".reaction", has_text="🎉")
    expect(mine.locator(".reaction-count")).to_have_text("2", timeout=LIVE_MS)
    expect(mine).to_have_attribute("title", "alice, bob")
    expect(mine).to_have_attribute("aria-pressed", "true")

    # bob deletes his question: alice's reply quotes it as deleted, live.
    mine_b = message(b, "how do I print?")
    mine_b.hover()
    mine_b.get_by_role("button", name="Delete").click()
    quoted = (
        a.locator("#messages > .message")
        .filter(has=a.locator("pre code"))
        .locator(".reply-excerpt")
    )
    expect(quoted).to_have_text("deleted", timeout=LIVE_MS)
    # What the pages show is what the server holds.
    server = history(alice)
    assert server[-1]["reply_to"]["deleted"] is True
    assert "print" not in (server[-1]["reply_to"]["excerpt"] or "")


def test_pins_and_the_topic_show_live_and_a_phone_keeps_the_actions_behind_one_button(
    browsing, user
):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "general", bob)
    post(bob, "house rules: be kind")
    a = browsing.page_for(alice, "/rooms/general/")
    b = browsing.page_for(
        bob, "/rooms/general/", width=390, height=844, is_mobile=True, has_touch=True
    )
    wait_live(a)
    wait_live(b)

    # alice (the owner) pins bob's message from its toolbar; bob's header lists it.
    rules = message(a, "house rules")
    rules.hover()
    rules.get_by_role("button", name="Pin message").click()
    expect(b.locator("#pins")).to_be_visible(timeout=LIVE_MS)
    expect(b.locator("#pins .pins-list")).to_contain_text("house rules: be kind")
    expect(message(b, "house rules").locator(".pin-mark")).to_be_visible()

    # The topic, set through the room's settings, shows in bob's header live, as text.
    assert (
        alice.post("/rooms/general/settings/", json={"topic": "<i>Be</i> nice"}).status_code == 200
    )
    expect(b.locator("#room-topic")).to_have_text("<i>Be</i> nice", timeout=LIVE_MS)

    # On bob's phone, Reply and React are one tap away; Edit waits behind "…".
    own = message(b, "house rules")
    expect(own.get_by_role("button", name="React to message")).to_be_visible()
    expect(own.get_by_role("button", name="Reply to message")).to_be_visible()
    expect(own.get_by_role("button", name="Edit message")).to_be_hidden()
    own.get_by_role("button", name="More actions").tap()
    expect(own.get_by_role("button", name="More actions")).to_have_attribute(
        "aria-expanded", "true"
    )
    expect(own.get_by_role("button", name="Edit message")).to_be_visible()
    own.get_by_role("button", name="Edit message").tap()
    expect(own.get_by_role("textbox", name="Edit message")).to_have_value("house rules: be kind")
    assert browsing.page_errors == []
