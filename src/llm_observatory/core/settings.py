"""Service settings, read from the environment variables the compose files pass.

Each service has one settings class; what they share lives in core/settings_base.py
(CommonSettings, the Duration type, DEVELOPMENT_SECRETS) and core/connection_settings.py
(the database and Redis, assembled from their parts). Every default is written once,
here: compose passes a variable only to change it (tests/lint/test_compose_settings.py),
and docs/CONFIGURATION.md lists them all. Where Rust services read `RUST_LOG`, ours
read `LOG_LEVEL`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from llm_observatory.core.connection_settings import (
    AppDatabase,
    DatabaseRoles,
    OwnerDatabase,
    ReadonlyDatabase,
    RedisSettings,
)
from llm_observatory.core.secret_files import SecretFileSettings
from llm_observatory.core.settings_base import (
    DEVELOPMENT_SECRETS,
    JWT_SECRET_MIN_BYTES,
    SECRET_MIN_LENGTH,
    CommonSettings,
    Duration,
    InsecureConfiguration,
    parse_duration,
)

__all__ = [
    "DEVELOPMENT_SECRETS",
    "JWT_SECRET_MIN_BYTES",
    "SECRET_MIN_LENGTH",
    "ApiSettings",
    "CliSettings",
    "CollectorSettings",
    "CommonSettings",
    "Duration",
    "InsecureConfiguration",
    "JwtSettings",
    "MaintenanceSettings",
    "PlaygroundSettings",
    "StorageSettings",
    "parse_duration",
]


class OpsPortSettings(CommonSettings):
    """The port of /health and /metrics (the collector names its METRICS_ENDPOINT)."""

    metrics_port: int = Field(9090, ge=1, le=65535)


class TextSearchSettings(CommonSettings):
    """ENABLE_TEXT_SEARCH: the full-text indexes over prompts, completions and log bodies.

    Maintenance creates or drops them (storage/search_indexes.py); the API answers `q=`
    only while they exist. They are most of the database's cost of an LLM span at
    ingest (docs/INGEST.md): an ingest-heavy stack that never searches turns them off.
    """

    enable_text_search: bool = True


class StorageTokenSettings(SecretFileSettings):
    """The shared secret the collector presents to storage's ingest API."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    storage_ingest_token: str = Field(DEVELOPMENT_SECRETS["STORAGE_INGEST_TOKEN"], repr=False)

    def _insecure_token(self) -> list[str]:
        if self.storage_ingest_token == DEVELOPMENT_SECRETS["STORAGE_INGEST_TOKEN"]:
            return ["STORAGE_INGEST_TOKEN"]
        return []


class CollectorSettings(StorageTokenSettings, CommonSettings):
    otlp_grpc_endpoint: str = "0.0.0.0:4317"
    otlp_http_endpoint: str = "0.0.0.0:4318"
    metrics_endpoint: str = "0.0.0.0:9090"
    storage_service_url: str = "http://storage:8080"

    batch_size: int = Field(1000, ge=1)
    flush_interval: Duration = 0.005  # longest a partial batch waits for company (e.g. "5ms")
    max_queue_size: int = Field(10000, ge=1)  # spans buffered before back-pressure
    max_queue_bytes: int = Field(64 * 1024 * 1024, ge=1024)  # their encoded size, per process
    batch_max_bytes: int = Field(8 * 1024 * 1024, ge=1024)  # one forward to storage
    worker_threads: int = Field(4, ge=1)
    # Worker processes sharing the OTLP ports: one decodes about a core's worth. One
    # for a process started by hand; the compose stack runs two (docker-compose.yml).
    collector_processes: int = Field(1, ge=1, le=32)
    storage_timeout: Duration = 10.0  # for one forward to storage

    # What one export request may carry (collector/limits.py). Over a count limit the
    # request is refused (413 / INVALID_ARGUMENT); over a per-record limit the record is
    # cut and marked with the llmo.truncated attribute.
    max_request_bytes: int = Field(16 * 1024 * 1024, ge=1024)  # after gunzip
    max_items_per_request: int = Field(10_000, ge=1)
    max_decoded_objects: int = Field(1_000_000, ge=1)  # JSON objects + arrays per body
    max_attributes: int = Field(128, ge=1)
    max_events: int = Field(128, ge=0)
    max_links: int = Field(128, ge=0)
    max_attribute_value_length: int = Field(1024 * 1024, ge=64)
    max_message_depth: int = Field(32, ge=1, le=200)
    max_name_length: int = Field(256, ge=16, le=2048)
    # Requests being decoded or stored at once per worker process; more get a retryable
    # 429 / RESOURCE_EXHAUSTED. Bounds the raw bodies held in memory.
    max_concurrent_requests: int = Field(32, ge=1)
    # PII: the most of one string that is scanned; the rest is replaced, never stored
    # unscanned.
    pii_max_scan_bytes: int = Field(1024 * 1024, ge=1024)

    enable_pii_detection: bool = True
    enable_cost_calculation: bool = True
    enable_sampling: bool = False
    sampling_rate: float = Field(1.0, ge=0.0, le=1.0)
    cost_price_file: str = ""

    # OTLP ingest keys, `name:key` pairs (collector/keys.py); empty: ingest is open,
    # which production refuses.
    ingest_api_keys: str = Field("", repr=False)

    def insecure_defaults(self) -> list[str]:
        # The collector connects to neither the database nor Redis, only to storage.
        return self._insecure_token()

    def weak_secrets(self) -> list[str]:
        if not any(entry.strip() for entry in self.ingest_api_keys.split(",")):  # " , ": none
            return ["open OTLP ingest: set INGEST_API_KEYS (name:key pairs)"]
        return []

    @staticmethod
    def split_endpoint(endpoint: str) -> tuple[str, int]:
        host, _, port = endpoint.rpartition(":")
        return host or "0.0.0.0", int(port)  # noqa: S104 - containers listen on all interfaces


