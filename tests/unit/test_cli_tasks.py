"""The database/tool tasks run the CLI where they promise, with the arguments they promise.

Nothing is run: a recording Context keeps each command, which is read back (files,
project, profiles, exec or `run --rm`, service) and the CLI's part parsed by the CLI's
own argument parser, so a test fails when what the task does changes, not when its
spelling does.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
from invoke import Exit, Result

import tasks
from llm_observatory.cli.main import parse_args
from tests.support.compose_cli import ComposeCall, RecordingContext, parse


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch):
    for name in ("DB_READONLY_USER", "DB_READONLY_PASSWORD", "COMPOSE_PROJECT_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("COMPOSE_PROFILES", raising=False)
    monkeypatch.setenv("LLMO_TEST_PROJECT", "llmo-unit-test")


def one_call(context: RecordingContext) -> ComposeCall:
    calls = context.compose_calls()
    assert len(calls) == 1, context.commands
    return calls[0]


def assert_cli_run(call: ComposeCall, mode: str = "base", *, running: bool = False) -> None:
    """The cli service of `mode`, profile tools: `exec` into it when up, else `run --rm`."""
    assert call.files == tasks.MODES[mode]
    assert call.project == tasks.project_name(mode)
    assert "tools" in call.profiles
    assert call.service == "cli"
    if running:
        assert call.subcommand == "exec"
    else:
        assert call.subcommand == "run" and "--rm" in call.flags


@pytest.mark.parametrize(
    ("task", "kwargs", "expected"),
    [
        (tasks.migrate, {}, {"command": "migrate", "action": "run"}),
        (tasks.migrate, {"revert": True}, {"command": "migrate", "action": "revert"}),
        (tasks.migrate, {"status": True}, {"command": "migrate", "action": "status"}),
        (tasks.seed, {"count": 500}, {"command": "seed", "count": 500, "days": 7.0, "seed": 42}),
        (tasks.seed, {"count": "20", "days": "1.5"}, {"count": 20, "days": 1.5}),
        (tasks.reset, {}, {"command": "reset", "confirm": False}),
        (tasks.reset, {"confirm": True}, {"command": "reset", "confirm": True}),
        (tasks.backup, {}, {"command": "backup", "output": None}),
        (tasks.backup, {"output": "/backups/a b.dump"}, {"output": Path("/backups/a b.dump")}),
        (tasks.restore, {"path": "/backups/latest.dump"}, {"path": Path("/backups/latest.dump")}),
        (tasks.token, {}, {"command": "token", "subject": "developer", "ttl": None}),
        (tasks.token, {"subject": "alice", "ttl": 60}, {"subject": "alice", "ttl": 60}),
        (tasks.token, {"scope": "admin"}, {"scope": "admin"}),
        (
            tasks.delete,
            {"user": "u-1", "before": "2026-01-01T00:00:00Z"},
            {"command": "delete", "user": "u-1", "confirm": False, "trace": None},
        ),
        (tasks.delete, {"trace": "abc", "confirm": True}, {"trace": "abc", "confirm": True}),
    ],
)
def test_cli_tasks_run_the_cli_command_in_the_cli_service(task, kwargs, expected):
    context = RecordingContext()
    task.body(context, **kwargs)
    call = one_call(context)
    assert_cli_run(call)
    parsed = vars(parse_args(call.argv))
    assert {key: parsed[key] for key in expected} == expected


def test_a_cli_task_execs_when_the_cli_service_is_up():
    context = RecordingContext(running={"cli", "timescaledb"})
    tasks.seed.body(context, count=5)
    call = one_call(context)
    assert_cli_run(call, running=True)
    assert parse_args(call.argv).count == 5


@pytest.mark.parametrize(
    ("mode", "project"),
    [("dev", "llm-observatory"), ("prod", "llm-observatory"), ("test", "llmo-unit-test")],
)
def test_a_cli_task_uses_the_files_and_project_of_its_mode(mode, project):
    context = RecordingContext()
    tasks.migrate.body(context, mode=mode)
    call = one_call(context)
    assert_cli_run(call, mode)
    assert call.project == project  # the test stack: LLMO_TEST_PROJECT, never the dev one


def test_user_values_reach_the_cli_as_one_argument():
    hostile = "x; rm -rf / $(id) 'quoted'"
    context = RecordingContext()
    tasks.token.body(context, subject=hostile)
    call = one_call(context)
    assert parse_args(call.argv).subject == hostile
    assert call.argv.count(hostile) == 1


class _WritesRedirect(RecordingContext):
    """Stands in for the shell: what the command redirects to gets a few bytes."""

    def run(self, command, **kwargs):
        result = super().run(command, **kwargs)
        if command.startswith("docker compose") and (target := parse(command).redirect):
            Path(target).write_bytes(b"PAR1")
        return result


def test_export_streams_without_a_terminal_into_a_partial_file(tmp_path):
    target = tmp_path / "spans.parquet"
    context = _WritesRedirect()
    tasks.export.body(
        context, start="2026-01-01", output=str(target), format="parquet", model="gpt-4o"
    )
    call = one_call(context)
    assert_cli_run(call)
    assert "-T" in call.flags  # binary data: no pseudo-terminal in the way
    args = parse_args(call.argv)
    assert (args.command, args.format, args.output, args.model) == (
        "export",
        "parquet",
        "-",
        "gpt-4o",
    )
    assert call.redirect and Path(call.redirect) != target
    assert target.read_bytes() == b"PAR1" and not Path(call.redirect).exists()


def test_export_that_fails_leaves_nothing(tmp_path):
    class Failing(RecordingContext):
        def run(self, command, **kwargs):
            super().run(command, **kwargs)
            return Result(command=command, exited=1)

    target = tmp_path / "out.jsonl"
    with pytest.raises(Exit, match="export failed"):
        tasks.export.body(Failing(), start="2026-01-01", output=str(target))
    assert list(tmp_path.iterdir()) == []


def test_migrate_takes_one_action():
    with pytest.raises(Exit, match="choose one of --revert, --create, --status") as raised:
        tasks.migrate.body(RecordingContext(), revert=True, status=True)
    assert raised.value.code == 2


def test_migrate_create_writes_into_the_source_tree():
    context = RecordingContext()
    tasks.migrate.body(context, create="add index")
    assert context.compose_calls() == []
    [command] = context.commands
    words = shlex.split(command)
    assert words[:3] == [sys.executable, "-m", "llm_observatory.cli.main"]
    args = parse_args(words[3:])
    assert (args.command, args.action, args.name) == ("migrate", "create", "add index")


def _psql(call: ComposeCall) -> tuple[str, dict[str, str]]:
    """(user psql connects as, environment exec passes) of a psql call."""
    env = dict(item.split("=", 1) for item in call.options.get("-e", []))
    argv = call.argv
    assert argv[0] == "psql"
    return argv[argv.index("-U") + 1], env


def test_psql_execs_into_the_database_as_the_chosen_role():
    context = RecordingContext(running={"timescaledb"})
    tasks.psql.body(context)
    tasks.psql.body(context, role="readonly")
    owner, readonly = context.compose_calls()
    for call in (owner, readonly):
        assert (call.subcommand, call.service, call.files) == (
            "exec",
            "timescaledb",
            ["docker-compose.yml"],
        )
        assert call.argv[call.argv.index("-h") + 1] == "127.0.0.1"  # TCP: the password counts
    assert _psql(owner) == ("postgres", {"PGPASSWORD": "postgres_dev_password"})
    assert _psql(readonly) == ("llm_observatory_readonly", {"PGPASSWORD": "readonly_dev_password"})


def test_psql_rejects_an_unknown_role():
    with pytest.raises(Exit, match="unknown role 'admin'"):
        tasks.psql.body(RecordingContext(running={"timescaledb"}), role="admin")


def test_psql_and_redis_cli_need_the_stack_up():
    context = RecordingContext()
    with pytest.raises(Exit, match=r"timescaledb is not running.*invoke up"):
        tasks.psql.body(context)
    with pytest.raises(Exit, match="redis is not running"):
        tasks.redis_cli.body(context)
    assert context.compose_calls() == []


def test_redis_cli_authenticates_from_the_container_env():
    context = RecordingContext(running={"redis"})
    tasks.redis_cli.body(context)
    call = one_call(context)
    assert (call.subcommand, call.service) == ("exec", "redis")
    assert call.argv[:2] == ["sh", "-c"]
    assert '-a "$REDIS_PASSWORD"' in call.argv[2] and call.argv[2].startswith("exec redis-cli")
    assert "redis_dev_password" not in " ".join(context.commands)


def test_shell_is_python_in_the_cli_image():
    down, up = RecordingContext(), RecordingContext(running={"cli"})
    tasks.shell.body(down)
    tasks.shell.body(up)
    started, joined = one_call(down), one_call(up)
    assert started.subcommand == "run" and "--rm" in started.flags
    assert started.options["--entrypoint"] == ["python"] and started.rest == ["cli"]
    assert (joined.subcommand, joined.service, joined.argv) == ("exec", "cli", ["python"])
    assert "tools" in started.profiles and "tools" in joined.profiles
