from __future__ import annotations

import pytest
from pydantic import ValidationError

from llm_observatory.core.settings import (
    ApiSettings,
    CollectorSettings,
    InsecureConfiguration,
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
    monkeypatch.setenv("WRITE_METHOD", "insert")
    monkeypatch.setenv("FLUSH_INTERVAL_SECS", "2")
    settings = StorageSettings()
    assert (settings.db_pool_max_size, settings.write_method) == (7, "insert")
    assert settings.flush_interval_secs == 2.0


def test_bad_values_name_the_variable(monkeypatch):
    monkeypatch.setenv("WRITE_METHOD", "carrier-pigeon")
    with pytest.raises(ValidationError, match="write_method"):
        StorageSettings()


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


def test_production_collector_needs_no_database_secrets(monkeypatch):
    from llm_observatory.core.settings import CollectorSettings

    monkeypatch.setenv("ENVIRONMENT", "production")
    CollectorSettings().check_production()  # it holds none, so nothing to refuse


def test_production_storage_checks_the_migration_url_too(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cret@db:5432/x")
    monkeypatch.setenv("REDIS_URL", "redis://:s3cret-redis@redis:6379/0")
    monkeypatch.setenv("MIGRATION_DATABASE_URL", "postgresql://postgres:postgres_dev_password@db/x")
    with pytest.raises(InsecureConfiguration, match="DB_PASSWORD"):
        StorageSettings().check_production()


def test_production_storage_does_not_refuse_over_redis_it_does_not_use(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cret@db:5432/x")
    monkeypatch.setenv("MIGRATION_DATABASE_URL", "postgresql://postgres:s3cret2@db:5432/x")
    monkeypatch.delenv("REDIS_URL", raising=False)
    StorageSettings().check_production()


def test_production_api_names_the_redis_password(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://ro:s3cret@db:5432/x")
    monkeypatch.setenv("REDIS_URL", "redis://:redis_dev_password@redis:6379/0")
    monkeypatch.setenv("JWT_SECRET", "a-real-secret-of-at-least-32-bytes")
    with pytest.raises(InsecureConfiguration, match="REDIS_PASSWORD"):
        ApiSettings().check_production()
