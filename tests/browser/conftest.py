"""Real Chromium (Debian's package) driven by Playwright against a real server (daphne or
uvicorn, tests/live.py).

Every test gets a fresh database and its own server process on 127.0.0.1; the browser is
shared by the tests of a module. Each browser context may talk to the test's server only:
any other request is aborted and fails the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.live import ROOT, LiveDatabase, LiveServer, sign_up_sync

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
DEFAULT_TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"the browser tests need Debian's chromium at {CHROMIUM}: run bin/test (it installs"
            " it) or `apt-get install chromium`"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=30_000
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def server(live_database: LiveDatabase) -> Iterator[LiveServer]:
    live = LiveServer(live_database).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def artifacts() -> Path:
    """test-artifacts/<stack>/: each stack's screenshots, the second not over the first."""
    stack = "postgres" if os.environ.get("DATABASE_URL") else "sqlite"
    directory = ARTIFACTS / stack
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@dataclass
class Browsing:
    """Opens pages for users of one server and checks, at the end, that none misbehaved."""

    browser: Browser
    server: LiveServer
    contexts: list[BrowserContext] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    # What to type into the next window.prompt()s, in order (none left: dismiss).
    prompt_answers: list[str] = field(default_factory=list)

    def context(
        self, *, width: int = 1280, height: int = 800, dark: bool = False, **options: Any
    ) -> BrowserContext:
        context = self.browser.new_context(
            base_url=self.server.url,
            viewport={"width": width, "height": height},
            color_scheme="dark" if dark else "light",
            locale="en-GB",
            timezone_id="Europe/Paris",
            **options,
        )
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        origin = self.server.url

        def guard(route: Any) -> None:
            if route.request.url.startswith(origin + "/"):
                route.continue_()
            else:
                self.foreign_requests.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        context.on("page", self._watch)
        self.contexts.append(context)
        return context

    def _watch(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.page_errors.append(f"{page.url}: {error}"))
        page.on("dialog", self._on_dialog)

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        if dialog.type == "confirm":
            dialog.accept()
        elif dialog.type == "prompt" and self.prompt_answers:
            dialog.accept(self.prompt_answers.pop(0))
        else:
            dialog.dismiss()

    def context_for(self, client: Any, **options: Any) -> BrowserContext:
        """A browser context logged in with the session of an httpx client from
        sign_up_sync (routes may be set on it before its first page opens)."""
        context = self.context(**options)
        context.add_cookies(
            [
                {"name": name, "value": value, "url": self.server.url}
                for name, value in client.cookies.items()
            ]
        )
        return context

    def page_for(self, client: Any, path: str = "/", **options: Any) -> Page:
        """A page logged in with the session of an httpx client from sign_up_sync."""
        page = self.context_for(client, **options).new_page()
        page.goto(path)
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browsing(browser: Browser, server: LiveServer) -> Iterator[Browsing]:
    session = Browsing(browser, server)
    try:
        yield session
    finally:
        session.close()
    assert not session.page_errors, session.page_errors
    assert not session.foreign_requests, session.foreign_requests


@pytest.fixture
def user(server: LiveServer) -> Any:
    """Sign up people on the test's server: user("alice") is a logged-in httpx client."""
    clients: list[Any] = []

    def make(username: str) -> Any:
        client = sign_up_sync(server.url, username)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
