"""The words the room page's script shows for what the server renders too (a deleted or
removed message, the connection state, why one cannot post) come from the page's
templates, not from the script: change them in the template and the script says the new
words.

alice owns the room and moderates it; bob writes in it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.template.loader import render_to_string
from playwright.sync_api import expect

from tests.browser.helpers import make_room, message, post, wait_live
from tests.live import ROOT

pytestmark = pytest.mark.server

DELETED = "This message was deleted."
REMOVED = "This message was removed by a moderator."


def partial_text(name: str) -> str:
    """A data-text-<name> of the message partial's empty variant, as Django renders it."""
    html = render_to_string("rooms/_message.html", {"message": None})
    match = re.search(rf'data-text-{name}="([^"]*)"', html)
    assert match, html
    return match.group(1)


def test_the_partial_holds_the_tombstone_texts_and_no_script_does():
    assert partial_text("deleted") == DELETED
    assert partial_text("removed") == REMOVED
    for script in (ROOT / "static").rglob("*.js"):
        text = Path(script).read_text()
        for words in (DELETED, REMOVED, "Reconnecting…", "only moderators can post"):
            assert words not in text, f"{words!r} is written in {script.relative_to(ROOT)}"


def test_rendered_and_live_tombstones_say_the_templates_words(browsing, user):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "general", bob)
    gone = post(bob, "gone before the page opened")
    hidden = post(bob, "hidden before the page opened")
    assert bob.delete(f"/rooms/general/messages/{gone['id']}/").status_code == 200
    removed = alice.post(f"/rooms/general/messages/{hidden['id']}/remove/", json={"reason": "x"})
    assert removed.status_code == 200
    later = [post(bob, f"to go live {i}") for i in range(2)]

    page = browsing.page_for(alice, "/rooms/general/")
    wait_live(page)
    texts = page.evaluate(
        "() => { const d = document.getElementById('message-template')"
        ".content.firstElementChild.dataset; return [d.textDeleted, d.textRemoved]; }"
    )
    assert texts == [partial_text("deleted"), partial_text("removed")]
    body = "#messages > [data-id='{}'] .body"
    expect(page.locator(body.format(gone["id"]))).to_have_text(texts[0])
    expect(page.locator(body.format(hidden["id"]))).to_have_text(texts[1])

    assert bob.delete(f"/rooms/general/messages/{later[0]['id']}/").status_code == 200
    url = f"/rooms/general/messages/{later[1]['id']}/remove/"
    assert alice.post(url, json={"reason": "x"}).status_code == 200
    expect(page.locator(body.format(later[0]["id"]))).to_have_text(texts[0])
    expect(page.locator(body.format(later[1]["id"]))).to_have_text(texts[1])
    # A message put in live is a clone of the template, without the texts: only the
    # template carries them.
    post(bob, "arrived live")
    expect(message(page, "arrived live")).to_have_count(1)
    expect(
        page.locator("#messages [data-text-deleted], #messages [data-text-removed]")
    ).to_have_count(0)


# What the test changes in the page's HTML as it arrives, and what the script must then say.
REWORDED = {
    f'data-text-deleted="{DELETED}"': 'data-text-deleted="Deleted (the template says)."',
    f'data-text-removed="{REMOVED}"': 'data-text-removed="Removed (the template says)."',
    'data-label-live="Live"': 'data-label-live="Live (the template says)"',
    "This room is locked: only moderators can post.": "Locked (the template says).",
}


def test_the_script_says_whatever_the_template_says(browsing, user):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "general", bob)
    first, second = post(bob, "first"), post(bob, "second")
    context = browsing.context_for(bob)

    def reworded(route):
        if route.request.resource_type != "document":
            route.fallback()
            return
        response = route.fetch()
        html = response.text()
        for old, new in REWORDED.items():
            assert old in html, old
            html = html.replace(old, new)
        route.fulfill(response=response, body=html)

    context.route("**/rooms/general/", reworded)
    page = context.new_page()
    page.goto("/rooms/general/")
    wait_live(page)
    expect(page.locator("#conn")).to_have_text("Live (the template says)")

    assert bob.delete(f"/rooms/general/messages/{first['id']}/").status_code == 200
    url = f"/rooms/general/messages/{second['id']}/remove/"
    assert alice.post(url, json={"reason": "x"}).status_code == 200
    expect(message(page, "Deleted (the template says).")).to_have_count(1)
    expect(message(page, "Removed (the template says).")).to_have_count(1)

    locked = alice.post("/rooms/general/settings/", json={"locked": True})
    assert locked.status_code == 200, locked.text
    expect(page.locator("#room-notice")).to_have_text("Locked (the template says).")
    expect(page.locator("#composer-input")).to_be_disabled()
