"""The sidebar as a drawer on a phone, by keyboard; counts past 999; and a browser without
SharedWorker, where each tab keeps a user stream of its own.

alice reads; bob writes.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Route, expect

from tests.browser.helpers import make_room, message, post, wait_live

pytestmark = pytest.mark.server

PHONE = {"width": 360, "height": 740, "is_mobile": True, "has_touch": True}


def test_on_a_phone_the_sidebar_is_a_drawer_the_keyboard_opens_and_closes(browsing, user):
    alice, bob = user("alice"), user("bob")
    make_room(bob, "general", alice)
    make_room(bob, "random", alice)
    post(bob, "news", "random")
    page = browsing.page_for(alice, "/rooms/general/", **PHONE)
    wait_live(page)
    toggle = page.get_by_role("button", name="Rooms and direct messages")
    sidebar = page.get_by_role("navigation", name="Your rooms and direct messages")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(sidebar).to_be_hidden()
    expect(toggle.locator(".unread-count")).to_have_text("1")  # random's news, on the toggle

    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(sidebar).to_be_in_viewport()
    expect(sidebar.get_by_role("link", name="General")).to_be_focused()
    expect(sidebar.get_by_role("link", name="General")).to_have_attribute("aria-current", "page")
    page.keyboard.press("Escape")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_be_focused()
    expect(sidebar).to_be_hidden()

    toggle.click()
    sidebar.get_by_role("link", name=re.compile("^Random")).click()
    expect(page).to_have_url(re.compile("/rooms/random/$"))
    expect(message(page, "news")).to_have_count(1)
    expect(page.locator("#sidebar-toggle .unread-count")).to_be_hidden()


def test_counts_past_999_show_as_999_plus(browsing, user):
    alice, bob = user("alice"), user("bob")
    make_room(bob, "general", alice)
    make_room(bob, "busy", alice)

    def many_unread(route: Route) -> None:
        # The server counts up to 1000 unread messages a room: pretend busy has that many.
        response = route.fetch()
        rooms = response.json()
        for room in rooms["rooms"]:
            if room["slug"] == "busy":
                room["unread"] = 1000
        route.fulfill(response=response, body=json.dumps(rooms))

    context = browsing.context()
    context.add_cookies(
        [{"name": n, "value": v, "url": browsing.server.url} for n, v in alice.cookies.items()]
    )
    context.route(re.compile(r".*/rooms/$"), many_unread)
    page = context.new_page()
    page.goto("/rooms/general/")
    busy = page.locator("#sidebar a[data-slug=busy]")
    expect(busy.locator(".unread-number")).to_have_text("999+")
    expect(page).to_have_title("(999+) General · Chat")
    post(bob, "one more", "busy")  # still "999+"
    expect(busy).to_have_attribute("data-latest", re.compile(r"^[1-9]"))
    expect(busy.locator(".unread-number")).to_have_text("999+")


def test_without_shared_workers_each_tab_has_a_stream_of_its_own(browsing, user, server):
    alice, bob = user("alice"), user("bob")
    make_room(bob, "general", alice)
    make_room(bob, "random", alice)
    context = browsing.context()
    context.add_init_script("delete window.SharedWorker;")
    context.add_cookies(
        [{"name": n, "value": v, "url": server.url} for n, v in alice.cookies.items()]
    )
    room, lobby = context.new_page(), context.new_page()
    room.goto("/rooms/general/")
    lobby.goto("/")
    wait_live(room)
    expect(lobby.locator("#sidebar a[data-slug]")).to_have_count(2)
    post(bob, "in general", "general")
    post(bob, "in random", "random")
    expect(message(room, "in general")).to_have_count(1)
    for tab in (room, lobby):
        expect(tab.locator("#sidebar a[data-slug=random] .unread-number")).to_have_text("1")


def test_rooms_joined_and_lost_come_and_go_live_and_a_lost_room_says_no_access(
    browsing, user, server
):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "plans", private=True, name="Plans")
    assert alice.post("/rooms/plans/members/", json={"username": "bob"}).status_code == 201
    make_room(alice, "general", name="General")
    context = browsing.context()
    context.add_cookies(
        [{"name": n, "value": v, "url": server.url} for n, v in bob.cookies.items()]
    )
    room, lobby = context.new_page(), context.new_page()
    room.goto("/rooms/plans/")
    lobby.goto("/")
    wait_live(room)
    for tab in (room, lobby):
        expect(tab.locator("#sidebar a[data-slug]")).to_have_count(1)

    assert bob.post("/rooms/general/join/").status_code == 201  # from elsewhere
    for tab in (room, lobby):
        expect(tab.locator("#sidebar a[data-slug=general] .sidebar-name")).to_have_text("General")

    # The owner takes bob out of the private room: its page says so, and it leaves his lists.
    assert alice.delete("/rooms/plans/members/bob/").status_code == 200
    expect(room.locator("#conn")).to_have_attribute("data-state", "closed")
    expect(room.locator("#conn")).to_have_text("No access")
    expect(room.locator("#composer-input")).to_be_disabled()
    for tab in (room, lobby):
        expect(tab.locator("#sidebar a[data-slug=plans]")).to_have_count(0)
        expect(tab.locator("#sidebar a[data-slug=general]")).to_have_count(1)
