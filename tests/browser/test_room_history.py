"""Older history arrives as you scroll up: every message once, in order, no gap."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import assert_local_time, history, make_room, post, shown, wait_live

pytestmark = pytest.mark.server

TOTAL = 137  # the page renders 50, then pages of 50 as you scroll up: 50 + 50 + 37


def test_scrolling_up_loads_every_older_message_once(browsing, user):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "general", bob)
    posted = [
        post(
            alice if i % 3 else bob, f"message {i:03d}" + ("\nwith a second line" if i % 7 else "")
        )
        for i in range(TOTAL)
    ]
    edited = post(alice, "to be edited")

    page = browsing.page_for(bob, "/rooms/general/", height=700)
    wait_live(page)
    history_requests: list[str] = []
    page.on("request", lambda r: history_requests.append(r.url) if "before=" in r.url else None)
    messages = page.locator("#messages > .message")
    expect(messages).to_have_count(50)
    assert page.locator("#history-start").is_hidden()
    # The newest message is in view: the page opens at the bottom.
    expect(messages.last).to_be_in_viewport()
    assert_local_time(messages.first)  # rendered by the server in UTC, shown in local time

    alice.patch(f"/rooms/general/messages/{edited['id']}/", json={"body": "edited, still last"})
    expect(messages.last.locator(".body")).to_have_text("edited, still last", timeout=2000)
    # An edit to a message not loaded yet must not put it on screen out of turn (that
    # would open a gap before it); it shows, edited, when its page loads.
    old, gone = posted[4]["id"], posted[5]["id"]  # alice's
    response = alice.patch(f"/rooms/general/messages/{old}/", json={"body": "old, edited"})
    assert response.status_code == 200
    assert alice.delete(f"/rooms/general/messages/{gone}/").status_code == 200
    page.wait_for_timeout(300)
    expect(messages).to_have_count(50)

    scroller = page.locator("#history")
    counts = [50]
    for _ in range(10):
        if page.locator("#history-start").is_visible():
            break
        top_id = messages.first.get_attribute("data-id")
        scroller.evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
        expect(messages.first).not_to_have_attribute("data-id", top_id or "", timeout=5000)
        counts.append(messages.count())
        # The message that was on top is still where the reader left it, not thrown away
        # to the bottom or to the top.
        assert scroller.evaluate("el => el.scrollTop") > 0
    expect(page.locator("#history-start")).to_be_visible()

    server = [(str(m["id"]), m["body"] or "This message was deleted.") for m in history(alice)]
    assert len(server) == TOTAL + 1
    assert shown(page) == server
    ids = [int(i) for i, _ in shown(page)]
    assert ids == sorted(set(ids))
    expect(page.locator(f"#messages > [data-id='{old}'] .edited")).to_be_visible()
    expect(page.locator(f"#messages > [data-id='{old}'] .body")).to_have_text("old, edited")
    expect(page.locator(f"#messages > [data-id='{gone}']")).to_have_class(
        re.compile(r"\bdeleted\b")
    )
    assert counts[-1] == TOTAL + 1 and len(counts) >= 3, counts
    assert len(history_requests) >= 2, history_requests
