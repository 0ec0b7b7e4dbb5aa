"""`<NAME>_FILE`: every secret setting read from a file (Docker and Swarm secrets)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsError

from llm_observatory.core import settings as settings_module
from llm_observatory.core.secret_files import SECRET_FILE_MAX_BYTES, secret_fields
from llm_observatory.core.startup import CONFIGURATION_ERROR, load_settings

SETTINGS_CLASSES = [
    settings_module.CollectorSettings,
    settings_module.StorageSettings,
    settings_module.MaintenanceSettings,
    settings_module.ApiSettings,
    settings_module.CliSettings,
    settings_module.PlaygroundSettings,
]
# The secrets each service holds; a new secret setting must be declared repr=False.
EXPECTED_SECRETS = {
    "CollectorSettings": {"storage_ingest_token", "ingest_api_keys"},
    "StorageSettings": {"database_url", "db_app_password", "storage_ingest_token"},
    "MaintenanceSettings": {"database_url", "db_password", "jwt_secret"},
    "ApiSettings": {
        "database_url",
        "db_readonly_password",
        "redis_url",
        "redis_password",
        "jwt_secret",
        "ui_admin_password",
    },
    "CliSettings": {"database_url", "db_password", "redis_url", "redis_password", "jwt_secret"},
    "PlaygroundSettings": {"openai_api_key"},
}
# A valid value for each secret (JWT_SECRET's length, ingest keys' name:key format).
VALUES = {
    "database_url": "postgresql://app:s3cret-from-file@db:5432/llm_observatory",
    "redis_url": "redis://:s3cret-from-file@cache:6379/0",
    "jwt_secret": "j" * 40,
    "ingest_api_keys": "team-a:k" + "x" * 30,
}


def test_every_settings_class_is_checked():
    """Every service's class (one no other settings class builds on) is in the list."""
    settings_classes = {
        obj
        for obj in vars(settings_module).values()
        if isinstance(obj, type) and issubclass(obj, settings_module.CommonSettings)
    }
    services = {
        cls.__name__
        for cls in settings_classes
        if not any(other is not cls and issubclass(other, cls) for other in settings_classes)
    }
    assert services == {cls.__name__ for cls in SETTINGS_CLASSES}


@pytest.mark.parametrize("cls", SETTINGS_CLASSES, ids=lambda c: c.__name__)
def test_the_secret_settings_are_the_known_secrets(cls):
    assert set(secret_fields(cls)) == EXPECTED_SECRETS[cls.__name__]


@pytest.mark.parametrize(
    ("cls", "field"),
    [(cls, field) for cls in SETTINGS_CLASSES for field in sorted(EXPECTED_SECRETS[cls.__name__])],
    ids=lambda item: item if isinstance(item, str) else item.__name__,
)
def test_each_secret_is_read_from_its_file(cls, field, tmp_path, monkeypatch):
    value = VALUES.get(field, f"{field}-from-a-file-0123456789")
    path = tmp_path / "secret"
    path.write_text(value + "\n")  # `echo value > file` adds a newline: not part of it
    monkeypatch.setenv(f"{field.upper()}_FILE", str(path))
    settings = cls()
    assert getattr(settings, field) == value
    assert value not in repr(settings)


def test_the_file_wins_over_the_variable(tmp_path, monkeypatch):
    path = tmp_path / "jwt"
    path.write_text("f" * 40)
    monkeypatch.setenv("JWT_SECRET", "e" * 40)
    monkeypatch.setenv("JWT_SECRET_FILE", str(path))
    assert settings_module.ApiSettings().jwt_secret == "f" * 40


def test_without_a_file_the_variable_is_used(monkeypatch):
    monkeypatch.setenv("JWT_SECRET", "e" * 40)
    monkeypatch.setenv("JWT_SECRET_FILE", "")
    assert settings_module.ApiSettings().jwt_secret == "e" * 40


def test_only_secret_settings_have_a_file_variant(tmp_path, monkeypatch):
    path = tmp_path / "level"
    path.write_text("debug")
    monkeypatch.setenv("LOG_LEVEL_FILE", str(path))
    # COST_PRICE_FILE is a setting of its own (a path), not the file of COST_PRICE.
    monkeypatch.setenv("COST_PRICE_FILE", str(path))
    settings = settings_module.CollectorSettings()
    assert settings.log_level == "info"
    assert settings.cost_price_file == str(path)


def test_the_value_keeps_inner_whitespace_and_loses_only_trailing_newlines(tmp_path, monkeypatch):
    path = tmp_path / "token"
    path.write_bytes(b" token with spaces \r\n\n")
    monkeypatch.setenv("STORAGE_INGEST_TOKEN_FILE", str(path))
    assert settings_module.StorageSettings().storage_ingest_token == " token with spaces "


def test_a_missing_file_names_the_variable(monkeypatch):
    monkeypatch.setenv("DATABASE_URL_FILE", "/nonexistent/db_url")
    with pytest.raises(SettingsError, match=r"DATABASE_URL_FILE: cannot read /nonexistent/db_url"):
        settings_module.StorageSettings()


def test_a_huge_file_is_refused_unread(tmp_path, monkeypatch):
    path = tmp_path / "huge"
    path.write_bytes(b"x" * (SECRET_FILE_MAX_BYTES + 1))
    monkeypatch.setenv("JWT_SECRET_FILE", str(path))
    with pytest.raises(SettingsError, match=r"JWT_SECRET_FILE: .* is over"):
        settings_module.ApiSettings()


def test_a_binary_file_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "binary"
    path.write_bytes(b"\xff\xfe\x00")
    monkeypatch.setenv("JWT_SECRET_FILE", str(path))
    with pytest.raises(SettingsError, match="not UTF-8"):
        settings_module.ApiSettings()


def test_an_empty_file_goes_through_the_settings_own_checks(tmp_path, monkeypatch):
    path = tmp_path / "empty"
    path.write_text("")
    monkeypatch.setenv("JWT_SECRET_FILE", str(path))
    with pytest.raises(ValidationError, match="JWT_SECRET must not be empty"):
        settings_module.ApiSettings()


def test_production_checks_the_value_from_the_file(tmp_path, monkeypatch):
    path = tmp_path / "token"
    path.write_text(settings_module.DEVELOPMENT_SECRETS["STORAGE_INGEST_TOKEN"])
    monkeypatch.setenv("STORAGE_INGEST_TOKEN_FILE", str(path))
    monkeypatch.setenv("STORAGE_INGEST_TOKEN", "a-real-token-that-is-long-enough")
    settings = settings_module.StorageSettings(environment="production")
    assert "STORAGE_INGEST_TOKEN" in settings.insecure_defaults()


def test_a_service_with_an_unreadable_file_exits_with_one_line(monkeypatch, capsys):
    monkeypatch.setenv("JWT_SECRET_FILE", "/run/secrets/missing")
    with pytest.raises(SystemExit) as exited:
        load_settings(settings_module.ApiSettings, "api")
    assert exited.value.code == CONFIGURATION_ERROR
    err = capsys.readouterr().err
    assert err.startswith("llm-observatory-api: invalid configuration: JWT_SECRET_FILE")
    assert "Traceback" not in err
