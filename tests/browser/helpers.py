"""What the browser tests do to and read from the room page."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import Page, expect


def make_room(
    owner: Any, slug: str = "general", *members: Any, private: bool = False, name: str = ""
) -> None:
    payload = {"slug": slug, "name": name or slug.title(), "private": private}
    response = owner.post("/rooms/", json=payload)
    assert response.status_code == 201, response.text
    for member in members:
        assert member.post(f"/rooms/{slug}/join/").status_code in (200, 201)


def post(client: Any, body: str, slug: str = "general", **extra: Any) -> dict[str, Any]:
    response = client.post(f"/rooms/{slug}/messages/", json={"body": body, **extra})
    assert response.status_code == 201, response.text
    return dict(response.json())


def history(client: Any, slug: str = "general") -> list[dict[str, Any]]:
    """Every message of the room, oldest first, through the JSON history."""
    messages: list[dict[str, Any]] = []
    before = ""
    while True:
        page = client.get(f"/rooms/{slug}/messages/?limit=200{before}").json()
        messages[:0] = page["messages"]
        if not page["has_more"]:
            return messages
        before = f"&before={page['messages'][0]['id']}"


def wait_live(page: Page, timeout: float = 10_000) -> None:
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=timeout)


def shown(page: Page) -> list[tuple[str, str]]:
    """(data-id, body text) of every message element in the list, top to bottom."""
    return [
        (str(item[0]), str(item[1]))
        for item in page.eval_on_selector_all(
            "#messages > .message",
            "els => els.map(e => [e.dataset.id, e.querySelector('.body').textContent])",
        )
    ]


def message(page: Page, body: str) -> Any:
    return page.locator("#messages > .message").filter(has=page.locator(".body", has_text=body))


def send(page: Page, body: str) -> None:
    page.locator("#composer-input").fill(body)
    page.locator("#composer-input").press("Enter")


def assert_local_time(item: Any, timezone: str = "Europe/Paris") -> None:
    """The message's time shows in the viewer's zone (the contexts use Europe/Paris)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    time_element = item.locator("time")
    stamp = datetime.fromisoformat(str(time_element.get_attribute("datetime")))
    expect(time_element).to_have_text(stamp.astimezone(ZoneInfo(timezone)).strftime("%H:%M"))


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {predicate}")
        time.sleep(interval)
