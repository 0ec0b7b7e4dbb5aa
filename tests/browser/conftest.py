"""A real browser against the test stack: Debian's chromium driven by Playwright.

The machine cannot download browsers, so Playwright launches /usr/bin/chromium
(`apt-get install chromium`; .ci/run does it) and never `playwright install`s. Every
request a page makes to anything but the stack's own address is aborted and noted:
the UI, /docs and /graphql must work with no internet, and the tests say which
requests tried to leave. axe-core (npm, api/ui/assets devDependencies; .ci/run runs
`npm ci` there) checks each page's accessibility.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from llm_observatory.core.settings import ApiSettings
from tests.support.browser import AXE, CHROMIUM, CHROMIUM_ARGS, Traffic, new_context, sign_in


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests, but {reason}", pytrace=False)
    pytest.skip(reason)


# Per module, not per session: Playwright's sync API runs an event loop on the main
# thread while it lives, and every later test that calls asyncio.run() (the seeds of
# the smoke and integration tests, in the same process) would fail.
@pytest.fixture(scope="module")
def playwright_driver():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _missing(f"no chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_api.sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver):
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.is_file():
        _missing(f"axe-core is not installed: run `npm ci` in {AXE.parents[2]}")
    return AXE.read_text()


@pytest.fixture(scope="module")
def stack(test_stack):
    return test_stack


@pytest.fixture(scope="module")
def base_url(stack) -> str:
    return stack.url("api", 8080)


@pytest.fixture
def traffic() -> Traffic:
    return Traffic()


def _page(browser, base_url, traffic, storage_state=None):
    context = new_context(browser, base_url, traffic, storage_state)
    page = context.new_page()
    page.on(
        "console",
        lambda message: (
            traffic.console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: traffic.console_errors.append(str(error)))
    page.set_default_timeout(15_000)
    return page


@pytest.fixture
def page(browser, base_url, traffic):
    """A fresh, signed-out page; every non-local request is aborted and noted."""
    page = _page(browser, base_url, traffic)
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def credentials() -> tuple[str, str]:
    # What the stack runs with: compose and this process read the same env/.env.
    settings = ApiSettings()
    return settings.ui_admin_user, settings.ui_admin_password


@pytest.fixture(scope="module")
def signed_in_state(browser, base_url, credentials):
    """Cookies of one sign-in, shared by a module's pages (sign-ins are rate limited)."""
    page = _page(browser, base_url, Traffic())
    sign_in(page, *credentials)
    state = page.context.storage_state()
    page.context.close()
    return state


@pytest.fixture
def user_page(browser, base_url, traffic, signed_in_state):
    """A page of the signed-in administrator."""
    page = _page(browser, base_url, traffic, signed_in_state)
    yield page
    page.context.close()
