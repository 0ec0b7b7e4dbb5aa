"""What every service's settings share: the development secrets production refuses, the
duration type, logging and self-tracing (CommonSettings).

The service classes are in core/settings.py; where the database and Redis are, in
core/connection_settings.py. docs/CONFIGURATION.md lists every variable they read.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, field_validator
from pydantic_settings import SettingsConfigDict

from llm_observatory.core.secret_files import SecretFileSettings

# Values shipped in .env.example and compose defaults. They are fine on a laptop and
# must never reach production, so production start-up refuses them (see
# `CommonSettings.insecure_defaults`).
DEVELOPMENT_SECRETS = {
    "JWT_SECRET": "dev_jwt_secret_change_in_production",
    # Read by nothing (docs/CONFIGURATION.md): kept so that a .env written for an older
    # release, or copied from elsewhere, cannot carry this value into production.
    "SECRET_KEY": "dev_secret_key_change_in_production",
    "DB_PASSWORD": "postgres_dev_password",
    "DB_APP_PASSWORD": "app_dev_password",
    "DB_READONLY_PASSWORD": "readonly_dev_password",
    "DB_REPLICATION_PASSWORD": "replication_dev_password",
    "REDIS_PASSWORD": "redis_dev_password",
    "STORAGE_INGEST_TOKEN": "dev_storage_token_change_in_production",
    # Third-party services: compose passes these, `check-production` refuses them.
    "GRAFANA_ADMIN_PASSWORD": "admin_dev",
    "GRAFANA_DB_PASSWORD": "grafana_dev_password",
    "PGADMIN_PASSWORD": "admin_dev",
    "UI_ADMIN_PASSWORD": "ui_admin_dev_password",
}

# Production refuses shorter secrets: HS256 signs with a 32-byte key, and a password
# shorter than 16 characters is within reach of a guessing attack.
JWT_SECRET_MIN_BYTES = 32
SECRET_MIN_LENGTH = 16

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: str | float | int) -> float:
    """'250ms', '1s', '2m', '1.5' (seconds) -> seconds, as FLUSH_INTERVAL: "1s" is written."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 500ms, 1s, 2m)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


# Seconds, written as a number or with a unit ("5ms", "10s", "2m", "1h").
Duration = Annotated[float, BeforeValidator(parse_duration)]


class CommonSettings(SecretFileSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "info"
    log_format: Literal["json", "pretty"] = "json"

    # Self-tracing to Jaeger; empty disables it. The collector never exports to itself.
    otel_exporter_otlp_endpoint: str = ""

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        # Accept RUST_LOG-style "info,crate=debug" by taking the default level.
        level = value.split(",", 1)[0].strip().lower()
        if level not in {"trace", "debug", "info", "warning", "warn", "error", "critical"}:
            raise ValueError(f"LOG_LEVEL must be debug, info, warning or error, not {value!r}")
        return {"trace": "debug", "warn": "warning"}.get(level, level)

    def insecure_defaults(self) -> list[str]:
        """Names of the development secrets still in use (checked in production).

        Each service checks what it connects with: classes that hold a database URL,
        Redis or a signing key add those checks.
        """
        return []

    def weak_secrets(self) -> list[str]:
        """What is wrong with secrets that are not defaults but too weak (production)."""
        return []

    def check_production(self) -> None:
        """Refuse to run a production stack on the development secrets or weak ones."""
        if self.environment != "production":
            return
        problems = list(self.weak_secrets())
        insecure = self.insecure_defaults()
        if insecure:
            names = ", ".join(sorted(set(insecure)))
            problems.insert(0, f"the development default secrets {names}")
        if problems:
            raise InsecureConfiguration(
                f"ENVIRONMENT=production refuses {'; '.join(problems)}. Set new values "
                "in .env (invoke env generates random ones)"
            )


def which_secret(value: str | None) -> str:
    """The DEVELOPMENT_SECRETS name whose value this is."""
    for name, default in DEVELOPMENT_SECRETS.items():
        if default == value:
            return name
    return "a password"


class InsecureConfiguration(RuntimeError):
    pass
