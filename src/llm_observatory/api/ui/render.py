"""Jinja2 for the UI's pages: autoescaped templates, number and time filters, headers.

Every page answers with a strict Content-Security-Policy: scripts and styles only
from this origin, no inline script, no frames, forms only to this origin. Data a
script needs travels in `<script type="application/json">` blocks (data, not code).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from llm_observatory.api.state import api_state
from llm_observatory.api.ui import session as sessions
from llm_observatory.api.ui import vendor

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC_PREFIX = "/ui/static/"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def duration(ms: float | None) -> str:
    if ms is None:
        return "—"
    if ms < 1:
        return f"{ms * 1000:.0f} µs"
    if ms < 1000:
        return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    return f"{ms / 60_000:.1f} min"


def cost(usd: float | None) -> str:
    if usd is None:
        return "—"
    if usd == 0:
        return "$0"
    if abs(usd) < 0.01:
        return f"${usd:.6f}".rstrip("0")
    return f"${usd:,.4f}"


def count(value: int | float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).isoformat()


def percent(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value * 100:.1f}%"


def pretty_json(value: Any) -> str:
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def json_for_script(value: Any) -> Markup:
    """JSON safe inside <script type="application/json">: no `</script>` can close it."""
    text = json.dumps(value, default=str, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 - escaped above for this one context


def static(path: str) -> str:
    return STATIC_PREFIX + path


def query_string(current: dict[str, Any], **changes: Any) -> str:
    """The current filters with some changed; empty values dropped."""
    merged = {**current, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(
        duration=duration,
        cost=cost,
        count=count,
        when=when,
        iso=iso,
        percent=percent,
        pretty_json=pretty_json,
        json_for_script=json_for_script,
    )
    env.globals.update(static=static, vendor=vendor.url, query_string=query_string)
    return env


ENVIRONMENT = _environment()


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("current_path", request.url.path)
    context.setdefault("signed_in_as", getattr(request.state, "ui_user", None))
    context.setdefault("csrf_token", getattr(request.state, "ui_csrf", None))
    body = ENVIRONMENT.get_template(template).render(request=request, **context)
    response = HTMLResponse(body, status_code=status_code, headers=PAGE_HEADERS)
    renewed = getattr(request.state, "ui_renewed_token", None)
    if renewed:
        sessions.set_session_cookie(response, api_state(request).settings, request, renewed)
    return response