class StorageSettings(StorageTokenSettings, AppDatabase, OpsPortSettings):
    """The storage service writes as the app role (compose passes DATABASE_APP_URL as its
    DATABASE_URL); it never holds the owner's credentials: migrations and retention are
    maintenance's."""

    api_host: str = "0.0.0.0"  # noqa: S104 - containers listen on all interfaces
    api_port: int = 8080

    db_pool_min_size: int = Field(5, ge=1)
    db_pool_max_size: int = Field(20, ge=1)
    db_pool_timeout: Duration = 30.0

    batch_size: int = Field(1000, ge=1)
    flush_interval_secs: Duration = 0.005  # longest a partial batch waits for company
    # Rows arrive as COPY text: COPY (into a staging table, then INSERT ... ON CONFLICT
    # DO NOTHING) is the only write method.
    write_method: Literal["copy"] = "copy"
    max_queue_size: int = Field(50000, ge=1)  # records waiting for a transaction, per table
    max_queue_bytes: int = Field(128 * 1024 * 1024, ge=1024)  # their size, per table
    batch_max_bytes: int = Field(16 * 1024 * 1024, ge=1024)  # one transaction
    max_ingest_body_bytes: int = Field(64 * 1024 * 1024, ge=1024)  # one ingest request
    # A refused row is kept in rejected_records cut to this many bytes.
    rejected_record_max_bytes: int = Field(64 * 1024, ge=256)
    writer_concurrency: int = Field(4, ge=1)  # transactions in flight per table

    def insecure_defaults(self) -> list[str]:
        return super().insecure_defaults() + self._insecure_token()


class MaintenanceSettings(DatabaseRoles, OwnerDatabase, TextSearchSettings, OpsPortSettings):
    """`llm-observatory-maintenance`: the one service with the owner's URL (DATABASE_URL).

    It applies the migrations at start-up (RUN_MIGRATIONS), checks them again every
    MAINTENANCE_INTERVAL (a recreated database gets its schema back), enforces
    RETENTION_DAYS, evaluates BUDGETS_FILE and carries out the API's deletion requests.
    """

    run_migrations: bool = True
    retention_days: int = Field(30, ge=0)  # 0 keeps data forever
    maintenance_interval: Duration = Field(60.0, gt=0)
    retention_interval: Duration = Field(3600.0, gt=0)
    # How often the replicas' lag is read for /metrics (storage/replication.py).
    replication_check_interval: Duration = Field(10.0, gt=0)
    # Budgets (storage/budgets.py): the file, validated at start-up (empty: none), and
    # how often the spend is computed for /metrics and budget_status.
    budgets_file: str = ""
    budget_interval: Duration = Field(60.0, gt=0)
    # Deletions asked through the API (storage/deletion_requests.py): how often pending
    # ones are looked for, and rows per delete transaction (also the CLI's default).
    deletion_poll_interval: Duration = Field(10.0, gt=0)
    deletion_batch_size: int = Field(1000, ge=1, le=100_000)
    # The API's JWT_SECRET: the API signs deletion requests with a key derived from it.
    jwt_secret: str = Field(DEVELOPMENT_SECRETS["JWT_SECRET"], repr=False)


