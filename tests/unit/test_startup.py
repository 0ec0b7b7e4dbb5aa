from __future__ import annotations

import pytest

from llm_observatory.core.settings import CollectorSettings, StorageSettings
from llm_observatory.core.startup import load_settings


def test_a_malformed_variable_exits_2_naming_it(monkeypatch, capsys):
    monkeypatch.setenv("BATCH_SIZE", "lots")
    with pytest.raises(SystemExit) as stopped:
        load_settings(CollectorSettings, "collector")
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "BATCH_SIZE" in err and "'lots'" in err
    assert "Traceback" not in err


def test_production_with_development_secrets_exits_2(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:app_dev_password@db:5432/x")
    with pytest.raises(SystemExit) as stopped:
        load_settings(StorageSettings, "storage")
    assert stopped.value.code == 2


def test_good_settings_come_back(monkeypatch):
    monkeypatch.setenv("BATCH_SIZE", "250")
    assert load_settings(CollectorSettings, "collector").batch_size == 250
