"""`check-production`: the preflight of the prod stack refuses weak or development secrets."""

from __future__ import annotations

import pytest

from llm_observatory.cli import main as cli
from llm_observatory.cli.production import minimum_length, problems, report
from llm_observatory.core.settings import DEVELOPMENT_SECRETS


def strong() -> dict[str, str]:
    return {name: f"{name.lower()}-" + "x" * 40 for name in DEVELOPMENT_SECRETS}


def test_strong_secrets_pass():
    fine, message = report(strong())
    assert fine, message
    assert problems(strong()) == []


@pytest.mark.parametrize("name", sorted(DEVELOPMENT_SECRETS))
def test_each_development_default_is_named(name):
    environ = {**strong(), name: DEVELOPMENT_SECRETS[name]}
    assert problems(environ) == [f"{name} is a development default"]


@pytest.mark.parametrize("name", sorted(DEVELOPMENT_SECRETS))
def test_an_unset_or_empty_secret_is_refused(name):
    unset = {k: v for k, v in strong().items() if k != name}
    assert problems(unset) == [f"{name} is not set (compose would use the development default)"]
    assert len(problems({**strong(), name: ""})) == 1


def test_another_variables_development_value_is_refused_too():
    environ = {**strong(), "GRAFANA_ADMIN_PASSWORD": DEVELOPMENT_SECRETS["DB_PASSWORD"]}
    assert problems(environ) == ["GRAFANA_ADMIN_PASSWORD is a development default"]


def test_minimum_lengths():
    assert minimum_length("JWT_SECRET") == (32, "bytes")
    assert minimum_length("PGADMIN_PASSWORD") == (16, "characters")
    environ = {**strong(), "JWT_SECRET": "j" * 31, "PGADMIN_PASSWORD": "p" * 15}
    assert problems(environ) == [
        "JWT_SECRET is 31 bytes long (at least 32)",
        "PGADMIN_PASSWORD is 15 characters long (at least 16)",
    ]
    assert problems({**strong(), "JWT_SECRET": "j" * 32, "PGADMIN_PASSWORD": "p" * 16}) == []


def test_the_command_exits_2_naming_every_refused_variable(monkeypatch, capsys):
    for name, value in strong().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", "admin_dev")
    monkeypatch.setenv("JWT_SECRET", "too-short")
    monkeypatch.delenv("PGADMIN_PASSWORD")
    assert cli.run(["check-production"]) == 2
    err = capsys.readouterr().err
    for name in ("GRAFANA_ADMIN_PASSWORD", "JWT_SECRET", "PGADMIN_PASSWORD"):
        assert name in err
    assert "DB_PASSWORD" not in err
    assert "invoke env" in err


def test_the_command_passes_with_strong_secrets(monkeypatch, capsys):
    for name, value in strong().items():
        monkeypatch.setenv(name, value)
    assert cli.run(["check-production"]) == 0
    assert "none refused" in capsys.readouterr().out


def test_invoke_env_writes_secrets_production_accepts():
    import tasks
    from tests.support.compose_stack import ROOT

    rendered = tasks.render_env((ROOT / ".env.example").read_text())
    values = dict(
        line.split("=", 1) for line in rendered.splitlines() if "=" in line and line[0] != "#"
    )
    assert problems(values) == []
