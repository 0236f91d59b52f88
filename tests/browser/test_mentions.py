"""Mentions in the browser: alice picks bob from the composer's `@` suggestions and sends;
bob, whose tab is hidden and who turned desktop notifications on, gets a notification with
the text, sees the mention count in his sidebar within a second, and the notification's
click opens the message in its room, his name marked as his own mention.

alice writes in her browser; bob has the lobby open in another browser (context).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import make_room, message, wait_live, wait_until

pytestmark = pytest.mark.server

LIVE_MS = 1000

# Bob's tab: hidden on demand (document.visibilityState, and its event), and every
# notification the page makes recorded, made through the real Notification API.
HIDDEN_TAB_AND_RECORDED_NOTIFICATIONS = """
(() => {
  let hidden = false;
  Object.defineProperty(Document.prototype, "visibilityState", {
    configurable: true, get() { return hidden ? "hidden" : "visible"; },
  });
  Object.defineProperty(Document.prototype, "hidden", {
    configurable: true, get() { return hidden; },
  });
  window.__setHidden = (value) => {
    hidden = value;
    document.dispatchEvent(new Event("visibilitychange"));
  };
  window.__notifications = [];
  const Real = window.Notification;
  if (!Real) return;
  function Recording(title, options) {
    const made = new Real(title, options);
    window.__notifications.push({ title, body: (options || {}).body, made });
    return made;
  }
  Object.defineProperty(Recording, "permission", { get: () => Real.permission });
  Recording.requestPermission = (...args) => Real.requestPermission(...args);
  Recording.prototype = Real.prototype;
  window.Notification = Recording;
})();
"""


def test_bob_is_notified_of_alices_mention_and_the_click_opens_it(browsing, user, server):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "plans", bob, name="Plans")

    context = browsing.context()
    context.grant_permissions(["notifications"], origin=server.url)
    context.add_init_script(HIDDEN_TAB_AND_RECORDED_NOTIFICATIONS)
    context.add_cookies(
        [{"name": n, "value": v, "url": server.url} for n, v in bob.cookies.items()]
    )
    watcher = context.new_page()
    watcher.goto("/")
    # Off until he turns them on: the browser is asked only then.
    watcher.get_by_role("button", name="Turn on desktop notifications").click()
    expect(watcher.get_by_role("button", name="Turn off desktop notifications")).to_be_visible()
    wait_until(lambda: watcher.evaluate("() => document.querySelectorAll('.sidebar-link').length"))
    watcher.evaluate("() => window.__setHidden(true)")

    writer = browsing.page_for(alice, "/rooms/plans/")
    wait_live(writer)
    composer = writer.locator("#composer-input")
    composer.fill("")
    composer.press_sequentially("look at this @bo")
    listbox = writer.get_by_role("listbox", name="People to mention")
    expect(listbox).to_be_visible()
    expect(listbox.get_by_role("option").first).to_have_text("@bob")
    expect(composer).to_have_attribute("aria-expanded", "true")
    composer.press("Enter")  # picks, does not send
    expect(composer).to_have_value("look at this @bob ")
    expect(listbox).to_be_hidden()
    composer.press_sequentially("please")
    composer.press("Enter")
    sent = message(writer, "look at this @bob please")
    expect(sent).not_to_have_attribute("data-id", "")
    # Her page marks the mention, not as hers.
    expect(sent.locator("mark.mention")).to_have_text("@bob")
    expect(sent.locator("mark.mention-me")).to_have_count(0)
    message_id = sent.get_attribute("data-id")

    plans = watcher.locator("#sidebar .sidebar-link").filter(has_text="Plans")
    expect(plans.locator(".mention-number")).to_have_text("1", timeout=LIVE_MS)
    shown = wait_until(lambda: watcher.evaluate("() => window.__notifications.map(n => n.body)"))
    assert shown == ["look at this @bob please"]
    title = watcher.evaluate("() => window.__notifications[0].title")
    assert title == "alice in Plans"

    watcher.evaluate("() => window.__notifications[0].made.dispatchEvent(new Event('click'))")
    expect(watcher).to_have_url(re.compile(rf"/rooms/plans/\?around={message_id}$"))
    opened = watcher.locator(f'#messages > .message[data-id="{message_id}"]')
    expect(opened.locator("mark.mention-me")).to_have_text("@bob")


def test_the_suggestions_work_by_keyboard_and_marks_skip_code(browsing, user):
    alice, bob = user("alice"), user("bob")
    user("bea")  # not a member: never suggested
    make_room(alice, "plans", bob, name="Plans")
    page = browsing.page_for(alice, "/rooms/plans/")
    wait_live(page)
    composer = page.locator("#composer-input")
    composer.press_sequentially("@")
    options = page.get_by_role("listbox", name="People to mention").get_by_role("option")
    expect(options).to_have_text(["@bob", "@room (everyone here)"])
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    composer.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(composer).to_have_attribute("aria-activedescendant", options.nth(1).get_attribute("id"))
    composer.press("Escape")
    expect(options).to_have_count(0)
    expect(composer).to_have_value("@")

    # The marks go around text only, never inside code (the Markdown a body may become).
    marked = page.evaluate(
        """async () => {
            const { highlight } = await import("/static/rooms/room/mentions.js");
            const body = document.createElement("div");
            body.innerHTML = "hi @Bob, <code>@bob</code> <pre>@room</pre> @room @bea";
            highlight(body, ["bob"], true, "alice");
            return [...body.querySelectorAll("mark")].map(m => [m.className, m.textContent]);
        }"""
    )
    assert marked == [["mention", "@Bob"], ["mention mention-me", "@room"]]
