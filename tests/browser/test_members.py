"""The members page: the owner adds people to a private room; a member leaves."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import make_room, message, post, wait_live

pytestmark = pytest.mark.server


def test_the_owner_adds_someone_to_a_private_room_who_then_leaves(browsing, user, server):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "plans", private=True)
    post(alice, "secret plans", "plans")
    assert bob.get("/rooms/plans/").status_code == 404

    owner = browsing.page_for(alice, "/rooms/plans/")
    wait_live(owner)
    owner.get_by_role("link", name="Members").click()
    expect(owner).to_have_url(f"{server.url}/rooms/plans/people/")
    owner.wait_for_load_state()  # the page's script is running
    expect(owner.get_by_role("heading", name="Members of Plans")).to_be_visible()
    owner.get_by_label("Add someone by username").fill("nobody-by-that-name")
    owner.get_by_role("button", name="Add member").click()
    expect(owner.get_by_role("alert")).to_have_text("no such user")
    owner.get_by_label("Add someone by username").fill("bob")
    owner.get_by_role("button", name="Add member").click()
    expect(owner.locator(".member-list")).to_contain_text("bob")

    guest = browsing.page_for(bob, "/")
    guest.get_by_role("link", name="Plans").click()
    wait_live(guest)
    expect(message(guest, "secret plans")).to_have_count(1)
    guest.get_by_role("link", name="Members").click()
    expect(guest).to_have_url(f"{server.url}/rooms/plans/people/")
    guest.wait_for_load_state()
    expect(guest.get_by_role("button", name="Add member")).to_have_count(0)
    guest.get_by_role("button", name="Leave this room").click()
    expect(guest).to_have_url(f"{server.url}/")
    expect(guest.get_by_role("link", name="Plans")).to_have_count(0)
    assert bob.get("/rooms/plans/").status_code == 404
