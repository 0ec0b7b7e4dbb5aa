from __future__ import annotations

import json
from pathlib import Path

import pytest
from invoke import Exit

import tasks

ROOT = Path(__file__).resolve().parents[2]


def test_compose_command_lists_the_files_of_a_mode(monkeypatch):
    monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)
    command = tasks.compose_command("dev", "up -d")
    assert command == (
        "docker compose --project-name llm-observatory "
        "-f docker-compose.yml -f docker-compose.dev.yml up -d"
    )


def test_test_mode_has_its_own_project(monkeypatch):
    monkeypatch.delenv("LLMO_TEST_PROJECT", raising=False)
    assert "--project-name llm-observatory-test " in tasks.compose_command("test", "ps")


def test_unknown_mode_is_a_clear_error():
    with pytest.raises(Exit, match="unknown mode 'staging'"):
        tasks.compose_command("staging", "up")


def test_every_mode_starts_from_the_base_file():
    for files in tasks.MODES.values():
        assert files[0] == "docker-compose.yml"


def test_render_env_replaces_every_secret_and_keeps_the_rest():
    example = (ROOT / ".env.example").read_text()
    rendered = tasks.render_env(example)
    values = dict(
        line.split("=", 1) for line in rendered.splitlines() if line and not line.startswith("#")
    )
    originals = dict(
        line.split("=", 1) for line in example.splitlines() if line and not line.startswith("#")
    )
    for key in tasks._SECRET_KEYS:
        assert key in originals, f"{key} is not in .env.example"
        assert values[key] != originals[key]
        assert len(values[key]) >= 24
    assert values["DB_USER"] == originals["DB_USER"]
    assert values["DATABASE_URL"] == originals["DATABASE_URL"]
    assert tasks.render_env(example) != rendered  # fresh secrets every time


def test_env_never_overwrites(tmp_path, monkeypatch):
    (tmp_path / ".env.example").write_text("JWT_SECRET=x\n")
    (tmp_path / ".env").write_text("JWT_SECRET=mine\n")
    monkeypatch.setattr(tasks, "ROOT", tmp_path)
    tasks.env.body(None)
    assert (tmp_path / ".env").read_text() == "JWT_SECRET=mine\n"


def test_env_creates_a_private_file(tmp_path, monkeypatch):
    (tmp_path / ".env.example").write_text("JWT_SECRET=x\nDB_NAME=llm\n")
    monkeypatch.setattr(tasks, "ROOT", tmp_path)
    tasks.env.body(None)
    created = tmp_path / ".env"
    assert "DB_NAME=llm" in created.read_text()
    assert "JWT_SECRET=x\n" not in created.read_text()
    assert created.stat().st_mode & 0o777 == 0o600


def test_parse_ps_json_reads_both_compose_formats():
    lines = '{"Service": "redis", "State": "running"}\n{"Service": "timescaledb"}\n'
    array = '[{"Service": "redis", "State": "running"}, {"Service": "timescaledb"}]'
    assert tasks._parse_ps_json(lines) == tasks._parse_ps_json(array)
    assert tasks._parse_ps_json("") == []


def test_every_task_documents_its_arguments():
    for name in dir(tasks):
        obj = getattr(tasks, name)
        if obj.__class__.__name__ != "Task":
            continue
        assert obj.__doc__, f"task {name} has no docstring"
        arguments = [arg for arg in obj.argspec(obj.body).parameters if arg != "c"]
        for argument in arguments:
            assert argument in obj.help, f"task {name}: argument {argument} has no help="


class _PsResult:
    def __init__(self, stdout: str) -> None:
        self.stdout = stdout
        self.ok = True


def test_status_table_shows_health_and_monitoring_urls(monkeypatch):
    containers = [
        {
            "Service": "grafana",
            "State": "running",
            "Health": "healthy",
            "Publishers": [{"URL": "127.0.0.1", "TargetPort": 3000, "PublishedPort": 3000}],
        },
        {
            "Service": "prometheus",
            "State": "running",
            "Health": "starting",
            "Publishers": [{"URL": "127.0.0.1", "TargetPort": 9090, "PublishedPort": 9090}],
        },
        {
            "Service": "jaeger",
            "State": "running",
            "Health": "healthy",
            "Publishers": [{"URL": "127.0.0.1", "TargetPort": 16686, "PublishedPort": 16686}],
        },
        {"Service": "jaeger-init", "State": "exited", "ExitCode": 0, "Publishers": []},
    ]
    output = "\n".join(json.dumps(item) for item in containers)
    monkeypatch.setattr(tasks, "compose", lambda *args, **kwargs: _PsResult(output))
    table, healthy = tasks.status_table(None, "base")
    lines = {line.split()[1]: line for line in table.splitlines()[1:]}
    assert "http://localhost:3000" in lines["grafana"] and lines["grafana"].startswith("OK")
    assert "http://localhost:16686" in lines["jaeger"]
    assert lines["prometheus"].startswith("!!") and "starting" in lines["prometheus"]
    assert lines["jaeger-init"].startswith("OK") and "done" in lines["jaeger-init"]
    assert healthy is False  # prometheus is still starting


def test_a_one_shot_that_failed_is_not_ok(monkeypatch):
    failed = {"Service": "jaeger-init", "State": "exited", "ExitCode": 1, "Publishers": []}
    monkeypatch.setattr(tasks, "compose", lambda *args, **kwargs: _PsResult(json.dumps(failed)))
    table, healthy = tasks.status_table(None, "base")
    assert healthy is False and "!! jaeger-init" in table
