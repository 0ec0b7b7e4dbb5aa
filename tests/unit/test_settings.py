from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from pydantic import ValidationError

from llm_observatory.collector.limits import Limits
from llm_observatory.core import settings as settings_module
from llm_observatory.core.settings import (
    DEVELOPMENT_SECRETS,
    ApiSettings,
    CliSettings,
    CollectorSettings,
    InsecureConfiguration,
    MaintenanceSettings,
    PlaygroundSettings,
    StorageSettings,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "seconds"), [("1s", 1.0), ("250ms", 0.25), ("2m", 120.0), ("1.5", 1.5), (3, 3.0)]
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_parse_duration_rejects_garbage():
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def test_collector_reads_the_plans_variable_names(monkeypatch):
    monkeypatch.setenv("BATCH_SIZE", "500")
    monkeypatch.setenv("FLUSH_INTERVAL", "250ms")
    monkeypatch.setenv("MAX_QUEUE_SIZE", "2000")
    monkeypatch.setenv("ENABLE_PII_DETECTION", "false")
    monkeypatch.setenv("STORAGE_SERVICE_URL", "http://storage:8080")
    settings = CollectorSettings()
    assert settings.batch_size == 500
    assert settings.flush_interval == 0.25
    assert settings.max_queue_size == 2000
    assert settings.enable_pii_detection is False
    assert settings.storage_service_url == "http://storage:8080"


def test_storage_reads_pool_and_writer_settings(monkeypatch):
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "7")
    monkeypatch.setenv("FLUSH_INTERVAL_SECS", "2")
    monkeypatch.setenv("MAX_INGEST_BODY_BYTES", "1048576")
    monkeypatch.setenv("REJECTED_RECORD_MAX_BYTES", "4096")
    settings = StorageSettings()
    assert settings.db_pool_max_size == 7
    assert settings.flush_interval_secs == 2.0
    assert (settings.max_ingest_body_bytes, settings.rejected_record_max_bytes) == (1048576, 4096)


# "insert" was a write method; rows arrive as COPY text now, so COPY is the only one.
@pytest.mark.parametrize("method", ["carrier-pigeon", "insert"])
def test_bad_values_name_the_variable(monkeypatch, method):
    monkeypatch.setenv("WRITE_METHOD", method)
    with pytest.raises(ValidationError, match="write_method"):
        StorageSettings()


def test_collector_reads_the_request_limits(monkeypatch):
    monkeypatch.setenv("MAX_ITEMS_PER_REQUEST", "500")
    monkeypatch.setenv("MAX_ATTRIBUTE_VALUE_LENGTH", "4096")
    monkeypatch.setenv("MAX_NAME_LENGTH", "128")
    monkeypatch.setenv("MAX_CONCURRENT_REQUESTS", "3")
    settings = CollectorSettings()
    limits = Limits.from_settings(settings)
    assert (limits.max_items_per_request, limits.max_attribute_value_length) == (500, 4096)
    assert limits.max_name_length == 128
    assert settings.max_concurrent_requests == 3


def test_maintenance_reads_its_schedule(monkeypatch):
    monkeypatch.setenv("RUN_MIGRATIONS", "false")
    monkeypatch.setenv("RETENTION_DAYS", "7")
    monkeypatch.setenv("MAINTENANCE_INTERVAL", "2m")
    monkeypatch.setenv("RETENTION_INTERVAL", "30s")
    settings = MaintenanceSettings()
    assert (settings.run_migrations, settings.retention_days) == (False, 7)
    assert (settings.maintenance_interval, settings.retention_interval) == (120.0, 30.0)


def test_rust_log_style_level_is_accepted(monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "warn,llm_observatory=debug")
    assert CollectorSettings().log_level == "warning"


def test_unknown_log_level_is_refused(monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "chatty")
    with pytest.raises(ValidationError, match="LOG_LEVEL"):
        CollectorSettings()


