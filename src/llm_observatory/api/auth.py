"""JWT bearer tokens: minting (the CLI's `token` command) and verification.

Tokens are HMAC-signed with JWT_SECRET (JWT_ALGORITHM) and must carry `sub` (the
client, also the rate-limit key) and `exp`. Only the configured algorithm is
accepted, so a token cannot choose its own ("none", or another HMAC). A token cannot
be revoked, so none lives longer than JWT_MAX_LIFETIME: its lifetime is exp - iat, or
exp - now when it has no iat. With JWT_AUDIENCE / JWT_ISSUER set, `aud` / `iss` must
match them (and minted tokens carry them).

A token may carry `scope` (space-separated, as in RFC 8693): `admin` may also
delete data (DELETE /api/v1/data). A token without it reads, as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from llm_observatory.core.logging import get_logger
from llm_observatory.core.settings import JwtSettings

# Seconds of clock difference tolerated between the minting and the checking machine.
LEEWAY_SECONDS = 10
ADMIN_SCOPE = "admin"
SCOPES = (ADMIN_SCOPE,)

log = get_logger(__name__)


class InvalidToken(Exception):
    """Why a token was refused; the message goes into the 401's WWW-Authenticate."""


@dataclass(frozen=True)
class Principal:
    """Who a valid token speaks for, and what it may do beyond reading."""

    subject: str
    scopes: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return ADMIN_SCOPE in self.scopes


def mint_token(
    subject: str, ttl_seconds: int | None, settings: JwtSettings, scope: str | None = None
) -> str:
    """A signed token for `subject`, valid `ttl_seconds` (default JWT_EXPIRATION)."""
    if not subject:
        raise ValueError("the token subject must not be empty")
    if scope is not None and scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r} (known: {', '.join(SCOPES)})")
    ttl = settings.jwt_expiration if ttl_seconds is None else ttl_seconds
    if ttl <= 0:
        raise ValueError(f"the token lifetime must be positive, not {ttl}")
    if ttl > settings.jwt_max_lifetime:
        raise ValueError(
            f"the token lifetime {ttl}s exceeds JWT_MAX_LIFETIME ({settings.jwt_max_lifetime}s)"
        )
    now = int(time.time())
    claims: dict[str, object] = {"sub": subject, "iat": now, "exp": now + ttl}
    if scope:
        claims["scope"] = scope
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, settings.jwt_secret, algorithm=settings.jwt_algorithm)


def _decode(token: str, settings: JwtSettings) -> dict:
    required = ["exp", "sub"]
    if settings.jwt_audience:
        required.append("aud")
    if settings.jwt_issuer:
        required.append("iss")
    return jwt.decode(
        token,
        settings.jwt_secret,
        algorithms=[settings.jwt_algorithm],
        options={"require": required},
        audience=settings.jwt_audience or None,
        issuer=settings.jwt_issuer or None,
        leeway=LEEWAY_SECONDS,
    )


def verify_token(token: str, settings: JwtSettings) -> str:
    """The token's subject, or InvalidToken saying what is wrong with it."""
    return verify_principal(token, settings).subject


# What a client is told of a token PyJWT refuses: the first entry its error is an
# instance of (subclasses before their bases: InvalidSignatureError is a DecodeError).
_REASONS: tuple[tuple[type[jwt.InvalidTokenError], Callable[[Any, JwtSettings], str]], ...] = (
    (jwt.ExpiredSignatureError, lambda e, s: "the token has expired"),
    (jwt.InvalidSignatureError, lambda e, s: "the token signature is not valid"),
    (jwt.MissingRequiredClaimError, lambda e, s: f"the token has no {e.claim!r} claim"),
    (jwt.InvalidAlgorithmError, lambda e, s: f"the token must be signed with {s.jwt_algorithm}"),
    (jwt.InvalidAudienceError, lambda e, s: "the token's 'aud' claim is not this API's audience"),
    (jwt.InvalidIssuerError, lambda e, s: "the token's 'iss' claim is not the expected issuer"),
    (jwt.DecodeError, lambda e, s: "the token is malformed"),
)


def _why_invalid(exc: jwt.InvalidTokenError, settings: JwtSettings) -> str:
    reason = next((why for kind, why in _REASONS if isinstance(exc, kind)), None)
    return reason(exc, settings) if reason else f"the token is not valid: {exc}"


def verify_principal(token: str, settings: JwtSettings) -> Principal:
    """The token's subject and scopes, or InvalidToken saying what is wrong with it."""
    try:
        claims = _decode(token, settings)
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(_why_invalid(exc, settings)) from exc
    except (jwt.PyJWTError, OverflowError, ValueError, TypeError) as exc:
        # A key PyJWT refuses (a configuration start-up should have refused), or a
        # signed claim too large to be a time: the client gets a 401, the log the reason.
        log.warning("token verification failed", reason=f"{type(exc).__name__}: {exc}")
        raise InvalidToken("the token could not be verified") from exc
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise InvalidToken("the token's 'sub' claim must be a non-empty string")
    _check_lifetime(claims, settings)
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise InvalidToken("the token's 'scope' claim must be a string")
    return Principal(subject, frozenset(scope.split()))


def _check_lifetime(claims: dict, settings: JwtSettings) -> None:
    # PyJWT has checked that exp (and iat, when present) convert with int().
    start = int(claims["iat"]) if "iat" in claims else time.time()
    lifetime = int(claims["exp"]) - start
    if lifetime > settings.jwt_max_lifetime + LEEWAY_SECONDS:
        raise InvalidToken(
            f"the token's lifetime ({int(lifetime)}s) exceeds the longest allowed "
            f"({settings.jwt_max_lifetime}s)"
        )
