"""The pages at phone and desktop widths, light and dark: layout and contrast checks, and
screenshots in test-artifacts/ for a person to look at."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import make_room, message, post, send, wait_live

pytestmark = pytest.mark.server

SIZES = {"desktop": (1280, 800), "phone": (360, 740)}

# WCAG 2 contrast of each element's text colour on the background behind it.
CONTRAST = """
(selectors) => {
  const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = parse(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const selector of selectors) {
    for (const el of document.querySelectorAll(selector)) {
      if (!el.offsetParent && getComputedStyle(el).position !== "fixed") continue;
      const fg = parse(getComputedStyle(el).color).slice(0, 3);
      const [a, b] = [lum(fg), lum(background(el))].sort((x, y) => y - x);
      out.push([selector, Math.round(((a + 0.05) / (b + 0.05)) * 100) / 100]);
    }
  }
  return out;
}
"""
TEXT = [
    ".brand",
    ".whoami",
    ".site-header .link-button",
    ".room-header h1",
    ".room-sub span",
    ".room-sub a",
    ".conn",
    ".history-start",
    ".message .author",
    ".message .time",
    ".message .edited",
    ".message .body",
    ".message .body a",
    ".message .status",
    ".message.deleted .body",
    "button.primary",
    ".composer-hint",
    ".jump",
]


SIDEBAR_TEXT = [".sidebar-heading", ".sidebar-name", ".sidebar .help", ".new-dm label"]


def check_layout(page: Page) -> None:
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.evaluate("document.getElementById('history').scrollWidth") <= width
    expect(page.locator("#composer-input")).to_be_in_viewport()
    expect(page.get_by_role("button", name="Send")).to_be_in_viewport()
    expect(page.locator("#conn")).to_be_in_viewport()
    # The header stays one line high, and the composer a sensible height.
    assert page.locator(".site-header").bounding_box()["height"] < 64
    assert page.locator("#composer-input").bounding_box()["height"] < 60
    for selector, ratio in page.evaluate(CONTRAST, TEXT):
        assert ratio >= 4.5, f"{selector}: contrast {ratio} < 4.5"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_room_page_screens(browsing, user, artifacts, size, scheme):
    alice, bob, carol = user("alice"), user("bob"), user("carol-with-a-long-name")
    make_room(alice, "design-review", bob, carol, name="Design review")

    def say(client, body):
        return post(client, body, "design-review")

    for i in range(12):  # enough that the history scrolls at every size
        say([alice, bob, carol][i % 3], f"Earlier message {i + 1} about the agenda.")

    say(
        bob,
        "Morning! The mock-ups for the new onboarding are up: https://example.com/figma/onboarding-v3",
    )
    say(bob, "The second screen is the one with the sign-up form.")
    say(carol, "Thanks. I left a few comments on the second screen.\nThe copy feels long.")
    edited = say(alice, "Agreed, let's cut it to two sentences.")
    alice.patch(
        f"/rooms/design-review/messages/{edited['id']}/",
        json={"body": "Agreed, let's cut it to two sentences and keep the button label."},
    )
    gone = say(bob, "wrong room, sorry")
    bob.delete(f"/rooms/design-review/messages/{gone['id']}/")
    say(carol, "Averyveryverylongwordwithoutanyspacesthatmustwrapinsteadofoverflowingthepage" * 2)
    say(bob, "<b>not bold</b> and <script>alert(1)</script> as text")

    width, height = SIZES[size]
    phone = {"is_mobile": True, "has_touch": True} if size == "phone" else {}
    page = browsing.page_for(
        alice, "/rooms/design-review/", width=width, height=height, dark=scheme == "dark", **phone
    )
    wait_live(page)
    send(page, "Shipping it this afternoon.")
    expect(message(page, "Shipping it")).not_to_have_attribute("data-id", "", timeout=5000)
    say(bob, "🎉 great")
    expect(message(page, "great")).to_have_count(1, timeout=5000)
    expect(page.locator("#announcer")).to_have_text("bob: 🎉 great")
    # Bob's two messages in a row: the second does not repeat his name.
    expect(message(page, "The second screen is")).to_have_class(re.compile(r"\bcontinued\b"))
    expect(message(page, "Morning!")).not_to_have_class(re.compile(r"\bcontinued\b"))
    expect(message(page, "Thanks. I left")).not_to_have_class(re.compile(r"\bcontinued\b"))
    page.mouse.move(0, 0)
    check_layout(page)
    page.screenshot(path=artifacts / f"room-{size}-{scheme}.png")

    # Scrolled up, a new message shows the jump button instead of moving the view.
    page.locator("#history").evaluate("el => { el.scrollTop = 0; }")
    say(bob, "one more thing")
    expect(page.get_by_role("button", name="New messages")).to_be_visible(timeout=5000)
    assert page.locator("#history").evaluate("el => el.scrollTop") == 0
    check_layout(page)
    page.screenshot(path=artifacts / f"room-{size}-{scheme}-scrolled-up.png")
    page.get_by_role("button", name="New messages").click()
    expect(message(page, "one more thing")).to_be_in_viewport()
    expect(page.get_by_role("button", name="New messages")).to_be_hidden()

    # The sidebar: a column beside the room on a desktop, a drawer on a phone.
    if size == "phone":
        page.get_by_role("button", name="Rooms and direct messages").click()
    sidebar = page.locator("#sidebar")
    expect(sidebar).to_be_in_viewport()
    expect(sidebar.locator("a[aria-current=page] .sidebar-name")).to_have_text("Design review")
    for selector, ratio in page.evaluate(CONTRAST, SIDEBAR_TEXT):
        assert ratio >= 4.5, f"{selector}: contrast {ratio} < 4.5"
    page.screenshot(path=artifacts / f"room-{size}-{scheme}-sidebar.png")
    if size == "phone":
        page.keyboard.press("Escape")
        expect(sidebar).to_be_hidden()

    # The other pages, for the eye.
    for name, path in [("lobby", "/"), ("members", "/rooms/design-review/people/")]:
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=artifacts / f"{name}-{size}-{scheme}.png", full_page=True)
    anonymous = browsing.context(width=width, height=height, dark=scheme == "dark").new_page()
    anonymous.goto("/accounts/signup/")
    assert anonymous.evaluate("document.documentElement.scrollWidth") <= width
    anonymous.screenshot(path=artifacts / f"signup-{size}-{scheme}.png", full_page=True)
