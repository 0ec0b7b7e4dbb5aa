"""JWT bearer tokens: minting (the CLI's `token` command) and verification.

Tokens are HMAC-signed with JWT_SECRET (JWT_ALGORITHM) and must carry `sub` (the
client, also the rate-limit key) and `exp`. Only the configured algorithm is
accepted, so a token cannot choose its own ("none", or another HMAC).
"""

from __future__ import annotations

import time

import jwt

from llm_observatory.core.settings import ApiSettings

# Seconds of clock difference tolerated between the minting and the checking machine.
LEEWAY_SECONDS = 10


class InvalidToken(Exception):
    """Why a token was refused; the message goes into the 401's WWW-Authenticate."""


def mint_token(subject: str, ttl_seconds: int | None, settings: ApiSettings) -> str:
    """A signed token for `subject`, valid `ttl_seconds` (default JWT_EXPIRATION)."""
    if not subject:
        raise ValueError("the token subject must not be empty")
    ttl = settings.jwt_expiration if ttl_seconds is None else ttl_seconds
    if ttl <= 0:
        raise ValueError(f"the token lifetime must be positive, not {ttl}")
    now = int(time.time())
    claims = {"sub": subject, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, settings.jwt_secret, algorithm=settings.jwt_algorithm)


def verify_token(token: str, settings: ApiSettings) -> str:
    """The token's subject, or InvalidToken saying what is wrong with it."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[settings.jwt_algorithm],
            options={"require": ["exp", "sub"]},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("the token has expired") from exc
    except jwt.InvalidSignatureError as exc:
        raise InvalidToken("the token signature is not valid") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"the token has no {exc.claim!r} claim") from exc
    except jwt.InvalidAlgorithmError as exc:
        raise InvalidToken(f"the token must be signed with {settings.jwt_algorithm}") from exc
    except jwt.DecodeError as exc:
        raise InvalidToken("the token is malformed") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"the token is not valid: {exc}") from exc
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise InvalidToken("the token's 'sub' claim must be a non-empty string")
    return subject
