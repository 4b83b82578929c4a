"""Browser tests: a live portal on a real port, driven by Playwright in Debian's Chromium.

Chromium comes from Debian (`apt-get install chromium`, done by `make test`), never from
Playwright's own download. If it is missing the run fails: browser tests are never skipped.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from werkzeug.serving import make_server

from portal.app import create_app
from tests.conftest import REQUESTED, make_config

CHROMIUM = os.environ.get("PORTAL_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               "--disable-quic", "--disable-features=Translate,MediaRouter"]
PHONE = {"width": 390, "height": 844}
TABLET = {"width": 820, "height": 1180}


class LiveServer:
    """The app served by a threaded WSGI server on 127.0.0.1."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.exit(f"browser tests need Debian's Chromium at {CHROMIUM} (run `make test`)",
                    returncode=3)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture
def live_app(db_url: str, tmp_path: Path) -> Flask:
    # Limits are tested on their own; journeys here sign in many times quickly.
    return create_app(make_config(db_url, tmp_path / "instance", rate_limits=False))


@pytest.fixture
def live(live_app: Flask) -> Iterator[LiveServer]:
    server = LiveServer(live_app)
    yield server
    server.stop()


def _context(browser: Browser, *, javascript: bool, viewport: dict[str, int]) -> BrowserContext:
    return browser.new_context(java_script_enabled=javascript, viewport=viewport,
                               accept_downloads=True, locale="en-GB")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A phone-sized page with JavaScript on."""
    context = _context(browser, javascript=True, viewport=PHONE)
    yield context.new_page()
    context.close()


@pytest.fixture
def page_nojs(browser: Browser) -> Iterator[Page]:
    """A phone-sized page with JavaScript off."""
    context = _context(browser, javascript=False, viewport=PHONE)
    yield context.new_page()
    context.close()


@pytest.fixture
def tablet(browser: Browser) -> Iterator[Page]:
    """A tablet-sized page with JavaScript on."""
    context = _context(browser, javascript=True, viewport=TABLET)
    yield context.new_page()
    context.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the current page (WCAG 2.2 AA and best practice)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations: list[dict[str, Any]] = results.response["violations"]
    return violations


def assert_accessible(page: Page) -> None:
    """Fail with axe's report if the page has any violation."""
    violations = axe_violations(page)
    assert not violations, "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at "
        f"{[n['target'] for n in v['nodes']][:3]}" for v in violations)


def tab_to(page: Page, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching ``selector`` has focus (keyboard only)."""
    target = page.locator(selector).first
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"could not reach {selector} by keyboard")


@pytest.fixture(params=REQUESTED[:1])
def backend(request: pytest.FixtureRequest) -> str:
    """Browser journeys run on one engine (the first asked for): the engines are proven
    equivalent by the rest of the suite, and a browser run costs much more."""
    return str(request.param)


def sign_in_browser(page: Page, live: LiveServer, principal: Any, *, mfa: bool = True) -> None:
    """Give the browser a signed-in session cookie, for journeys that start signed in.

    Journeys that test signing in itself go through the pages instead.
    """
    from portal.database import utcnow
    from portal.identity.models import Account

    # A response still in flight (a page's CSS or script) refreshes the old session's cookie
    # when it lands, and would overwrite the one set here: let the page go quiet first.
    page.wait_for_load_state("networkidle")
    kind = "account" if isinstance(principal, Account) else "staff"
    now = utcnow().timestamp()
    data = {"_user_id": f"{kind}:{principal.id}:{principal.session_epoch}", "_fresh": True,
            "auth_at": now, "seen_at": now, "mfa": mfa}
    serializer = live.app.session_interface.get_signing_serializer(live.app)  # type: ignore[attr-defined]
    page.context.add_cookies([{"name": "portal_session", "value": serializer.dumps(data),
                               "url": live.url, "httpOnly": True, "sameSite": "Lax"}])
