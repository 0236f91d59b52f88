"""One person with eight tabs of the site open in one browser: the tabs share one user
stream (a shared worker holds it; a browser opens at most 6 connections to a site over
HTTP/1.1), and every tab is live.

alice has the tabs; bob writes in their rooms and their DM.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.helpers import make_room, message, post, wait_live

pytestmark = pytest.mark.server

LIVE_SECS = 1.0  # "appears in every tab within a second"
ROOMS = ["north", "south", "east", "west", "attic"]
OPEN_IN_TABS = ROOMS[:4]  # four tabs show a room each, four the lobby; the attic is open nowhere


def sidebar_link(page: Page, slug: str) -> Locator:
    return page.locator(f"#sidebar a[data-slug='{slug}']")


def open_streams(server_url: str) -> int:
    """The event streams the server holds open, from its metrics."""
    text = httpx.get(f"{server_url}/metrics", timeout=5).text
    match = re.search(r"^chat_streams_open(?:\{[^}]*\})? (\S+)$", text, re.MULTILINE)
    assert match, text
    return int(float(match.group(1)))


def test_eight_tabs_of_one_person_are_all_live_on_one_stream(browsing, user, server):
    alice, bob = user("alice"), user("bob")
    for slug in ROOMS:
        make_room(bob, slug, alice)
    dm = bob.post("/dms/", json={"usernames": ["alice"]})
    assert dm.status_code == 201, dm.text
    dm_slug = dm.json()["slug"]

    context = browsing.context()
    context.add_cookies(
        [{"name": n, "value": v, "url": server.url} for n, v in alice.cookies.items()]
    )
    paths = [f"/rooms/{slug}/" for slug in OPEN_IN_TABS] + ["/"] * 4
    tabs: list[Page] = []
    for path in paths:
        tab = context.new_page()
        tab.goto(path)
        tabs.append(tab)
    for tab, path in zip(tabs, paths, strict=True):
        expect(tab.locator("#sidebar a[data-slug]")).to_have_count(len(ROOMS) + 1)
        expect(sidebar_link(tab, dm_slug)).to_have_text(re.compile("^bob"))
        if path != "/":
            wait_live(tab)
    # Eight tabs, one stream (the shared worker's): a stream per tab would leave the 7th
    # hanging, over HTTP/1.1.
    assert open_streams(server.url) == 1

    for slug in [*ROOMS, dm_slug]:
        body = f"news in {slug}"
        sent = post(bob, body, slug)
        started = time.monotonic()
        for tab, path in zip(tabs, paths, strict=True):
            if path == f"/rooms/{slug}/":
                expect(message(tab, body)).to_have_count(1, timeout=LIVE_SECS * 1000)
            else:
                expect(sidebar_link(tab, slug)).to_have_attribute(
                    "data-latest", str(sent["id"]), timeout=LIVE_SECS * 1000
                )
        elapsed = time.monotonic() - started
        assert elapsed < LIVE_SECS, f"{slug}: every tab knew after {elapsed:.2f}s"

    # The rooms open in a tab were read there (each tab is visible, at the bottom); the
    # attic and the DM were not: every tab says so, and counts them in its title.
    for tab in tabs:
        for slug in (ROOMS[4], dm_slug):
            expect(sidebar_link(tab, slug)).to_have_class(re.compile(r"\bunread\b"))
            expect(sidebar_link(tab, slug).locator(".unread-number")).to_have_text("1")
        for slug in OPEN_IN_TABS:
            expect(sidebar_link(tab, slug)).not_to_have_class(re.compile(r"\bunread\b"))
        expect(tab).to_have_title(re.compile(r"^\(2\) "))