def test_production_refuses_development_secrets(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:app_dev_password@db:5432/x")
    monkeypatch.setenv("REDIS_URL", "redis://:s3cret-redis@redis:6379/0")
    monkeypatch.setenv("JWT_SECRET", "a-real-secret-of-at-least-32-bytes")
    with pytest.raises(InsecureConfiguration, match="DB_APP_PASSWORD"):
        ApiSettings().check_production()


def test_production_names_the_jwt_secret(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cret@db:5432/x")
    monkeypatch.setenv("REDIS_URL", "redis://:s3cret-redis@redis:6379/0")
    with pytest.raises(InsecureConfiguration, match="JWT_SECRET"):
        ApiSettings().check_production()


def test_production_with_real_secrets_starts(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cret@db:5432/x")
    monkeypatch.setenv("REDIS_URL", "redis://:s3cret-redis@redis:6379/0")
    monkeypatch.setenv("JWT_SECRET", "a-real-secret-of-at-least-32-bytes")
    monkeypatch.setenv("UI_ADMIN_PASSWORD", "a-real-ui-password")
    ApiSettings().check_production()


def test_development_tolerates_development_secrets(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:app_dev_password@db:5432/x")
    ApiSettings().check_production()


def test_production_collector_holds_no_database_redis_or_jwt_secret(monkeypatch):
    # The collector talks to storage alone: no setting of its could carry a database,
    # Redis or JWT secret ...
    held = [
        name
        for name in CollectorSettings.model_fields
        if re.search(r"database|dsn|db_|redis|jwt|password", name)
    ]
    assert not held, held
    # ... so with every development secret in its environment, production refuses the
    # one it sends (the storage token) and nothing else ...
    monkeypatch.setenv("ENVIRONMENT", "production")
    for name, value in DEVELOPMENT_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:app_dev_password@db:5432/x")
    monkeypatch.setenv("REDIS_URL", "redis://:redis_dev_password@redis:6379/0")
    monkeypatch.setenv("INGEST_API_KEYS", "ci:a-real-ingest-key-0123456789")
    with pytest.raises(InsecureConfiguration, match=r"secrets STORAGE_INGEST_TOKEN\. Set"):
        CollectorSettings().check_production()
    # ... and starts once that one is real.
    monkeypatch.setenv("STORAGE_INGEST_TOKEN", "a-real-storage-token-0123456789")
    CollectorSettings().check_production()


def test_production_storage_refuses_the_development_ingest_token(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cret@db:5432/x")
    monkeypatch.delenv("STORAGE_INGEST_TOKEN", raising=False)
    with pytest.raises(InsecureConfiguration, match="STORAGE_INGEST_TOKEN"):
        StorageSettings().check_production()


def test_production_maintenance_refuses_the_development_owner_password(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres:postgres_dev_password@db/x")
    with pytest.raises(InsecureConfiguration, match="DB_PASSWORD"):
        MaintenanceSettings().check_production()
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres:s3cret2@db:5432/x")
    MaintenanceSettings().check_production()


def test_production_storage_does_not_refuse_over_redis_it_does_not_use(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cret@db:5432/x")
    monkeypatch.setenv("STORAGE_INGEST_TOKEN", "a-real-storage-token-0123456789")
    monkeypatch.delenv("REDIS_URL", raising=False)
    StorageSettings().check_production()


def test_production_api_names_the_redis_password(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://ro:s3cret@db:5432/x")
    monkeypatch.setenv("REDIS_URL", "redis://:redis_dev_password@redis:6379/0")
    monkeypatch.setenv("JWT_SECRET", "a-real-secret-of-at-least-32-bytes")
    with pytest.raises(InsecureConfiguration, match="REDIS_PASSWORD"):
        ApiSettings().check_production()


# --- database and Redis URLs: assembled from the parts, a whole URL wins -----------------

DB_VARIABLES = (
    "DATABASE_URL",
    "DATABASE_APP_URL",
    "DATABASE_READONLY_URL",
    "DB_HOST",
    "DB_PORT",
    "DB_NAME",
    "DB_USER",
    "DB_PASSWORD",
    "DB_APP_USER",
    "DB_APP_PASSWORD",
    "DB_READONLY_USER",
    "DB_READONLY_PASSWORD",
    "DB_READONLY_HOST",
    "REDIS_URL",
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_PASSWORD",
)


@pytest.fixture
def db_env(monkeypatch):
    for name in DB_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    monkeypatch.setenv("DB_HOST", "db.internal")
    monkeypatch.setenv("DB_PORT", "6543")
    monkeypatch.setenv("DB_NAME", "observatory")
    return monkeypatch


@pytest.mark.parametrize(
    ("cls", "user", "password", "role"),
    [
        (MaintenanceSettings, "DB_USER", "DB_PASSWORD", "owner"),
        (CliSettings, "DB_USER", "DB_PASSWORD", "owner"),
        (StorageSettings, "DB_APP_USER", "DB_APP_PASSWORD", "writer"),
        (ApiSettings, "DB_READONLY_USER", "DB_READONLY_PASSWORD", "reader"),
    ],
)
def test_each_service_assembles_its_roles_url_from_the_parts(db_env, cls, user, password, role):
    db_env.setenv(user, role)
    db_env.setenv(password, f"{role}-s3cret")
    url = cls().database_url
    assert url == f"postgresql://{role}:{role}-s3cret@db.internal:6543/observatory"


def test_the_default_url_is_the_development_one_on_localhost(db_env):
    for name in ("DB_HOST", "DB_PORT", "DB_NAME"):
        db_env.delenv(name)
    assert StorageSettings().database_url == (
        "postgresql://llm_observatory_app:app_dev_password@localhost:5432/llm_observatory"
    )


def test_a_password_with_url_characters_survives(db_env):
    password = "p@ss:w/rd?#%"
    db_env.setenv("DB_APP_PASSWORD", password)
    parts = urlsplit(StorageSettings().database_url)
    assert unquote(parts.password) == password
    assert (parts.hostname, parts.port, parts.path) == ("db.internal", 6543, "/observatory")


@pytest.mark.parametrize(
    ("cls", "variable"),
    [
        (MaintenanceSettings, "DATABASE_URL"),
        (StorageSettings, "DATABASE_URL"),
        (StorageSettings, "DATABASE_APP_URL"),
        (ApiSettings, "DATABASE_URL"),
        (ApiSettings, "DATABASE_READONLY_URL"),
    ],
)
def test_a_whole_url_wins_over_the_parts(db_env, cls, variable):
    db_env.setenv("DB_PASSWORD", "ignored")
    db_env.setenv(variable, "postgresql://someone:pw@managed.example:5432/db?sslmode=require")
    assert cls().database_url == "postgresql://someone:pw@managed.example:5432/db?sslmode=require"


def test_the_role_url_of_another_service_is_not_read(db_env):
    db_env.setenv("DATABASE_READONLY_URL", "postgresql://ro:pw@elsewhere/db")
    assert "elsewhere" not in StorageSettings().database_url
    assert "elsewhere" not in MaintenanceSettings().database_url


def test_a_url_from_a_secret_file_wins(db_env, tmp_path):
    path = tmp_path / "url"
    path.write_text("postgresql://app:from-file@db/x\n")
    db_env.setenv("DATABASE_APP_URL", "postgresql://app:from-env@db/x")
    db_env.setenv("DATABASE_URL_FILE", str(path))
    assert StorageSettings().database_url == "postgresql://app:from-file@db/x"


def test_a_password_from_a_secret_file_goes_into_the_url(db_env, tmp_path):
    path = tmp_path / "password"
    path.write_text("from-a-file\n")
    db_env.setenv("DB_APP_PASSWORD_FILE", str(path))
    assert urlsplit(StorageSettings().database_url).password == "from-a-file"


def test_the_api_reads_a_replica_first_and_falls_back_to_the_primary(db_env):
    db_env.setenv("DB_READONLY_HOST", "timescaledb-replica")
    url = ApiSettings().database_url
    assert url.startswith("postgresql://llm_observatory_readonly:readonly_dev_password@")
    assert "@timescaledb-replica:6543,db.internal:6543/observatory?" in url
    assert url.endswith("?target_session_attrs=prefer-standby&connect_timeout=3")


def test_redis_url_from_its_parts_or_whole(db_env):
    db_env.setenv("REDIS_HOST", "cache")
    db_env.setenv("REDIS_PORT", "6380")
    db_env.setenv("REDIS_PASSWORD", "r3dis")
    assert ApiSettings().redis_url == "redis://:r3dis@cache:6380/0"
    db_env.setenv("REDIS_URL", "rediss://:other@tls-cache:6379/2")
    assert CliSettings().redis_url == "rediss://:other@tls-cache:6379/2"


def test_production_names_the_role_password_given_as_a_part(db_env):
    db_env.setenv("ENVIRONMENT", "production")
    db_env.setenv("STORAGE_INGEST_TOKEN", "a-real-storage-token-0123456789")
    with pytest.raises(InsecureConfiguration, match="DB_APP_PASSWORD"):
        StorageSettings().check_production()
    db_env.setenv("DB_APP_PASSWORD", "a-real-app-password")
    StorageSettings().check_production()


def test_services_without_a_database_hold_no_database_settings():
    assert "database_url" not in CollectorSettings.model_fields
    assert "database_url" not in PlaygroundSettings.model_fields


# --- one duration type ---------------------------------------------------------------


def _duration_fields():
    return [
        (cls, name)
        for cls in (
            CollectorSettings,
            StorageSettings,
            MaintenanceSettings,
            ApiSettings,
            CliSettings,
        )
        for name, info in cls.model_fields.items()
        if any(getattr(m, "func", None) is parse_duration for m in info.metadata)
    ]


def test_every_duration_takes_units():
    fields = _duration_fields()
    # The ones a user writes with units in .env.example and compose.
    names = {name for _, name in fields}
    assert {"flush_interval", "budget_interval", "db_pool_timeout", "redis_timeout"} <= names
    for cls, name in fields:
        assert cls(**{name: "1500ms"}).__getattribute__(name) == 1.5, (cls.__name__, name)


def test_no_settings_class_writes_its_own_duration_validator():
    source = Path(settings_module.__file__).read_text()
    assert "parse_duration(value)" not in source
