"""Helpers of the browser tests (conftest.py has the fixtures): the browser's
settings, the route that keeps pages off the internet, and the axe-core check."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tests.support import ROOT

CHROMIUM = os.environ.get("LLMO_CHROMIUM", "/usr/bin/chromium")
AXE = ROOT / "src/llm_observatory/api/ui/assets/node_modules/axe-core/axe.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


@dataclass
class Traffic:
    """What the pages of one browser context asked for."""

    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


def new_context(browser, base_url: str, traffic: Traffic, storage_state=None):
    context = browser.new_context(
        base_url=base_url, viewport={"width": 1400, "height": 1000}, storage_state=storage_state
    )

    def route(route_request):
        url = route_request.request.url
        host = urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route_request.continue_()
        else:
            traffic.blocked.append(url)
            route_request.abort()

    context.route("**/*", route)
    return context


def axe_violations(page, axe_source: str, impacts=("serious", "critical")) -> list[str]:
    """axe-core's violations of the given impacts on the page as it is, one line each."""
    # Evaluated over the DevTools protocol: the pages' CSP forbids inline scripts.
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(f"() => {{ {axe_source}\n }}")  # axe-core sets window.axe
    result = page.evaluate("async () => await axe.run(document)")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} - "
        + "; ".join(node["target"][0] for node in v["nodes"][:3])
        for v in result["violations"]
        if v.get("impact") in impacts
    ]


def sign_in(page, user: str, password: str, target: str = "/traces") -> None:
    """Through the login form, as a person does; ends on `target`."""
    page.goto(target)
    assert "/login" in page.url
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: url.endswith(target))
