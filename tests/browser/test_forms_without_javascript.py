"""The pages' forms without JavaScript: each posts itself, the server answers with a redirect
to the page that follows, and a refusal comes back as a message on the page. Scripts and
JSON clients get the JSON answers as before.

dana and eli sign up in the browser; alice owns the rooms made through the API; bob reads.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import history, make_room, message

pytestmark = pytest.mark.server

PASSWORD = "a-long-passphrase-9"


def no_script(browsing, **options):
    """A page in a browser context with JavaScript turned off."""
    return browsing.context(java_script_enabled=False, **options).new_page()


def sign_up(page, username: str) -> None:
    page.goto("/accounts/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()


def test_sign_up_create_a_room_and_post_without_javascript(browsing, server):
    page = no_script(browsing)
    sign_up(page, "dana")
    expect(page).to_have_url(f"{server.url}/")
    expect(page.locator(".whoami")).to_contain_text("dana")

    # Creating a room: the address is typed (no script makes it from the name).
    page.get_by_label("Name").fill("Book Club")
    page.get_by_label("Address").fill("book-club")
    page.get_by_role("button", name="Create room").click()
    expect(page).to_have_url(f"{server.url}/rooms/book-club/")
    expect(page.get_by_role("heading", name="Book Club")).to_be_visible()

    # Posting: the page comes back with the message, rendered by the server.
    page.get_by_label("Message #book-club").fill("hello without a script")
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(f"{server.url}/rooms/book-club/")
    posted = message(page, "hello without a script")
    expect(posted).to_have_count(1)
    expect(posted).not_to_have_attribute("data-id", "")
    expect(posted.locator(".author")).to_have_text("dana")
    expect(page.get_by_role("alert")).to_have_count(0)

    # A refused post comes back as an error on the page, and posts nothing.
    page.get_by_label("Message #book-club").fill("   ")
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(f"{server.url}/rooms/book-club/")
    expect(page.get_by_role("alert")).to_have_text(
        "Your message was not sent: body must not be empty."
    )
    expect(page.locator("#messages > .message")).to_have_count(1)
    # It is said once: the next page is clean.
    page.reload()
    expect(page.get_by_role("alert")).to_have_count(0)

    # A room whose address is taken: back on the lobby, with the reason.
    page.goto("/")
    page.get_by_label("Name").fill("Another")
    page.get_by_label("Address").fill("book-club")
    page.get_by_role("button", name="Create room").click()
    expect(page).to_have_url(f"{server.url}/")
    expect(page.get_by_role("alert")).to_have_text(
        "The room was not created: a room with this slug already exists."
    )

    # Log out and in again, with the forms.
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{server.url}/accounts/login/")
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{server.url}/")
    expect(page.get_by_role("link", name="Book Club")).to_be_visible()


def test_join_leave_and_add_members_without_javascript(browsing, server, user):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "general")
    make_room(alice, "random")
    make_room(alice, "plans", private=True)

    # From the lobby's list of public rooms: joining opens the room, ready to post.
    page = browsing.page_for(bob, "/", java_script_enabled=False)
    page.locator("[data-join=general]").click()
    expect(page).to_have_url(f"{server.url}/rooms/general/")
    expect(page.get_by_label("Message #general")).to_be_visible()

    # From a room's page, read before joining.
    page.goto("/rooms/random/")
    expect(page.get_by_label("Message #random")).to_have_count(0)
    page.get_by_role("button", name="Join room").click()
    expect(page).to_have_url(f"{server.url}/rooms/random/")
    page.get_by_label("Message #random").fill("joined without a script")
    page.get_by_role("button", name="Send").click()
    expect(message(page, "joined without a script")).to_have_count(1)

    # Leaving a public room: back on its page, to read it or join again.
    page.get_by_role("link", name="Members").click()
    page.get_by_role("button", name="Leave this room").click()
    expect(page).to_have_url(f"{server.url}/rooms/random/")
    expect(page.get_by_role("button", name="Join room")).to_be_visible()

    # The owner adds people to the private room from its members page; a wrong name is said.
    owner = browsing.page_for(alice, "/rooms/plans/people/", java_script_enabled=False)
    owner.get_by_label("Add someone by username").fill("nobody-by-that-name")
    owner.get_by_role("button", name="Add member").click()
    expect(owner).to_have_url(f"{server.url}/rooms/plans/people/")
    expect(owner.get_by_role("alert")).to_have_text("Nobody was added: no such user.")
    owner.get_by_label("Add someone by username").fill("bob")
    owner.get_by_role("button", name="Add member").click()
    expect(owner.locator(".member-list")).to_contain_text("bob")

    # Leaving a private room: its page is gone for bob, so he lands in the lobby.
    page.goto("/rooms/plans/people/")
    page.get_by_role("button", name="Leave this room").click()
    expect(page).to_have_url(f"{server.url}/")
    expect(page.get_by_role("link", name="Plans")).to_have_count(0)
    assert bob.get("/rooms/plans/").status_code == 404
    assert [m["body"] for m in history(alice, "random")] == ["joined without a script"]


def test_a_muted_persons_post_without_javascript_is_refused_on_the_page(
    browsing, server, user, artifacts
):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "general", bob)
    assert alice.post("/rooms/general/mute/", json={"username": "bob"}).status_code == 200
    page = browsing.page_for(bob, "/rooms/general/", java_script_enabled=False)
    expect(page.locator("#room-notice")).to_have_text(
        "You cannot post here: you are muted in this room."
    )
    page.get_by_label("Message #general").fill("can anyone hear me?")
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(f"{server.url}/rooms/general/")
    expect(page.get_by_role("alert")).to_have_text(
        "Your message was not sent: you are muted in this room."
    )
    page.screenshot(path=artifacts / "room-desktop-light-no-script-refused.png")
    assert history(alice) == []


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Accept": "*/*"},
        {"Accept": "application/json"},
        {"Accept": f"application/json, {BROWSER_ACCEPT}"},
        {"Accept": BROWSER_ACCEPT, "X-Requested-With": "XMLHttpRequest"},
    ],
    ids=["no-accept", "any", "json", "json-and-html", "xhr"],
)
def test_form_posts_from_scripts_get_the_json_answers(server, user, headers):
    """Only a browser's own form post (HTML wanted, no script's mark) is redirected."""
    alice = user("alice")
    form = {"csrfmiddlewaretoken": alice.cookies["csrftoken"]}
    alice.headers.pop("Accept", None)

    created = alice.post("/rooms/", data={**form, "slug": "general"}, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["url"] == "/rooms/general/"
    taken = alice.post("/rooms/", data={**form, "slug": "general"}, headers=headers)
    assert taken.status_code == 409
    assert taken.json() == {"error": "a room with this slug already exists"}

    posted = alice.post("/rooms/general/messages/", data={**form, "body": "hi"}, headers=headers)
    assert posted.status_code == 201
    assert posted.json()["body"] == "hi"
    empty = alice.post("/rooms/general/messages/", data={**form, "body": " "}, headers=headers)
    assert empty.status_code == 400
    assert empty.json() == {"error": "body must not be empty"}
    owner_leaves = alice.post("/rooms/general/leave/", data=form, headers=headers)
    assert owner_leaves.status_code == 409
    assert owner_leaves.json() == {"error": "the owner cannot leave their own room"}


def test_a_browsers_form_post_is_redirected_and_json_is_not(server, user):
    alice = user("alice")
    form = {"csrfmiddlewaretoken": alice.cookies["csrftoken"]}
    browser = {"Accept": BROWSER_ACCEPT}

    created = alice.post("/rooms/", data={**form, "slug": "general"}, headers=browser)
    assert created.status_code == 303
    assert created.headers["Location"] == "/rooms/general/"
    posted = alice.post("/rooms/general/messages/", data={**form, "body": "hi"}, headers=browser)
    assert (posted.status_code, posted.headers["Location"]) == (303, "/rooms/general/")
    refused = alice.post("/rooms/general/leave/", data=form, headers=browser)
    assert (refused.status_code, refused.headers["Location"]) == (303, "/rooms/general/people/")
    page = alice.get("/rooms/general/people/", headers=browser).text
    assert "You did not leave the room: the owner cannot leave their own room." in page
    assert [m["body"] for m in history(alice)] == ["hi"]

    # The same form post from a script (JSON, as the pages send) is answered as ever.
    scripted = alice.post(
        "/rooms/general/messages/", json={"body": "from a script"}, headers=browser
    )
    assert scripted.status_code == 201
    assert scripted.json()["body"] == "from a script"

    # Without a session the browser is sent to log in, and back to the room after.
    anonymous = httpx.Client(base_url=server.url, timeout=10)
    anonymous.get("/accounts/login/")
    token = anonymous.cookies["csrftoken"]
    response = anonymous.post(
        "/rooms/general/messages/",
        data={"csrfmiddlewaretoken": token, "body": "who am I?"},
        headers=browser,
    )
    anonymous.close()
    assert response.status_code == 302
    assert response.headers["Location"] == "/accounts/login/?next=/rooms/general/"
