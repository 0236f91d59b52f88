"""Two people: alice writes in three rooms and a DM while bob reads another room. Bob's
sidebar counts her messages live in both his tabs, each room opens with the "New
messages" line where he left off, and reading a room in one tab clears its bold in the
other.

alice writes, in her browser and through the API; bob reads, in two tabs of one browser.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.helpers import make_room, message, post, send, wait_live

pytestmark = pytest.mark.server

LIVE_MS = 1000
# A read reaches the other tabs later than a post: the page waits 300 ms for a burst of
# scrolling or messages to settle (room/reading.js), then posts it, then the user stream.
READ_MS = 3000
UNREAD = re.compile(r"\bunread\b")


def link(page: Page, name: str) -> Locator:
    return page.locator("#sidebar .sidebar-link").filter(
        has=page.locator(".sidebar-name", has_text=re.compile(f"^{re.escape(name)}$"))
    )


def expect_count(page: Page, name: str, count: int) -> None:
    if count:
        expect(link(page, name)).to_have_class(UNREAD, timeout=LIVE_MS)
        expect(link(page, name).locator(".unread-number")).to_have_text(str(count), timeout=LIVE_MS)
    else:
        expect(link(page, name)).not_to_have_class(UNREAD, timeout=READ_MS)
        expect(link(page, name).locator(".unread-count")).to_be_hidden()


def around_divider(page: Page) -> list[str]:
    """The texts of the messages just before and just after the "New messages" line."""
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('#messages > .unread-divider')].flatMap(d => [
                d.previousElementSibling?.querySelector('.body').textContent ?? null,
                d.nextElementSibling?.querySelector('.body').textContent ?? null,
            ])"""
        )
    )


def test_bobs_sidebar_counts_alices_news_live_and_reading_clears_it_everywhere(
    browsing, user, server
):
    alice, bob = user("alice"), user("bob")
    # What was written before bob joined is not news to him.
    for slug, name in [("lounge", "Lounge"), ("plans", "Plans"), ("design", "Design")]:
        make_room(alice, slug, name=name)
        post(alice, f"before bob came to {slug}", slug)
        assert bob.post(f"/rooms/{slug}/join/").status_code == 201
    make_room(alice, "ops", bob, name="Ops")
    post(bob, "bob's own word on ops", "ops")  # his own: never unread

    context = browsing.context()
    context.add_cookies(
        [{"name": n, "value": v, "url": server.url} for n, v in bob.cookies.items()]
    )
    reader = context.new_page()  # bob reads the lounge
    reader.goto("/rooms/lounge/")
    lobby = context.new_page()  # and has the lobby open beside it
    lobby.goto("/")
    wait_live(reader)
    for tab in (reader, lobby):
        expect(tab.locator("#sidebar .sidebar-link")).to_have_count(4)
        expect(tab.locator("#sidebar-dms-empty")).to_be_visible()
    expect(link(reader, "Lounge")).to_have_attribute("aria-current", "page")
    expect(reader).to_have_title("Lounge · Chat")

    # Alice writes: in plans from her page, in design and ops through the API...
    writer = browsing.page_for(alice, "/rooms/plans/")
    wait_live(writer)
    send(writer, "plans: first")
    send(writer, "plans: second")
    expect(message(writer, "plans: second")).not_to_have_attribute("data-id", "")
    for i in range(3):
        post(alice, f"design: {i + 1}", "design")
    post(alice, "ops: one", "ops")
    for tab in (reader, lobby):
        expect_count(tab, "Plans", 2)
        expect_count(tab, "Design", 3)
        expect_count(tab, "Ops", 1)
        expect_count(tab, "Lounge", 0)
    # ... and opens a conversation with bob from her sidebar.
    writer.get_by_label("New message").fill("bob")
    writer.get_by_role("button", name="Start conversation").click()
    expect(writer).to_have_url(re.compile(r"/rooms/[^/]+/$"))
    expect(link(writer, "bob")).to_have_attribute("aria-current", "page")
    expect(writer.locator("#room-title")).to_have_text("bob")  # named by the other person
    wait_live(writer)
    send(writer, "dm: hi bob")
    send(writer, "dm: got a minute?")
    expect(message(writer, "dm: got a minute?")).not_to_have_attribute("data-id", "")
    # Her own messages are never unread to her; bob's one in ops is.
    for name in ("Plans", "Design", "bob"):
        expect_count(writer, name, 0)
    expect_count(writer, "Ops", 1)

    # Bob's tabs got the new conversation, named after her, with its count; the titles
    # add up everything unread.
    for tab in (reader, lobby):
        expect_count(tab, "alice", 2)
        expect(tab.locator("#sidebar-dms-empty")).to_be_hidden()
    expect(reader).to_have_title("(8) Lounge · Chat")
    expect(lobby).to_have_title("(8) Rooms · Chat")

    # Bob opens each room in his first tab: the line is where he left off, the room is read
    # (the tab is visible, the history at its end), and his other tab stops showing it bold.
    opened = [
        ("Plans", "before bob came to plans", "plans: first", 6),
        ("Design", "before bob came to design", "design: 1", 3),
        ("Ops", "bob's own word on ops", "ops: one", 2),
        ("alice", None, "dm: hi bob", 0),
    ]
    for name, before, after, left in opened:
        expect(link(lobby, name)).to_have_class(UNREAD)
        link(reader, name).click()
        expect(link(reader, name)).to_have_attribute("aria-current", "page")
        expect(reader.locator("#messages > .unread-divider")).to_have_text("New messages")
        assert around_divider(reader) == [before, after]
        expect_count(lobby, name, 0)
        expect_count(reader, name, 0)
        expect(lobby).to_have_title(f"({left}) Rooms · Chat" if left else "Rooms · Chat")

    expect(reader.locator("#room-title")).to_have_text("alice")
    expect(reader).to_have_title("alice · Chat")

    # The line stays while bob is in the room, however much more comes.
    dm_slug = writer.url.rstrip("/").rsplit("/", 1)[1]
    post(alice, "dm: one more thing", dm_slug)
    expect(message(reader, "dm: one more thing")).to_have_count(1, timeout=LIVE_MS)
    assert around_divider(reader) == [None, "dm: hi bob"]
    expect_count(lobby, "alice", 0)  # read in the tab that shows it


