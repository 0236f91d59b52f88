"""The room's moderation page, used with the keyboard only: every power of a room's owner,
its effect on the open pages of the people concerned, and errors said plainly.

alice owns the private room "general"; bob and carol are in it; dave moderates it.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import make_room, wait_live

pytestmark = pytest.mark.server

LIVE_MS = 5_000


def tab_to(page: Page, target, limit: int = 40) -> None:  # type: ignore[no-untyped-def]
    """Press Tab until `target` has the focus, as a keyboard user would."""
    for _ in range(limit):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {target}")


def test_the_owner_moderates_the_room_from_its_page_with_the_keyboard(browsing, user, artifacts):
    alice, bob, carol, dave = user("alice"), user("bob"), user("carol"), user("dave")
    make_room(alice, "general", private=True)
    for name in ("bob", "carol", "dave"):
        assert alice.post("/rooms/general/members/", json={"username": name}).status_code == 201
    named = alice.post("/rooms/general/moderators/", json={"username": "dave"})
    assert named.status_code == 200

    bobs = browsing.page_for(bob, "/rooms/general/")
    carols = browsing.page_for(carol, "/rooms/general/")
    wait_live(bobs)
    wait_live(carols)

    # From the room page to the moderation page: its link is in the room's header.
    page = browsing.page_for(alice, "/rooms/general/")
    wait_live(page)
    link = page.get_by_role("link", name="Moderation")
    tab_to(page, link)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/rooms/general/moderation/$"))
    expect(page.get_by_role("heading", name="Moderation of General")).to_be_visible()
    status = page.locator("#moderation-status")
    restrictions = page.locator("#restrictions")

    # Mute bob for ten minutes: type, pick with the arrows, Enter submits.
    username = page.get_by_label("Username")
    tab_to(page, username)
    page.keyboard.type("bob")
    page.keyboard.press("Tab")  # the chosen "what": mute
    expect(page.get_by_label("Mute: can read, cannot post")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("For how many minutes")).to_be_focused()
    page.keyboard.type("10")
    page.keyboard.press("Tab")
    page.keyboard.type("spamming links")
    page.keyboard.press("Enter")
    expect(status).to_contain_text("bob is muted until")
    muted = restrictions.locator(".restriction", has_text="bob")
    expect(muted).to_contain_text("muted")
    expect(muted).to_contain_text("until")
    expect(muted).to_contain_text("“spamming links”")
    expect(muted).to_contain_text("by alice")
    expect(username).to_be_focused()  # ready for the next one
    # On bob's open page, at once.
    expect(bobs.locator("#room-notice")).to_contain_text("you are muted", timeout=LIVE_MS)
    expect(bobs.locator("#composer-input")).to_be_disabled()

    # An error says what is wrong, where it happened.
    page.keyboard.type("nobody")
    page.keyboard.press("Enter")
    expect(page.locator("#restrict-error")).to_have_text("Not done: no such user.")
    username.fill("")

    # Lift the mute from the list of current ones.
    lift = page.get_by_role("button", name="Lift the mute of bob")
    tab_to(page, lift)
    page.keyboard.press("Enter")
    expect(status).to_have_text("The mute of bob is lifted.")
    expect(restrictions.locator(".restriction")).to_have_count(0)
    expect(page.locator("#no-restrictions")).to_be_visible()
    expect(page.get_by_role("heading", name="Mutes and bans")).to_be_focused()
    expect(bobs.locator("#composer-input")).to_be_enabled(timeout=LIVE_MS)

    # Settings: lock the room with the space bar, set slow mode, Enter saves.
    locked = page.get_by_label("Locked: only moderators can post")
    tab_to(page, locked)
    page.keyboard.press("Space")
    expect(locked).to_be_checked()
    slow = page.get_by_label("Slow mode: seconds between two posts by one person")
    tab_to(page, slow)
    page.keyboard.press("Control+A")
    page.keyboard.type("99999")
    page.keyboard.press("Enter")
    expect(page.locator("#settings-error")).to_have_text(
        "Not done: slow_mode_seconds must be an integer from 0 to 21600."
    )
    page.keyboard.press("Control+A")
    page.keyboard.type("30")
    page.keyboard.press("Enter")
    expect(status).to_have_text("Settings saved: locked, not archived, slow mode 30 s.")
    expect(bobs.locator("#room-notice")).to_have_text(
        "This room is locked: only moderators can post.", timeout=LIVE_MS
    )
    expect(bobs.locator("#composer-input")).to_be_disabled()

    # Name bob a moderator.
    members = page.locator("#members")
    make = page.get_by_role("button", name="Make moderator: bob")
    tab_to(page, make)
    page.keyboard.press("Enter")
    expect(status).to_have_text("bob is now a moderator of this room.")
    expect(members.locator('.member[data-username="bob"] .role')).to_have_text("moderator")
    expect(page.get_by_role("button", name="Remove moderator: bob")).to_be_focused()
    # A moderator may post in a locked room: bob's composer works again.
    expect(bobs.locator("#composer-input")).to_be_enabled(timeout=LIVE_MS)

    # Another moderator bans carol elsewhere: the list follows without a reload.
    banned = dave.post("/rooms/general/ban/", json={"username": "carol", "minutes": 60})
    assert banned.status_code == 200, banned.text
    expect(restrictions.locator(".restriction", has_text="carol")).to_contain_text(
        "banned", timeout=LIVE_MS
    )
    expect(carols.locator("#conn")).to_have_attribute("data-state", "closed", timeout=LIVE_MS)
    unbanned = dave.post("/rooms/general/unban/", json={"username": "carol"})
    assert unbanned.status_code == 200
    expect(restrictions.locator(".restriction")).to_have_count(0, timeout=LIVE_MS)

    # Remove carol from the private room (after a confirmation).
    carols = browsing.page_for(carol, "/rooms/general/")
    wait_live(carols)
    remove = page.get_by_role("button", name="Remove from room: carol")
    tab_to(page, remove)
    page.keyboard.press("Enter")
    expect(status).to_have_text("carol was removed from the room.")
    expect(members.locator('.member[data-username="carol"]')).to_have_count(0)
    expect(carols.locator("#conn")).to_have_attribute("data-state", "closed", timeout=LIVE_MS)
    assert "confirm: Remove carol from this room?" in browsing.dialogs
    assert carol.get("/rooms/general/messages/").status_code == 404
    page.screenshot(path=artifacts / "moderation-desktop-light.png", full_page=True)

    # The owner's own row has no buttons; the recent moderation log shows what was done.
    expect(members.locator('.member[data-username="alice"] button:visible')).to_have_count(0)
    page.reload()
    log = page.locator(".moderation-log")
    expect(log).to_contain_text("alice remove member carol")
    expect(log).to_contain_text("dave ban carol")
    expect(log).to_contain_text("alice mute bob “spamming links”")


def test_a_member_who_does_not_moderate_gets_no_page(browsing, user):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "general", bob)
    page = browsing.page_for(bob, "/rooms/general/")
    wait_live(page)
    expect(page.get_by_role("link", name="Moderation")).to_have_count(0)
    response = page.goto("/rooms/general/moderation/")
    assert response is not None and response.status == 403


def test_the_moderation_page_fits_a_phone(browsing, user, artifacts):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "general", bob)
    alice.post("/rooms/general/mute/", json={"username": "bob", "minutes": 90, "reason": "x" * 80})
    for scheme in ("light", "dark"):
        page = browsing.page_for(
            alice, "/rooms/general/moderation/", width=360, height=740, dark=scheme == "dark"
        )
        expect(page.locator(".restriction")).to_have_count(1)
        page.screenshot(path=artifacts / f"moderation-phone-{scheme}.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
