"""JWT minting (the CLI's `token`) and verification."""

from __future__ import annotations

import time

import jwt
import pytest
from pydantic import ValidationError

from llm_observatory.api.auth import InvalidToken, mint_token, verify_token
from llm_observatory.core.settings import ApiSettings, CliSettings, InsecureConfiguration
from llm_observatory.core.startup import load_settings


def now() -> int:
    # Read when a test runs, not at import: in the whole suite a module's tests run
    # many minutes after collection, and a token "exp: now + 60" would have expired.
    return int(time.time())


SECRET = "unit-test-secret-" * 4
SETTINGS = ApiSettings(jwt_secret=SECRET, jwt_expiration=900, jwt_max_lifetime=86400)
# Production settings whose database and Redis secrets are fine.
PRODUCTION = {
    "environment": "production",
    "database_url": "postgresql://u:strong-password@db/x",
    "redis_url": "redis://:strong-password@redis:6379/0",
}


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
        (_encode({"sub": "x", "exp": now() - 3600}), "expired"),
        (_encode({"sub": "x", "exp": now() + 600}, key="another-secret-" * 5), "signature"),
        (_encode({"sub": "x", "exp": now() + 600}, algorithm="HS512"), "HS256"),
        (_encode({"sub": "x", "exp": now() + 600}, key=None, algorithm="none"), "HS256"),
        (_encode({"exp": now() + 600}), "'sub'"),
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
    assert "JWT_SECRET" in ApiSettings(**PRODUCTION).insecure_defaults()
    assert "JWT_SECRET" not in ApiSettings(**PRODUCTION, jwt_secret="k" * 32).insecure_defaults()


# --- secret length, empty secret -------------------------------------------------------


@pytest.mark.parametrize("secret", ["x", "a-real-secret-of-some-length", "é" * 15])
def test_production_refuses_a_jwt_secret_under_32_bytes(secret):
    settings = ApiSettings(**PRODUCTION, jwt_secret=secret)
    with pytest.raises(InsecureConfiguration, match=r"JWT_SECRET of \d+ bytes \(at least 32\)"):
        settings.check_production()


def test_production_accepts_a_32_byte_secret():
    assert ApiSettings(**PRODUCTION, jwt_secret="k" * 32).weak_secrets() == []
    assert ApiSettings(**PRODUCTION, jwt_secret="é" * 16).weak_secrets() == []  # 32 bytes


def test_development_tolerates_a_short_secret():
    ApiSettings(environment="development", jwt_secret="short").check_production()


def test_a_short_secret_stops_the_api_start_naming_jwt_secret(monkeypatch, capsys):
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name.upper(), value)
    monkeypatch.setenv("JWT_SECRET", "only-20-bytes-long!!")
    with pytest.raises(SystemExit) as stopped:
        load_settings(ApiSettings, "api")
    assert stopped.value.code == 2
    assert "JWT_SECRET" in capsys.readouterr().err


@pytest.mark.parametrize("environment", ["development", "production"])
def test_an_empty_secret_stops_the_start_naming_jwt_secret(monkeypatch, capsys, environment):
    monkeypatch.setenv("ENVIRONMENT", environment)
    monkeypatch.setenv("JWT_SECRET", "")
    with pytest.raises(SystemExit) as stopped:
        load_settings(ApiSettings, "api")
    assert stopped.value.code == 2
    assert "JWT_SECRET" in capsys.readouterr().err


def test_a_key_pyjwt_refuses_is_a_401_not_a_500():
    # model_construct skips validation: as if the empty secret had got past start-up.
    broken = ApiSettings.model_construct(**{**SETTINGS.model_dump(), "jwt_secret": ""})
    with pytest.raises(InvalidToken, match="could not be verified"):
        verify_token(mint_token("x", 60, SETTINGS), broken)


# --- lifetime ---------------------------------------------------------------------------


def test_a_token_valid_until_year_9999_is_refused():
    token = _encode({"sub": "x", "iat": now(), "exp": 253402300799})
    with pytest.raises(InvalidToken, match="lifetime"):
        verify_token(token, SETTINGS)


def test_without_iat_the_lifetime_counts_from_now():
    with pytest.raises(InvalidToken, match="lifetime"):
        verify_token(_encode({"sub": "x", "exp": now() + 2 * 86400}), SETTINGS)
    assert verify_token(_encode({"sub": "x", "exp": now() + 86400 - 60}), SETTINGS) == "x"


def test_an_old_iat_makes_a_long_lifetime_even_when_exp_is_near():
    token = _encode({"sub": "x", "iat": now() - 3 * 86400, "exp": now() + 60})
    with pytest.raises(InvalidToken, match="lifetime"):
        verify_token(token, SETTINGS)


def test_the_longest_lifetime_allowed_verifies():
    token = _encode({"sub": "x", "iat": now(), "exp": now() + 86400})
    assert verify_token(token, SETTINGS) == "x"


@pytest.mark.parametrize("exp", ["9999999999999", 1e300, True])
def test_odd_exp_values_never_raise_anything_but_invalid_token(exp):
    with pytest.raises(InvalidToken):
        verify_token(_encode({"sub": "x", "iat": now(), "exp": exp}), SETTINGS)


def test_mint_refuses_a_ttl_over_the_max_lifetime():
    with pytest.raises(ValueError, match="JWT_MAX_LIFETIME"):
        mint_token("x", 86401, SETTINGS)


def test_jwt_expiration_over_the_max_lifetime_is_a_configuration_error():
    with pytest.raises(ValidationError, match="JWT_MAX_LIFETIME"):
        ApiSettings(jwt_expiration=7200, jwt_max_lifetime=3600)


# --- audience and issuer ---------------------------------------------------------------

SCOPED = ApiSettings(jwt_secret=SECRET, jwt_audience="llmo-api", jwt_issuer="llmo-prod")


def test_minted_tokens_carry_the_configured_audience_and_issuer():
    token = mint_token("alice", 60, SCOPED)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="llmo-api")
    assert (claims["aud"], claims["iss"]) == ("llmo-api", "llmo-prod")
    assert verify_token(token, SCOPED) == "alice"


def test_the_cli_mints_what_the_api_accepts():
    cli = CliSettings(jwt_secret=SECRET, jwt_audience="llmo-api", jwt_issuer="llmo-prod")
    assert verify_token(mint_token("bob", 60, cli), SCOPED) == "bob"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({}, "'aud'"),
        ({"aud": "another-api", "iss": "llmo-prod"}, "audience"),
        ({"aud": "llmo-api"}, "'iss'"),
        ({"aud": "llmo-api", "iss": "someone-else"}, "issuer"),
    ],
    ids=["no-aud", "wrong-aud", "no-iss", "wrong-iss"],
)
def test_audience_and_issuer_are_checked_when_set(claims, reason):
    token = _encode({"sub": "x", "iat": now(), "exp": now() + 60, **claims})
    with pytest.raises(InvalidToken) as caught:
        verify_token(token, SCOPED)
    assert reason in str(caught.value)


def test_without_an_audience_setting_a_token_for_another_audience_is_refused():
    token = _encode({"sub": "x", "exp": now() + 60, "aud": "llm-observatory-ui"})
    with pytest.raises(InvalidToken, match="audience"):
        verify_token(token, SETTINGS)
