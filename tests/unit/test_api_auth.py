"""JWT minting (the CLI's `token`) and verification."""

from __future__ import annotations

import time

import jwt
import pytest
from pydantic import ValidationError

from llm_observatory.api.auth import InvalidToken, mint_token, verify_token
from llm_observatory.core.settings import ApiSettings

NOW = int(time.time())
SETTINGS = ApiSettings(jwt_secret="unit-test-secret-" * 4, jwt_expiration=900)


def test_minted_token_verifies_to_its_subject():
    token = mint_token("alice", 60, SETTINGS)
    assert verify_token(token, SETTINGS) == "alice"
    claims = jwt.decode(token, SETTINGS.jwt_secret, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 60


def test_default_lifetime_is_jwt_expiration():
    claims = jwt.decode(
        mint_token("bob", None, SETTINGS), SETTINGS.jwt_secret, algorithms=["HS256"]
    )
    assert claims["exp"] - claims["iat"] == 900


@pytest.mark.parametrize(("subject", "ttl"), [("", 60), ("carol", 0), ("carol", -5)])
def test_mint_refuses_empty_subject_and_non_positive_ttl(subject, ttl):
    with pytest.raises(ValueError):
        mint_token(subject, ttl, SETTINGS)


def _encode(claims: dict, key: str | None = SETTINGS.jwt_secret, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (_encode({"sub": "x", "exp": NOW - 3600}), "expired"),
        (_encode({"sub": "x", "exp": NOW + 600}, key="another-secret-" * 5), "signature"),
        (_encode({"sub": "x", "exp": NOW + 600}, algorithm="HS512"), "HS256"),
        (_encode({"sub": "x", "exp": NOW + 600}, key=None, algorithm="none"), "HS256"),
        (_encode({"exp": NOW + 600}), "'sub'"),
        (_encode({"sub": "x"}), "'exp'"),
        ("not-a-jwt", "malformed"),
        ("a.b.c", "malformed"),
    ],
    ids=["expired", "wrong-key", "other-alg", "alg-none", "no-sub", "no-exp", "garbage", "dots"],
)
def test_bad_tokens_are_refused_with_a_reason(token, reason):
    with pytest.raises(InvalidToken) as caught:
        verify_token(token, SETTINGS)
    assert reason in str(caught.value)


def test_only_hmac_algorithms_are_configurable():
    with pytest.raises(ValidationError, match="JWT_ALGORITHM"):
        ApiSettings(jwt_algorithm="RS256")
    assert ApiSettings(jwt_algorithm="HS512").jwt_algorithm == "HS512"


def test_production_refuses_the_development_jwt_secret():
    settings = ApiSettings(
        environment="production",
        database_url="postgresql://u:strong-password@db/x",
        redis_url="redis://:strong-password@redis:6379/0",
    )
    assert settings.insecure_defaults() == ["JWT_SECRET"]
