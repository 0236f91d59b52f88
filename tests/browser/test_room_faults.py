"""The room page through faults: a SIGKILLed server, a browser offline, a lost answer."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import history, make_room, message, post, send, shown, wait_live

pytestmark = pytest.mark.server

DELETED = "This message was deleted."


def server_view(client) -> list[tuple[str, str]]:
    return [(str(m["id"]), m["body"] or DELETED) for m in history(client)]


class Poster(threading.Thread):
    """Posts `count` messages through the API, one after another, each until it gets its
    201: a failed request is retried with the same client_id, so nothing is posted twice."""

    def __init__(self, client: httpx.Client, count: int, deadline: float) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.count = count
        self.deadline = deadline
        self.acknowledged: list[str] = []
        self.failures = 0

    def run(self) -> None:
        for i in range(self.count):
            body = f"api message {i:02d}"
            while time.monotonic() < self.deadline:
                try:
                    response = self.client.post(
                        "/rooms/general/messages/",
                        json={"body": body, "client_id": f"poster-{i}"},
                        timeout=2,
                    )
                    if response.status_code == 201:
                        self.acknowledged.append(response.json()["body"])
                        break
                except httpx.HTTPError:
                    pass
                self.failures += 1
                time.sleep(0.05)
            time.sleep(0.03)


@pytest.mark.timeout(180)
def test_the_page_catches_up_after_the_server_is_killed(browsing, server, user):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "general", bob)
    page = browsing.page_for(alice, "/rooms/general/")
    wait_live(page)

    poster = Poster(bob, 40, deadline=time.monotonic() + 90)
    poster.start()
    while len(poster.acknowledged) < 10 and poster.is_alive():
        time.sleep(0.01)

    server.kill()
    expect(page.locator("#conn")).to_have_attribute("data-state", "reconnecting", timeout=5000)
    expect(page.locator("#conn")).to_have_text("Reconnecting…")
    # Alice writes while the server is down: held, marked, not lost.
    send(page, "written while the server was down")
    held = message(page, "written while the server was down")
    expect(held.locator(".status")).to_contain_text("Not sent yet")
    expect(held.get_by_role("button", name="Retry")).to_be_visible()
    time.sleep(1)
    server.start()

    poster.join(timeout=100)
    assert not poster.is_alive()
    assert len(poster.acknowledged) == 40, poster.acknowledged
    assert poster.failures > 0  # the posts did run into the dead server
    wait_live(page, timeout=15_000)
    messages = page.locator("#messages > .message")
    expect(messages).to_have_count(41, timeout=10_000)
    expect(held).not_to_have_attribute("data-id", "")
    expect(held.locator(".status")).to_be_hidden()
    expect(held.get_by_role("button", name="Retry")).to_be_hidden()

    on_page = shown(page)
    assert on_page == server_view(alice)
    from_api = [body for _, body in on_page if body.startswith("api message")]
    assert from_api == poster.acknowledged  # every acknowledged one, once, in order
    assert [body for _, body in on_page].count("written while the server was down") == 1


def test_a_message_written_offline_is_held_and_sent_when_back_online(browsing, user, artifacts):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "general", bob)
    page = browsing.page_for(alice, "/rooms/general/")
    other = browsing.page_for(bob, "/rooms/general/")
    wait_live(page)
    wait_live(other)

    page.context.set_offline(True)
    expect(page.locator("#conn")).to_have_attribute("data-state", "offline", timeout=5000)
    expect(page.locator("#conn")).to_have_text("Offline")
    send(page, "sent from a train")
    held = message(page, "sent from a train")
    expect(held.locator(".status")).to_contain_text("Not sent yet")
    expect(held).to_have_attribute("data-id", "")
    expect(message(other, "sent from a train")).to_have_count(0)
    page.screenshot(path=artifacts / "room-desktop-light-offline.png")

    page.context.set_offline(False)
    wait_live(page)
    expect(held).not_to_have_attribute("data-id", "", timeout=5000)
    expect(held.locator(".status")).to_be_hidden()
    expect(message(other, "sent from a train")).to_have_count(1, timeout=5000)
    assert [body for _, body in server_view(alice)] == ["sent from a train"]


def test_a_lost_answer_is_reconciled_and_a_failed_post_has_a_retry_button(browsing, user):
    alice = user("alice")
    make_room(alice, "general")
    page = browsing.page_for(alice, "/rooms/general/")
    wait_live(page)
    faults: list[str] = []

    def fault(route):
        if route.request.method != "POST" or len(faults) >= 2:
            route.fallback()
        elif not faults:
            # The server stores the post, but its answer is lost on the way back.
            faults.append(f"answer lost after {route.fetch().status}")
            route.fulfill(status=502, body="bad gateway")
        else:
            # The request never reaches the server.
            faults.append("refused")
            route.abort("connectionrefused")

    page.route("**/rooms/general/messages/", fault)

    # The lost answer: the stream brings the message with its client_id, once.
    send(page, "stored, answer lost")
    first = message(page, "stored, answer lost")
    expect(first).not_to_have_attribute("data-id", "", timeout=5000)
    expect(first.locator(".status")).to_be_hidden()

    # The refused post: marked, with a retry button that sends it.
    send(page, "refused at first")
    second = message(page, "refused at first")
    expect(second.get_by_role("button", name="Retry")).to_be_visible()
    expect(second.locator(".status")).to_contain_text("Not sent yet")
    expect(second).to_have_attribute("data-id", "")
    assert faults == ["answer lost after 201", "refused"]
    second.get_by_role("button", name="Retry").click()
    expect(second).not_to_have_attribute("data-id", "", timeout=5000)
    expect(second.locator(".status")).to_be_hidden()
    expect(second.get_by_role("button", name="Retry")).to_be_hidden()

    page.wait_for_timeout(300)  # a duplicate from the stream would show by now
    assert [body for _, body in shown(page)] == ["stored, answer lost", "refused at first"]
    assert shown(page) == server_view(alice)


def from_the_future(context, stale: tuple[str, str] | None = None) -> None:
    """The room page as if its ids came from the future (a restored database, say): its
    stream answers `reset`. `stale`: (old, new) in the page's HTML too."""

    def route_page(route):
        if route.request.resource_type != "document":
            route.fallback()
            return
        response = route.fetch()
        html = response.text()
        assert 'data-last-event-id="' in html
        html = html.replace('data-last-event-id="', 'data-last-event-id="999999', 1)
        html = html.replace('data-position="', 'data-position="999999')
        if stale is not None:
            assert stale[0] in html
            html = html.replace(*stale, 1)
        route.fulfill(response=response, body=html)

    context.route("**/rooms/general/", route_page)


