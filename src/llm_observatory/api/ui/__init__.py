"""The web UI at / on the API's port: server-rendered pages over the API's service layer.

    /login, /logout            sign-in (UI_ADMIN_USER / UI_ADMIN_PASSWORD), session cookie
    /traces, /traces/{id}      trace list with filters; one trace's waterfall and spans
    /sessions, /users, /logs   conversations, end users, the applications' log records
    /models                    requests, tokens, cost and p95 latency over time
    /ui/static/..., /ui/vendor/...  the UI's own files; third-party files from npm

Pages need a signed-in session (else a redirect to /login); static files do not. The
JSON API (/api/v1, /graphql) keeps its bearer tokens and knows nothing of sessions.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from llm_observatory.api.ui import pages, signin, vendor
from llm_observatory.core.settings import ApiSettings

STATIC = Path(__file__).resolve().parent / "static"


def _vendor_route(app: FastAPI, directory: Path) -> None:
    @app.get(vendor.URL_PREFIX + "{path:path}", include_in_schema=False)
    async def vendor_file(path: str) -> Response:
        # Only files package.json lists: nothing else under node_modules is reachable.
        if path not in vendor.vendor_files() or not (directory / path).is_file():
            raise HTTPException(status_code=404, detail="no such file")
        return FileResponse(
            directory / path,
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )


async def _sign_in_required(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, signin.SignInRequired)
    return signin.redirect_to_login(exc)


def mount_ui(app: FastAPI, settings: ApiSettings) -> None:
    """Static and vendor files always (/docs and /graphql use them); pages if UI_ENABLED."""
    _vendor_route(app, vendor.assets_dir(settings.ui_assets_dir))
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    if not settings.ui_enabled:
        return
    app.add_exception_handler(signin.SignInRequired, _sign_in_required)
    app.include_router(signin.router)
    app.include_router(pages.router)
