"""Search from the header ("/"), read the results, open one: the room opens at that
message, with history on both sides, older and newer pages as one scrolls, and live
messages wait until one is back at the present."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import make_room, post, send, shown, wait_live

pytestmark = pytest.mark.server


def test_a_result_opens_its_room_at_that_message(browsing, user):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "general", bob)
    make_room(alice, "hideout", private=True)
    posted = [post(alice, f"message {i:03d}") for i in range(120)]
    target = post(bob, "where is the <b>treasure</b> map?")
    later = [post(alice, f"later {i:03d}") for i in range(80)]
    post(alice, "treasure in the hideout", slug="hideout")  # bob cannot read it

    page = browsing.page_for(bob, "/", height=700)
    page.keyboard.press("/")
    expect(page.locator("#header-search-input")).to_be_focused()
    page.keyboard.type("treasure")
    page.keyboard.press("Enter")

    results = page.locator(".search-result")
    expect(results).to_have_count(1)
    expect(results.locator(".snippet mark")).to_have_text("treasure")
    # The message's markup is text: no <b> element came out of it.
    expect(results.locator(".snippet")).to_have_text("where is the <b>treasure</b> map?")
    assert results.locator(".snippet b").count() == 0
    expect(results.locator(".author")).to_have_text("bob")
    expect(results.locator(".room-name")).to_have_text("General")

    results.locator("a").click()
    expect(page).to_have_url(re.compile(rf"/rooms/general/\?around={target['id']}$"))
    wait_live(page)
    found = page.locator(f"#messages > .message[data-id='{target['id']}']")
    expect(found).to_have_class(re.compile(r"\bfound\b"))
    expect(found).to_be_in_viewport()
    ids = [int(i) for i, _ in shown(page)]
    assert ids[0] < target["id"] < ids[-1]

    # A live message while an older part is shown: not put after a gap; offered instead.
    post(alice, "live while reading the past")
    expect(page.locator("#jump")).to_be_visible()
    page.wait_for_timeout(300)
    assert "live while reading the past" not in [body for _, body in shown(page)]

    # Scrolling down loads the newer pages, up to the present, with no gap.
    scroller = page.locator("#history")
    for _ in range(10):
        scroller.evaluate(
            "el => { el.scrollTop = el.scrollHeight; el.dispatchEvent(new Event('scroll')); }"
        )
        page.wait_for_timeout(200)
        if page.locator("#messages > .message").last.locator(".body").text_content() == (
            "live while reading the past"
        ):
            break
    shown_ids = [int(i) for i, _ in shown(page)]
    expected = [m["id"] for m in [*posted, target, *later]]
    assert shown_ids == sorted(set(shown_ids))
    assert [i for i in expected if i >= shown_ids[0]] == shown_ids[:-1]

    # At the present, live messages go at the end again; posting works.
    send(page, "back in the present")
    expect(page.locator("#messages > .message").last.locator(".body")).to_have_text(
        "back in the present"
    )


def test_the_jump_button_and_a_post_bring_the_present(browsing, user):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "general", bob)
    first = post(alice, "needle in the haystack")
    for i in range(150):
        post(alice, f"hay {i:03d}")

    page = browsing.page_for(bob, "/search/?q=needle", height=700)
    page.locator(".search-result a").click()
    wait_live(page)
    expect(page.locator(f"#messages > .message[data-id='{first['id']}']")).to_be_in_viewport()
    page.locator("#jump").click()
    expect(page.locator("#messages > .message").last.locator(".body")).to_have_text("hay 149")
    expect(page).to_have_url(re.compile(r"/rooms/general/$"))