@pytest.mark.parametrize("reader", ["member", "reader"])
def test_a_reset_reloads_the_history_in_place_and_carries_on_live(browsing, user, reader):
    """An event id the server does not know (a restored database, say) gets `reset`: the
    page reloads its history without reloading itself, then takes live events again.

    A member's page follows the user stream from its site position, a reader's the room's
    stream from the room's id: both are from the future here."""
    alice, bob = user("alice"), user("bob")
    make_room(alice, "general", bob)
    post(bob, "first")
    post(bob, "second")
    viewer = alice if reader == "member" else user("carol")
    context = browsing.context_for(viewer)
    # ... and a stale page: the second message is missing from what it rendered. (The body
    # is the message's formatted HTML, a paragraph; the test must see the replacement made,
    # or it would not wait for the reload below.)
    from_the_future(context, stale=("<p>second</p>", "<p>stale text</p>"))
    page = context.new_page()
    page.goto("/rooms/general/")
    page.evaluate("window.__marker = 'not reloaded'")
    wait_live(page)
    expect(message(page, "second")).to_have_count(1, timeout=5000)
    expect(message(page, "stale text")).to_have_count(0)

    post(bob, "third, after the reset")
    expect(message(page, "third, after the reset")).to_have_count(1, timeout=5000)
    assert page.evaluate("window.__marker") == "not reloaded"
    assert shown(page) == server_view(alice)


@pytest.mark.parametrize("reader", ["member", "reader"])
def test_what_changes_while_the_history_reloads_is_not_undone_by_it(browsing, user, reader):
    """A reset reloads the history; a message deleted and another edited while that page is
    on its way show deleted and edited once it lands, not as the page read them (their
    events wait for it, then go on top of it)."""
    alice, bob = user("alice"), user("bob")
    make_room(alice, "general", bob)
    doomed = post(bob, "doomed text")
    edited = post(bob, "first draft")
    viewer = alice if reader == "member" else user("carol")
    context = browsing.context_for(viewer)
    from_the_future(context)
    changed: list[str] = []

    def history_read_before_the_changes(route):
        if changed or any(f"{key}=" in route.request.url for key in ("before", "after", "around")):
            route.fallback()
            return
        response = route.fetch()  # the history as it is now; then, before the page has it:
        gone = bob.delete(f"/rooms/general/messages/{doomed['id']}/")
        assert gone.status_code == 200, gone.text
        draft = bob.patch(f"/rooms/general/messages/{edited['id']}/", json={"body": "last draft"})
        assert draft.status_code == 200, draft.text
        changed.append("deleted and edited")
        time.sleep(1.5)  # their events reach the page meanwhile
        route.fulfill(response=response)

    context.route(lambda url: "/rooms/general/messages/?" in url, history_read_before_the_changes)
    page = context.new_page()
    page.goto("/rooms/general/")
    wait_live(page)
    expect(message(page, "last draft")).to_have_count(1, timeout=10_000)
    assert changed == ["deleted and edited"]
    expect(message(page, "doomed text")).to_have_count(0)
    expect(message(page, "first draft")).to_have_count(0)
    assert shown(page) == server_view(alice)

    post(bob, "and live after it")
    expect(message(page, "and live after it")).to_have_count(1, timeout=5000)
    assert shown(page) == server_view(alice)
