"""Message text is text: markup shows as typed and runs nothing; links are safe links."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import make_room, message, post, send, wait_live

pytestmark = pytest.mark.server

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    '<a href="javascript:alert(3)">click</a> <b>bold</b> &amp; &lt;',
    "<svg onload=alert(4)></svg><iframe src=javascript:alert(5)></iframe>",
]


def test_markup_in_messages_shows_as_text_and_runs_nothing(browsing, user):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "general", bob)
    # Rendered by the server ...
    for body in HOSTILE:
        post(bob, body)
    page = browsing.page_for(alice, "/rooms/general/")
    wait_live(page)
    # ... arriving live, from a browser and through the API, and edited in.
    other = browsing.page_for(bob, "/rooms/general/")
    wait_live(other)
    send(other, "live: <img src=x onerror=alert(6)>")
    post(bob, "<script>alert(7)</script> live")
    edited = post(alice, "plain, to be edited")
    alice.patch(
        f"/rooms/general/messages/{edited['id']}/", json={"body": "<img src=x onerror=alert(8)>"}
    )
    expect(page.locator("#messages > .message")).to_have_count(len(HOSTILE) + 3, timeout=5000)
    expect(message(page, "plain, to be edited")).to_have_count(0, timeout=5000)

    for body in [*HOSTILE, "live: <img src=x onerror=alert(6)>", "<script>alert(7)</script> live"]:
        expect(message(page, body).locator(".body")).to_have_text(body)
    expect(page.locator(f"#messages > [data-id='{edited['id']}'] .body")).to_have_text(
        "<img src=x onerror=alert(8)>"
    )
    list_html = page.locator("#messages")
    for tag in ("img", "script", "svg", "iframe", "b"):
        expect(list_html.locator(tag)).to_have_count(0)
    # A javascript: "link" is no link: the only anchors are the page's own (reply quotes,
    # hidden here as these messages answer none).
    expect(list_html.locator(".body a")).to_have_count(0)
    expect(list_html.locator("a:not(.reply-quote)")).to_have_count(0)
    page.wait_for_timeout(300)
    other.wait_for_timeout(300)
    assert browsing.dialogs == []


def test_links_in_messages_are_clickable_and_safe(browsing, user):
    alice = user("alice")
    make_room(alice)
    post(alice, "see https://example.com/a?b=1&c=2, and (http://example.org/x).")
    page = browsing.page_for(alice, "/rooms/general/")
    wait_live(page)
    send(page, "live https://example.net/path#frag")

    links = page.locator("#messages .body a")
    expect(links).to_have_count(3, timeout=5000)
    hrefs = [links.nth(i).get_attribute("href") for i in range(3)]
    assert hrefs == [
        "https://example.com/a?b=1&c=2",
        "http://example.org/x",
        "https://example.net/path#frag",
    ]
    for i in range(3):
        rel = (links.nth(i).get_attribute("rel") or "").split()
        assert sorted(rel) == ["nofollow", "noopener", "noreferrer"]
    # The text around the links is intact.
    expect(message(page, "see https").locator(".body")).to_have_text(
        "see https://example.com/a?b=1&c=2, and (http://example.org/x)."
    )


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self';"
    " connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def test_the_pages_work_under_a_csp_without_unsafe_inline(browsing, user):
    """No inline script, handler or style attribute: a strict policy blocks nothing."""
    alice, bob = user("alice"), user("bob")
    make_room(alice, "general", bob)
    post(bob, "before")
    context = browsing.context()
    context.add_cookies(
        [{"name": n, "value": v, "url": browsing.server.url} for n, v in alice.cookies.items()]
    )
    context.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )

    def with_csp(route):
        if route.request.resource_type != "document":
            route.fallback()  # to the guard against foreign requests (and streams unread)
            return
        response = route.fetch()
        headers = dict(response.headers)
        if headers.get("content-type", "").startswith("text/html"):
            headers["content-security-policy"] = CSP
        route.fulfill(response=response, headers=headers)

    context.route("**/*", with_csp)
    page = context.new_page()
    for path in ["/", "/rooms/general/people/"]:
        page.goto(path)
        page.wait_for_load_state("load")
        assert page.evaluate("window.__violations") == [], path
    page.goto("/rooms/general/")
    wait_live(page)
    send(page, "works under CSP")
    expect(message(page, "works under CSP")).not_to_have_attribute("data-id", "", timeout=5000)
    post(bob, "live under CSP")
    expect(message(page, "live under CSP")).to_have_count(1, timeout=5000)
    assert page.evaluate("window.__violations") == []
