"""/login and /logout, and the dependency every page stands behind.

A page request without a valid session is redirected to /login?next=<where it was
going>; after sign-in the browser goes back there (only ever to a path on this site).
Sign-in attempts are rate limited per address. Sign-out ends the session for good
where Redis is up (its id is remembered until it would have expired) and removes
the cookie in any case.
"""

from __future__ import annotations

import time
from typing import Annotated
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import RedirectResponse, Response

from llm_observatory.api.ratelimit import RateLimiter
from llm_observatory.api.redis_gate import RedisUnavailable
from llm_observatory.api.state import ApiState, api_state
from llm_observatory.api.ui import session as sessions
from llm_observatory.api.ui.render import render
from llm_observatory.core.logging import get_logger

log = get_logger("llm_observatory.api.ui")

ENDED_PREFIX = "llmo:ui:ended:"
MAX_FORM_BYTES = 8192
# Sign-in attempts per address per minute: enough for typos, too few for guessing.
LOGIN_ATTEMPTS_PER_MINUTE = 10

router = APIRouter(include_in_schema=False)


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class FormTooLarge(Exception):
    pass


def safe_next(value: str | None) -> str:
    """A path on this site to go to after sign-in; anything else becomes /."""
    if not value or len(value) > 2048 or not value.startswith("/") or value.startswith("//"):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or "\\" in value or any(ord(ch) < 32 for ch in value):
        return "/"
    return value


def redirect_to_login(exc: SignInRequired) -> RedirectResponse:
    target = "/login" if exc.next_path == "/" else f"/login?next={quote(exc.next_path, safe='')}"
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form of at most MAX_FORM_BYTES: first value of each field."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLarge
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}


async def _ended(state: ApiState, session_id: str) -> bool:
    try:
        return bool(await state.redis.run(lambda redis: redis.exists(ENDED_PREFIX + session_id)))
    except RedisUnavailable:
        return False


async def require_session(request: Request) -> sessions.Session:
    """The signed-in session; sets what the templates and the renewal need."""
    state = api_state(request)
    current = sessions.read(state.settings, request.cookies.get(sessions.SESSION_COOKIE))
    if current is None or await _ended(state, current.session_id):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(safe_next(target))
    request.state.ui_user = current.user
    request.state.ui_csrf = sessions.csrf_token(state.settings, current)
    if current.needs_renewal(time.time()):
        request.state.ui_renewed_token = sessions.mint(state.settings, current.user)
    return current


Signed = Annotated[sessions.Session, Depends(require_session)]


def _login_page(
    request: Request, next_path: str, status_code: int = 200, error: str | None = None
) -> Response:
    token = sessions.new_login_csrf()
    response = render(
        request,
        "login.html",
        status_code=status_code,
        title="Sign in",
        next_path=next_path,
        login_csrf=token,
        error=error,
        signed_out=request.query_params.get("signed_out") == "1",
        sign_in_disabled=not api_state(request).settings.ui_admin_password,
    )
    sessions.set_login_csrf_cookie(response, api_state(request).settings, request, token)
    return response


@router.get("/login")
async def login_form(request: Request, next: Annotated[str | None, Query()] = None) -> Response:
    state = api_state(request)
    current = sessions.read(state.settings, request.cookies.get(sessions.SESSION_COOKIE))
    if current is not None and not await _ended(state, current.session_id):
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, safe_next(next))


@router.post("/login")
async def login(request: Request) -> Response:
    state = api_state(request)
    settings = state.settings
    try:
        form = await read_form(request)
    except FormTooLarge:
        return _login_page(request, "/", 413, "The form was too large.")
    next_path = safe_next(form.get("next"))
    if not sessions.same_origin(request) or not sessions.login_csrf_valid(
        request, form.get("csrf_token")
    ):
        return _login_page(request, next_path, 403, "The form expired. Please sign in again.")
    client = request.client.host if request.client else "unknown"
    limiter = RateLimiter(state.redis, LOGIN_ATTEMPTS_PER_MINUTE, 60)
    decision = await limiter.hit(f"ui-login:{client}")
    if decision is not None and not decision.allowed:
        response = _login_page(
            request,
            next_path,
            429,
            f"Too many sign-in attempts. Try again in {decision.retry_after} seconds.",
        )
        response.headers["Retry-After"] = str(decision.retry_after)
        return response
    user = form.get("username", "")[:256]
    if not sessions.check_password(settings, user, form.get("password", "")[:1024]):
        log.info("ui sign-in refused", client=client)
        return _login_page(request, next_path, 401, "Wrong user name or password.")
    log.info("ui signed in", user=user, client=client)
    response = RedirectResponse(next_path, status_code=303)
    sessions.set_session_cookie(response, settings, request, sessions.mint(settings, user))
    response.delete_cookie(sessions.LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, current: Signed) -> Response:
    state = api_state(request)
    try:
        form = await read_form(request)
    except FormTooLarge:
        form = {}
    if not sessions.same_origin(request) or not sessions.csrf_valid(
        state.settings, current, form.get("csrf_token")
    ):
        return render(
            request, "error.html", 403, title="Forbidden", message="The form expired; reload."
        )
    remaining = max(1, current.expires_at - int(time.time()) + sessions.LEEWAY_SECONDS)
    try:
        await state.redis.run(
            lambda redis: redis.set(ENDED_PREFIX + current.session_id, "1", ex=remaining)
        )
    except RedisUnavailable:
        log.warning("ui sign-out without redis: the cookie is removed, the token not revoked")
    response = RedirectResponse("/login?signed_out=1", status_code=303)
    sessions.clear_session_cookie(response, state.settings, request)
    log.info("ui signed out", user=current.user)
    return response
