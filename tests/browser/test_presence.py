"""Two people in one room see each other type, and who is here: the list drops one of them
soon after their tab closes (the server runs with short typing and presence times)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import make_room, message, wait_live
from tests.live import LiveDatabase, LiveServer

pytestmark = pytest.mark.server

TYPING_SHOWN_SECS = 4


@pytest.fixture
def server(live_database: LiveDatabase) -> Iterator[LiveServer]:
    live = LiveServer(
        live_database,
        CHAT_TYPING_SECONDS=str(TYPING_SHOWN_SECS),
        CHAT_TYPING_INTERVAL_SECONDS="1",
        CHAT_PRESENCE_HEARTBEAT_SECONDS="1",
        # Long enough that only the closing tab's goodbye can drop alice within the test's wait.
        CHAT_PRESENCE_TTL_SECONDS="30",
        CHAT_PRESENCE_GRACE_SECONDS="1",
    ).start()
    try:
        yield live
    finally:
        live.stop()


def test_two_people_see_each_other_type_and_come_and_go(browsing, user):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "general", bob)
    a = browsing.page_for(alice, "/rooms/general/")
    b = browsing.page_for(bob, "/rooms/general/")
    wait_live(a)
    wait_live(b)
    for page in (a, b):
        expect(page.get_by_role("list", name="Here now").get_by_role("listitem")).to_have_text(
            ["alice", "bob"], timeout=5000
        )

    # Alice types: Bob sees it, she does not see herself; it goes after a few seconds.
    a.locator("#composer-input").press_sequentially("hel")
    typing_line = b.locator("#typing")
    expect(typing_line).to_have_text("alice is typing…", timeout=3000)
    expect(typing_line).to_have_attribute("aria-live", "polite")
    expect(a.locator("#typing")).to_have_text("")
    expect(typing_line).to_have_text("", timeout=(TYPING_SHOWN_SECS + 2) * 1000)

    # She types again and sends: the line goes when her message arrives, not seconds later.
    a.locator("#composer-input").press_sequentially("lo there")
    expect(typing_line).to_have_text("alice is typing…", timeout=3000)
    a.locator("#composer-input").press("Enter")
    expect(message(b, "hello there")).to_have_count(1, timeout=3000)
    expect(typing_line).to_have_text("", timeout=1000)

    # Carol reads the public room without being a member: her page follows the room's own
    # stream, which brings the same events.
    carol = user("carol")
    c = browsing.page_for(carol, "/rooms/general/")
    wait_live(c)
    expect(c.get_by_role("list", name="Here now").get_by_role("listitem")).to_have_text(
        ["alice", "bob", "carol"], timeout=5000
    )
    b.locator("#composer-input").press_sequentially("hi")
    expect(c.locator("#typing")).to_have_text("bob is typing…", timeout=3000)

    # Alice closes her tab: Bob's list drops her within seconds; she was here recently.
    a.close()
    here = b.get_by_role("list", name="Here now").get_by_role("listitem")
    expect(here).to_have_text(["bob", "carol"], timeout=5000)
    expect(b.get_by_role("list", name="Recently").get_by_role("listitem")).to_have_text(["alice"])
