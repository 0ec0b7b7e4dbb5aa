"""The database/tool tasks build the compose commands they promise (nothing is run)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from invoke import Context, Exit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import tasks  # noqa: E402


@pytest.fixture
def recorded(monkeypatch):
    """The compose arguments each task passes, with a configurable set of running services."""
    calls: list[str] = []
    running: set[str] = set()
    monkeypatch.setattr(tasks, "compose", lambda c, mode, args, **kw: calls.append(args))
    monkeypatch.setattr(tasks, "running_services", lambda c, mode: running)
    monkeypatch.delenv("DB_READONLY_USER", raising=False)
    monkeypatch.delenv("DB_READONLY_PASSWORD", raising=False)
    return calls, running


CLI = "--profile tools run --rm cli"


@pytest.mark.parametrize(
    ("task", "kwargs", "expected"),
    [
        (tasks.migrate, {}, f"{CLI} migrate run"),
        (tasks.migrate, {"revert": True}, f"{CLI} migrate revert"),
        (tasks.migrate, {"status": True}, f"{CLI} migrate status"),
        (tasks.seed, {"count": 500}, f"{CLI} seed --count 500 --days 7 --seed 42"),
        (tasks.seed, {"count": "20", "days": "1.5"}, f"{CLI} seed --count 20 --days 1.5 --seed 42"),
        (tasks.reset, {}, f"{CLI} reset"),
        (tasks.reset, {"confirm": True}, f"{CLI} reset --confirm"),
        (tasks.backup, {}, f"{CLI} backup"),
        (
            tasks.backup,
            {"output": "/backups/a b.dump"},
            f"{CLI} backup --output '/backups/a b.dump'",
        ),
        (tasks.restore, {"path": "/backups/latest.dump"}, f"{CLI} restore /backups/latest.dump"),
        (tasks.token, {}, f"{CLI} token --subject developer"),
        (tasks.token, {"subject": "alice", "ttl": 60}, f"{CLI} token --subject alice --ttl 60"),
    ],
)
def test_cli_tasks_run_the_cli_service(recorded, task, kwargs, expected):
    calls, _ = recorded
    task.body(Context(), **kwargs)
    assert calls == [expected]


def test_cli_task_execs_when_the_cli_service_is_up(recorded):
    calls, running = recorded
    running.add("cli")
    tasks.seed.body(Context(), count=5)
    assert calls == ["--profile tools exec cli seed --count 5 --days 7 --seed 42"]


def test_user_values_are_shell_quoted(recorded):
    calls, _ = recorded
    tasks.token.body(Context(), subject="x; rm -rf /")
    assert calls == [f"{CLI} token --subject 'x; rm -rf /'"]


def test_migrate_takes_one_action(recorded):
    with pytest.raises(Exit, match="choose one of --revert, --create, --status") as raised:
        tasks.migrate.body(Context(), revert=True, status=True)
    assert raised.value.code == 2


def test_migrate_create_writes_into_the_source_tree(monkeypatch):
    ran = []

    class Recorder(Context):
        def run(self, command, **kwargs):
            ran.append(command)

    tasks.migrate.body(Recorder(), create="add index")
    assert ran == [f"{sys.executable} -m llm_observatory.cli.main migrate create 'add index'"]


def test_psql_as_owner_and_as_the_readonly_role(recorded):
    calls, running = recorded
    running.add("timescaledb")
    tasks.psql.body(Context())
    tasks.psql.body(Context(), role="readonly")
    assert calls[0].startswith("exec -e PGPASSWORD=")
    assert "timescaledb psql -h 127.0.0.1 -p 5432 -U postgres -d llm_observatory" in calls[0]
    assert "-e PGPASSWORD=readonly_dev_password " in calls[1]
    assert "-U llm_observatory_readonly" in calls[1]


def test_psql_rejects_an_unknown_role(recorded):
    with pytest.raises(Exit, match="unknown role 'admin'"):
        tasks.psql.body(Context(), role="admin")


def test_psql_and_redis_cli_need_the_stack_up(recorded):
    with pytest.raises(Exit, match=r"timescaledb is not running.*invoke up"):
        tasks.psql.body(Context())
    with pytest.raises(Exit, match="redis is not running"):
        tasks.redis_cli.body(Context())


def test_redis_cli_authenticates_from_the_container_env(recorded):
    calls, running = recorded
    running.add("redis")
    tasks.redis_cli.body(Context())
    assert calls[0].startswith("exec -e REDIS_PORT=6379 redis sh -c")
    assert '-a "$REDIS_PASSWORD"' in calls[0]
    assert "redis_dev_password" not in calls[0]


def test_shell_is_python_in_the_cli_image(recorded):
    calls, running = recorded
    tasks.shell.body(Context())
    running.add("cli")
    tasks.shell.body(Context())
    assert calls == [
        "--profile tools run --rm --entrypoint python cli",
        "--profile tools exec cli python",
    ]


def test_every_new_task_documents_its_arguments():
    for task in (tasks.migrate, tasks.seed, tasks.reset, tasks.backup, tasks.restore):
        names = set(task.body.__code__.co_varnames[1 : task.body.__code__.co_argcount])
        assert names <= set(task.help), f"{task.name}: undocumented {names - set(task.help)}"
    for task in (tasks.token, tasks.psql, tasks.redis_cli, tasks.shell):
        names = set(task.body.__code__.co_varnames[1 : task.body.__code__.co_argcount])
        assert names <= set(task.help), f"{task.name}: undocumented {names - set(task.help)}"