# The tab's visibility as the test says (window.__hidden), for document.visibilityState.
VISIBILITY = """
Object.defineProperty(document, "visibilityState", {
  configurable: true, get: () => (window.__hidden ? "hidden" : "visible"),
});
"""


def set_hidden(page: Page, hidden: bool) -> None:
    page.evaluate(
        """hidden => {
            window.__hidden = hidden;
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        hidden,
    )


def test_a_room_is_read_only_while_its_tab_is_visible_and_at_the_end(browsing, user, server):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "plans", bob, name="Plans")
    for i in range(30):  # enough that the history scrolls
        post(alice, f"earlier {i}\n" * 3, "plans")
    context = browsing.context()
    context.add_init_script(VISIBILITY)
    context.add_cookies(
        [{"name": n, "value": v, "url": server.url} for n, v in bob.cookies.items()]
    )
    room, lobby = context.new_page(), context.new_page()
    room.goto("/rooms/plans/")
    lobby.goto("/")
    wait_live(room)
    expect_count(lobby, "Plans", 0)  # read on opening: visible, at the end

    # A hidden tab does not read what comes.
    set_hidden(room, True)
    post(alice, "while bob looks away", "plans")
    expect(message(room, "while bob looks away")).to_have_count(1, timeout=LIVE_MS)
    expect_count(lobby, "Plans", 1)
    expect_count(room, "Plans", 1)
    room.wait_for_timeout(2500)  # longer than the page's periodic look
    expect_count(lobby, "Plans", 1)
    set_hidden(room, False)
    expect_count(lobby, "Plans", 0)
    expect_count(room, "Plans", 0)

    # Scrolled up, neither: the jump to the end reads it.
    room.locator("#history").evaluate("el => { el.scrollTop = 0; }")
    post(alice, "while bob reads back", "plans")
    expect(room.get_by_role("button", name="New messages")).to_be_visible(timeout=LIVE_MS)
    expect_count(lobby, "Plans", 1)
    room.wait_for_timeout(2500)
    expect_count(lobby, "Plans", 1)
    room.get_by_role("button", name="New messages").click()
    expect_count(lobby, "Plans", 0)