class JwtSettings(CommonSettings):
    """The API's bearer tokens: the API verifies them, the CLI's `token` mints them."""

    jwt_secret: str = Field(DEVELOPMENT_SECRETS["JWT_SECRET"], repr=False)
    jwt_algorithm: str = "HS256"
    jwt_expiration: int = Field(3600, gt=0)  # seconds a minted token is valid by default
    # Longest lifetime accepted (exp - iat, or exp - now without iat): tokens cannot be
    # revoked, so a stolen one is bounded by this.
    jwt_max_lifetime: int = Field(30 * 24 * 3600, gt=0)
    # When set, tokens must carry this `aud` / `iss`, and minted tokens do.
    jwt_audience: str = ""
    jwt_issuer: str = ""

    @field_validator("jwt_secret")
    @classmethod
    def _secret_not_empty(cls, value: str) -> str:
        # An empty HMAC key signs nothing PyJWT will verify: every request would fail.
        if not value:
            raise ValueError("JWT_SECRET must not be empty (invoke env generates one)")
        return value

    @field_validator("jwt_algorithm")
    @classmethod
    def _symmetric_algorithm(cls, value: str) -> str:
        # The API has one shared secret (JWT_SECRET): only HMAC algorithms make sense.
        if value not in {"HS256", "HS384", "HS512"}:
            raise ValueError(f"JWT_ALGORITHM must be HS256, HS384 or HS512, not {value!r}")
        return value

    @model_validator(mode="after")
    def _expiration_within_max_lifetime(self) -> JwtSettings:
        if self.jwt_expiration > self.jwt_max_lifetime:
            raise ValueError(
                f"JWT_EXPIRATION ({self.jwt_expiration}s) exceeds JWT_MAX_LIFETIME "
                f"({self.jwt_max_lifetime}s)"
            )
        return self

    def weak_secrets(self) -> list[str]:
        size = len(self.jwt_secret.encode())
        if self.jwt_secret != DEVELOPMENT_SECRETS["JWT_SECRET"] and size < JWT_SECRET_MIN_BYTES:
            return [
                *super().weak_secrets(),
                f"a JWT_SECRET of {size} bytes (at least {JWT_SECRET_MIN_BYTES})",
            ]
        return super().weak_secrets()


