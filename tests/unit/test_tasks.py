from __future__ import annotations

import json

import pytest
from invoke import Exit

import tasks
from tests.support import ROOT
from tests.support.compose_cli import RecordingContext, parse
from tests.support.compose_files import raw

BASE = "docker-compose.yml"


def model_files(name: str) -> list[str]:
    """A compose file and, first, the files it includes (Compose loads them all)."""
    document = raw(ROOT / name)
    included = []
    for entry in document.get("include") or []:
        paths = entry if isinstance(entry, str) else entry["path"]
        included += [paths] if isinstance(paths, str) else paths
    return [*included, name]


def mode_model(mode: str) -> list[str]:
    return [loaded for name in tasks.MODES[mode] for loaded in model_files(name)]


@pytest.mark.parametrize(
    ("mode", "overlays"),
    [
        ("base", []),
        ("dev", ["docker-compose.dev.yml"]),
        ("debug", ["docker-compose.dev.yml", "docker-compose.debug.yml"]),
        ("debug-base", ["docker-compose.debug.yml"]),
        ("prod", ["docker-compose.prod.yml"]),
        ("test", ["docker-compose.test-stack.yml"]),
        ("test-runner", ["docker-compose.test-stack.yml", "docker-compose.test.yml"]),
    ],
)
def test_each_mode_loads_the_base_file_once_then_its_overlays(mode, overlays):
    """Loaded twice, the base file would be merged again over an overlay's !override."""
    assert mode_model(mode) == [BASE, *overlays]


def test_compose_command_runs_the_files_of_a_mode_under_its_project(monkeypatch):
    monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)
    call = parse(tasks.compose_command("dev", "up -d api"))
    assert call.project == "llm-observatory"
    assert call.files == tasks.MODES["dev"]
    assert (call.subcommand, call.flags, call.rest) == ("up", {"-d"}, ["api"])


@pytest.mark.parametrize("mode", ["test", "test-runner"])
def test_test_modes_have_their_own_project(monkeypatch, mode):
    monkeypatch.delenv("LLMO_TEST_PROJECT", raising=False)
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "mine")
    assert parse(tasks.compose_command(mode, "ps")).project == "llm-observatory-test"
    monkeypatch.setenv("LLMO_TEST_PROJECT", "llmo-h4-x")
    assert parse(tasks.compose_command(mode, "ps")).project == "llmo-h4-x"
    assert parse(tasks.compose_command("dev", "ps")).project == "mine"


def test_unknown_mode_is_a_clear_error():
    with pytest.raises(Exit, match="unknown mode 'staging'"):
        tasks.compose_command("staging", "up")


class _HealthyStack(RecordingContext):
    """Answers `ps --all --format json` with every started service healthy."""

    def run(self, command, **kwargs):
        result = super().run(command, **kwargs)
        if " ps --all --format json" in command:
            rows = [{"Service": "api", "State": "running", "Health": "healthy"}]
            result.stdout = "\n".join(json.dumps(row) for row in rows)
        return result


@pytest.fixture
def no_airgap(monkeypatch, tmp_path):
    monkeypatch.setattr(tasks, "AIRGAP_ENV", tmp_path / "absent.env")
    for name in ("COMPOSE_FILE", "COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME"):
        monkeypatch.delenv(name, raising=False)


def test_up_starts_the_chosen_services_and_says_which_files_and_profiles(no_airgap, capsys):
    context = _HealthyStack()
    tasks.up.body(context, mode="dev", services="api", profile="tools,monitoring")
    [call] = [call for call in context.compose_calls() if call.subcommand == "up"]
    assert call.files == tasks.MODES["dev"]
    assert call.profiles == ["tools", "monitoring"]
    assert {"--detach", "--wait"} <= call.flags and call.rest == ["api"]
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if "profiles" in line]
    assert said == [
        "  (mode dev, project llm-observatory: files docker-compose.yml + "
        "docker-compose.dev.yml; profiles tools, monitoring)"
    ]


def test_the_summary_counts_compose_profiles_and_names_a_compose_file_it_overrides(
    no_airgap, monkeypatch
):
    monkeypatch.setenv("COMPOSE_PROFILES", "monitoring,tools")
    monkeypatch.setenv("COMPOSE_FILE", "docker-compose.yml:docker-compose.dev.yml")
    summary = tasks.compose_summary("base", "--profile tools run --rm cli health")
    assert "files docker-compose.yml;" in summary
    assert "profiles tools, monitoring" in summary
    assert "COMPOSE_FILE=docker-compose.yml:docker-compose.dev.yml" in summary
    # The same files as COMPOSE_FILE: nothing to warn about.
    assert "COMPOSE_FILE" not in tasks.compose_summary("dev", "ps")


def test_every_visible_compose_command_is_printed_with_its_summary(no_airgap, capsys):
    context = RecordingContext()
    tasks.restart.body(context, mode="prod", service="api")
    err = capsys.readouterr().err.splitlines()
    [command] = context.commands
    assert err[0] == f"+ {command}"
    assert "files docker-compose.yml + docker-compose.prod.yml; profiles none" in err[1]


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


def test_bench_ingest_connects_as_the_owner_the_settings_name(monkeypatch):
    monkeypatch.setenv("DB_USER", "owner")
    monkeypatch.setenv("DB_PASSWORD", "p@ss word")
    monkeypatch.setenv("DB_NAME", "observed")
    monkeypatch.setenv("DB_PORT", "6543")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    ports = {"port collector 4318": "0.0.0.0:40318", "port timescaledb 6543": "0.0.0.0:45432"}
    monkeypatch.setattr(
        tasks, "compose", lambda c, mode, command, **kwargs: _PsResult(ports.get(command, ""))
    )
    c = RecordingContext()
    tasks.bench_ingest(c)
    (command,) = c.commands
    assert "--otlp-url http://127.0.0.1:40318" in command
    assert "--database-url postgresql://owner:p%40ss%20word@127.0.0.1:45432/observed" in command
