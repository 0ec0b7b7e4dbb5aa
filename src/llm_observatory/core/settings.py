"""Service settings, read from the environment variables the plan names (Appendix B).

Each service has one settings class; what they share lives in `CommonSettings`.
Names are the plan's; where the plan configured Rust's `RUST_LOG`, Python services
read `LOG_LEVEL`.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values shipped in .env.example and compose defaults. They are fine on a laptop and
# must never reach production, so production start-up refuses them (see
# `CommonSettings.insecure_defaults`).
DEVELOPMENT_SECRETS = {
    "JWT_SECRET": "dev_jwt_secret_change_in_production",
    "SECRET_KEY": "dev_secret_key_change_in_production",
    "DB_PASSWORD": "postgres_dev_password",
    "DB_APP_PASSWORD": "app_dev_password",
    "DB_READONLY_PASSWORD": "readonly_dev_password",
    "REDIS_PASSWORD": "redis_dev_password",
}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: str | float | int) -> float:
    """'250ms', '1s', '2m', '1.5' (seconds) -> seconds. The plan writes FLUSH_INTERVAL: "1s"."""
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 500ms, 1s, 2m)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "info"
    log_format: Literal["json", "pretty"] = "json"
    debug: bool = False

    database_url: str = "postgresql://postgres:postgres_dev_password@localhost:5432/llm_observatory"
    redis_url: str = "redis://:redis_dev_password@localhost:6379/0"

    metrics_enabled: bool = True
    metrics_port: int = 9090

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
        """Names of the development secrets still in use (checked in production)."""
        found = []
        password = urlsplit(self.database_url).password
        if password in DEVELOPMENT_SECRETS.values():
            found.append(_which_secret(password))
        redis_password = urlsplit(self.redis_url).password
        if redis_password == DEVELOPMENT_SECRETS["REDIS_PASSWORD"]:
            found.append("REDIS_PASSWORD")
        return found

    def check_production(self) -> None:
        """Refuse to run a production stack on the development secrets."""
        if self.environment != "production":
            return
        insecure = self.insecure_defaults()
        if insecure:
            names = ", ".join(sorted(set(insecure)))
            raise InsecureConfiguration(
                f"ENVIRONMENT=production with development default secrets: set {names} "
                "to new values in .env (invoke env generates random ones)"
            )


def _which_secret(value: str | None) -> str:
    for name, default in DEVELOPMENT_SECRETS.items():
        if default == value:
            return name
    return "a password"


class InsecureConfiguration(RuntimeError):
    pass


class CollectorSettings(CommonSettings):
    otlp_grpc_endpoint: str = "0.0.0.0:4317"
    otlp_http_endpoint: str = "0.0.0.0:4318"
    metrics_endpoint: str = "0.0.0.0:9090"
    storage_service_url: str = "http://storage:8080"

    batch_size: int = Field(1000, ge=1)
    flush_interval: float = 0.005  # longest a partial batch waits for company (e.g. "5ms")
    max_queue_size: int = Field(10000, ge=1)  # spans buffered before back-pressure
    worker_threads: int = Field(4, ge=1)
    max_request_bytes: int = Field(16 * 1024 * 1024, ge=1024)  # decompressed OTLP body limit
    storage_timeout: float = 10.0  # seconds for one forward to storage

    enable_pii_detection: bool = True
    enable_cost_calculation: bool = True
    enable_sampling: bool = False
    sampling_rate: float = Field(1.0, ge=0.0, le=1.0)
    cost_price_file: str = ""

    @field_validator("flush_interval", "storage_timeout", mode="before")
    @classmethod
    def _duration(cls, value: str | float) -> float:
        return parse_duration(value)

    def insecure_defaults(self) -> list[str]:
        # The collector connects to neither the database nor Redis: nothing to refuse.
        return []

    @staticmethod
    def split_endpoint(endpoint: str) -> tuple[str, int]:
        host, _, port = endpoint.rpartition(":")
        return host or "0.0.0.0", int(port)  # noqa: S104 - containers listen on all interfaces


class StorageSettings(CommonSettings):
    api_host: str = "0.0.0.0"  # noqa: S104 - containers listen on all interfaces
    api_port: int = 8080

    db_pool_min_size: int = Field(5, ge=1)
    db_pool_max_size: int = Field(20, ge=1)
    db_pool_timeout: float = 30.0

    batch_size: int = Field(1000, ge=1)
    flush_interval_secs: float = 0.005  # longest a partial batch waits for company
    write_method: Literal["copy", "insert"] = "copy"
    max_queue_size: int = Field(50000, ge=1)  # records waiting for a transaction, per table
    writer_concurrency: int = Field(4, ge=1)  # transactions in flight per table
    run_migrations: bool = True
    retention_days: int = Field(30, ge=0)  # 0 keeps data forever
    # The migration user owns the schema; the service writes as the app role.
    migration_database_url: str = ""

    @field_validator("flush_interval_secs", "db_pool_timeout", mode="before")
    @classmethod
    def _duration(cls, value: str | float) -> float:
        return parse_duration(value)

    @cached_property
    def migrations_url(self) -> str:
        return self.migration_database_url or self.database_url

    def insecure_defaults(self) -> list[str]:
        found = super().insecure_defaults()
        password = urlsplit(self.migrations_url).password
        if password in DEVELOPMENT_SECRETS.values():
            found.append(_which_secret(password))
        return found


class ApiSettings(CommonSettings):
    host: str = "0.0.0.0"  # noqa: S104 - containers listen on all interfaces
    port: int = 8080
    jwt_secret: str = DEVELOPMENT_SECRETS["JWT_SECRET"]
    jwt_algorithm: str = "HS256"
    jwt_expiration: int = 3600
    cors_origins: str = "http://localhost:3000,http://localhost:8080"
    rate_limit_requests: int = 100
    rate_limit_window: int = 60
    graphql_enabled: bool = True
    graphql_playground: bool = False

    def insecure_defaults(self) -> list[str]:
        found = super().insecure_defaults()
        if self.jwt_secret == DEVELOPMENT_SECRETS["JWT_SECRET"]:
            found.append("JWT_SECRET")
        return found
