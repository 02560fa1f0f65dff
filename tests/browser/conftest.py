"""End-to-end browser suite: Playwright driving Debian's Chromium against a live portal.

The portal runs as a real daphne process (HTTP and websockets) on the test
database, so pages, htmx and the live socket behave as in production. Fixtures
for other modules' browser tests:

- ``live_url``: base URL of the running portal (no trailing slash), session-wide;
- ``page``: a fresh Playwright page (own cookies) per test;
- ``logged_in_page``: a page logged in through the form as an Admin-role user.

Tests here use ``transactional_db`` (the portal process must see their rows), so
each test starts from an emptied database. Every test under tests/browser/ is
marked ``browser``. Without Chromium the suite is skipped, unless
``MAILMON_REQUIRE_BROWSER=1`` (CI), where it fails. ``MAILMON_CHROMIUM`` names another binary.
"""

from __future__ import annotations

import os
import shutil
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from apps.core.roles import ADMIN
from tests.core import processes
from tests.core.factories import UserFactory

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_USERNAME = "browser-admin"
ADMIN_PASSWORD = "correct horse battery staple"
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)


def chromium_path() -> str | None:
    """Debian's Chromium, or the binary named by ``MAILMON_CHROMIUM``."""
    wanted = os.environ.get("MAILMON_CHROMIUM")
    if wanted:
        return wanted if os.access(wanted, os.X_OK) else None
    return shutil.which("chromium") or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)


def _require_chromium() -> str:
    path = chromium_path()
    if path:
        return path
    reason = "Chromium not installed (apt-get install chromium, or make browser-deps)"
    if os.environ.get("MAILMON_REQUIRE_BROWSER") == "1":
        pytest.fail(f"MAILMON_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def live_url(django_db_setup, django_db_blocker, tmp_path_factory) -> str:
    """Start daphne on the test database (HTTP + websockets); stopped at the end of the session."""
    port = processes.free_port()
    log = tmp_path_factory.mktemp("live-server") / "daphne.log"
    proc = processes.start(
        ["-m", "mailmon.daphne_server", "-b", "127.0.0.1", "-p", str(port), "mailmon.asgi:application"], log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        processes.wait_for(lambda: _answers(url + "/health/live"), timeout=60, what="daphne", procs=[proc])
        yield url
    finally:
        processes.stop(proc)


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    return _require_chromium()


@pytest.fixture(scope="package")
def browser(chromium_executable, live_url):
    """Chromium for this package's tests only: Playwright's sync API keeps an event loop
    running in the test thread, which must be gone before other packages' tests use
    ``async_to_sync``."""
    from playwright.sync_api import sync_playwright

    # Django takes that running loop for async code and would refuse ORM calls; tests here
    # are plain sync code, so allow them while the browser is up.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=chromium_executable, args=CHROMIUM_ARGS, headless=True
            )
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_url, transactional_db):
    context = browser.new_context(base_url=live_url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def off_the_browser_thread(function, *args, **kwargs):
    """Run ``function`` in another thread and return its result.

    Playwright's event loop lives in the test's thread, where ``async_to_sync`` (so
    ``apps.core.live.broadcast``) refuses to run: call services that broadcast through this.
    """
    from django.db import connections

    def run():
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=60)


def log_in(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


@pytest.fixture
def admin_user(transactional_db):
    return UserFactory(username=ADMIN_USERNAME, password=ADMIN_PASSWORD, role=ADMIN)


@pytest.fixture
def logged_in_page(page, admin_user, live_url):
    """A page logged in through the login form as an Admin-role user, left on the overview."""
    log_in(page, ADMIN_USERNAME, ADMIN_PASSWORD)
    page.wait_for_url(live_url + "/")
    return page
