"""Sign-in for the web UI: the session token in its cookie, and the forms' CSRF tokens.

The cookie holds a short-lived JWT (UI_SESSION_TTL) signed with a key derived from
JWT_SECRET for this use only and carrying the UI audience, so a session token is no
API bearer token and an API token is no session (PyJWT refuses a token with an
audience the caller did not ask for). The cookie is HttpOnly and SameSite=Strict.

Forms carry a CSRF token: while signed in, an HMAC of the session's id; on the login
page (no session yet), a random value also set in a login cookie (double submit).
POSTs from another origin are refused before either is looked at.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import jwt
from starlette.requests import Request
from starlette.responses import Response

from llm_observatory.core.settings import ApiSettings

SESSION_COOKIE = "llmo_session"
LOGIN_CSRF_COOKIE = "llmo_login_csrf"
AUDIENCE = "llm-observatory-ui"
# Seconds of clock difference tolerated (one machine signs and checks: little).
LEEWAY_SECONDS = 5


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    session_id: str
    expires_at: int
    issued_at: int

    def needs_renewal(self, now: float) -> bool:
        """Past half its life: the next response carries a fresh cookie."""
        return now - self.issued_at > (self.expires_at - self.issued_at) / 2


def _key(settings: ApiSettings, purpose: str) -> bytes:
    # One secret to manage (JWT_SECRET), a separate key per use.
    return hmac.new(
        settings.jwt_secret.encode(), f"llm-observatory ui {purpose}".encode(), hashlib.sha256
    ).digest()


def check_password(settings: ApiSettings, user: str, password: str) -> bool:
    """Constant time in the submitted values; an empty UI_ADMIN_PASSWORD lets nobody in."""
    if not settings.ui_admin_password:
        return False
    # Compare digests: equal lengths, so the time says nothing about the lengths either.
    user_ok = hmac.compare_digest(
        hashlib.sha256(user.encode()).digest(),
        hashlib.sha256(settings.ui_admin_user.encode()).digest(),
    )
    password_ok = hmac.compare_digest(
        hashlib.sha256(password.encode()).digest(),
        hashlib.sha256(settings.ui_admin_password.encode()).digest(),
    )
    return user_ok & password_ok


def mint(settings: ApiSettings, user: str, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    claims = {
        "sub": user,
        "aud": AUDIENCE,
        "iat": issued,
        "exp": issued + settings.ui_session_ttl,
        "jti": secrets.token_urlsafe(16),
    }
    return jwt.encode(claims, _key(settings, "session"), algorithm="HS256")


def read(settings: ApiSettings, token: str | None) -> Session | None:
    """The session a cookie value stands for; None if absent, expired, forged or foreign."""
    if not token or len(token) > 2048:
        return None
    try:
        claims = jwt.decode(
            token,
            _key(settings, "session"),
            algorithms=["HS256"],
            audience=AUDIENCE,
            options={"require": ["sub", "exp", "iat", "jti", "aud"]},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.InvalidTokenError:
        return None
    user, jti = claims["sub"], claims["jti"]
    if not isinstance(user, str) or not isinstance(jti, str) or user != settings.ui_admin_user:
        # A renamed administrator's old sessions end with the rename.
        return None
    return Session(user, jti, int(claims["exp"]), int(claims["iat"]))


def csrf_token(settings: ApiSettings, session: Session) -> str:
    digest = hmac.new(_key(settings, "csrf"), session.session_id.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")


def csrf_valid(settings: ApiSettings, session: Session, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(
        csrf_token(settings, session).encode(), str(submitted).encode()
    )


def same_origin(request: Request) -> bool:
    """False for a request a browser says came from another site or origin."""
    if request.headers.get("sec-fetch-site") in {"cross-site", "same-site"}:
        return False
    origin = request.headers.get("origin")
    if origin is None:
        # Old browsers send no Origin; SameSite=Strict and the token still hold.
        return True
    host = request.headers.get("host", "")
    return origin in {f"http://{host}", f"https://{host}"}


def secure_cookies(settings: ApiSettings, request: Request) -> bool:
    return settings.ui_cookie_secure or request.url.scheme == "https"


def set_session_cookie(
    response: Response, settings: ApiSettings, request: Request, token: str
) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.ui_session_ttl,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(settings, request),
    )


def clear_session_cookie(response: Response, settings: ApiSettings, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(settings, request),
    )


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def set_login_csrf_cookie(
    response: Response, settings: ApiSettings, request: Request, value: str
) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        value,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(settings, request),
    )


def login_csrf_valid(request: Request, submitted: str | None) -> bool:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    return bool(expected and submitted) and hmac.compare_digest(
        str(expected).encode(), str(submitted).encode()
    )