class ApiSettings(
    JwtSettings, ReadonlyDatabase, RedisSettings, TextSearchSettings, OpsPortSettings
):
    host: str = "0.0.0.0"  # noqa: S104 - containers listen on all interfaces
    port: int = 8080
    cors_origins: str = "http://localhost:3000,http://localhost:8080"
    rate_limit_requests: int = Field(100, ge=1)
    rate_limit_window: int = Field(60, ge=1)  # seconds
    # METRICS_ENABLED=false turns /metrics off, never /health (the healthcheck's).
    metrics_enabled: bool = True
    graphql_enabled: bool = True
    # GraphiQL at /graphql, and introspection: both off unless set (production).
    graphql_playground: bool = False
    # What one GraphQL request may ask (api/graphql_limits.py); past a limit the request
    # is refused before it runs, with an error naming the limit. A body over
    # graphql_max_body_bytes is refused unread (413).
    graphql_max_body_bytes: int = Field(16_384, ge=1_024)
    graphql_max_tokens: int = Field(1_000, ge=100)
    graphql_max_depth: int = Field(7, ge=2)
    graphql_max_aliases: int = Field(10, ge=0)
    # Cost: each database statement a field may run costs 100 (a REST request runs up
    # to about 10), a page its `first`, each field 1; also the statements' budget.
    graphql_max_cost: int = Field(1_000, ge=100)
    # A page cursor the client hands back (REST and GraphQL): the API's own are shorter
    # (an id of 256 CJK characters makes about 1,100). At most 4,096: a request line
    # stays within the server's 64 KiB even with every filter at its longest.
    max_cursor_length: int = Field(2_048, ge=256, le=4_096)

    # The API reads with the read-only role (compose passes DATABASE_READONLY_URL as its
    # DATABASE_URL).
    db_pool_min_size: int = Field(2, ge=1)
    db_pool_max_size: int = Field(10, ge=1)
    db_pool_timeout: Duration = 10.0
    # How long a read connection lives: after a replica came back, reads return to it.
    db_pool_max_lifetime: Duration = Field(300.0, gt=0)
    db_statement_timeout: Duration = 30.0  # a runaway query must not hold a connection
    cache_ttl: int = Field(30, ge=1)  # seconds a usage answer is served from Redis
    # Redis is optional for answering: each call waits this long at most, and after a
    # failure the API stops trying for redis_retry_after seconds.
    redis_timeout: Duration = 0.25
    redis_retry_after: Duration = 5.0

    # The web UI at / (api/ui): one administrator signs in with these; the session
    # cookie carries a token valid ui_session_ttl seconds (renewed while in use).
    ui_enabled: bool = True
    ui_admin_user: str = "admin"
    ui_admin_password: str = Field(DEVELOPMENT_SECRETS["UI_ADMIN_PASSWORD"], repr=False)
    ui_session_ttl: int = Field(3600, ge=60, le=7 * 24 * 3600)
    # Secure cookies (HTTPS only): set true behind a TLS proxy. Requests arriving
    # over https get them anyway.
    ui_cookie_secure: bool = False
    # The npm files the UI, /docs and /graphql serve (api/ui/assets/package.json);
    # empty: api/ui/assets/node_modules next to the code (`invoke ui-assets`).
    ui_assets_dir: str = ""

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    def insecure_defaults(self) -> list[str]:
        found = super().insecure_defaults() + self._insecure_redis()
        if self.jwt_secret == DEVELOPMENT_SECRETS["JWT_SECRET"]:
            found.append("JWT_SECRET")
        if self.ui_enabled and self.ui_admin_password == DEVELOPMENT_SECRETS["UI_ADMIN_PASSWORD"]:
            found.append("UI_ADMIN_PASSWORD")
        return found


class CliSettings(JwtSettings, DatabaseRoles, OwnerDatabase, RedisSettings):
    """`llm-observatory` (the CLI and the backup service). DATABASE_URL is the owner's URL:
    migrations, reset and restore change the schema."""

    # What `health` checks: in-network names, as the cli container sees the stack.
    collector_health_url: str = "http://collector:9090/health"
    storage_health_url: str = "http://storage:9090/health"
    api_health_url: str = "http://api:8080/health"
    grafana_health_url: str = "http://grafana:3000/api/health"
    prometheus_health_url: str = "http://prometheus:9090/-/ready"
    jaeger_health_url: str = "http://jaeger:14269/"
    # Checks whose failure makes `health` exit 1; the others (profiles) are reported only.
    health_required: str = "database,redis,collector,storage,api"
    health_timeout: Duration = Field(3.0, gt=0)

    backup_dir: str = "/backups"
    backup_keep_count: int = Field(7, ge=0)  # newest dumps kept; 0: no limit
    backup_keep_days: int = Field(0, ge=0)  # dumps younger than this kept; 0: no limit
    backup_s3_bucket: str = ""
    backup_s3_prefix: str = ""
    backup_s3_endpoint_url: str = ""  # MinIO, R2, ... ; empty: AWS
    backup_s3_region: str = ""

    @property
    def required_checks(self) -> set[str]:
        return {name.strip() for name in self.health_required.split(",") if name.strip()}


class PlaygroundSettings(OpsPortSettings):
    """sdk-playground: example LLM apps exporting to the collector at a steady rate."""

    playground_rate: float = Field(1.0, gt=0, le=1000)  # traces per second
    playground_scenarios: str = ""  # comma-separated; empty runs every one available
    playground_workers: int = Field(4, ge=1, le=64)  # scenarios in flight at once
    playground_model: str = "gpt-4o-mini"
    playground_embedding_model: str = "text-embedding-3-small"
    # Set: the real OpenAI API (or OPENAI_BASE_URL) instead of the built-in fake.
    openai_api_key: str = Field("", repr=False)
    otel_service_name: str = "llm-observatory-playground"

    @property
    def scenarios(self) -> list[str]:
        return [name.strip() for name in self.playground_scenarios.split(",") if name.strip()]
