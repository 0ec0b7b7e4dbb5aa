"""`migrate`, `seed` and `reset` on a fresh database of their own (in-process CLI)."""

from __future__ import annotations

import psycopg
import pytest

from llm_observatory.cli import main as cli


@pytest.fixture
def run(database_factory, monkeypatch, capsys):
    url = database_factory()
    monkeypatch.setenv("DATABASE_URL", url)

    def invoke(*argv: str) -> tuple[int, str, str]:
        code = cli.run(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    invoke.url = url
    return invoke


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {name for (name,) in rows}


def _status(run) -> list[tuple[str, str]]:
    code, out, _ = run("migrate", "status")
    assert code == 0
    return [tuple(line.split()[:2]) for line in out.splitlines()[1:]]


def test_migrate_status_run_revert(run):
    revisions = [rev for rev, _ in _status(run)]
    assert revisions[0] == "0001"
    assert _status(run) == [(rev, "pending") for rev in revisions]

    code, out, _ = run("migrate", "run")
    assert code == 0
    assert [line.split()[1] for line in out.splitlines()] == revisions
    assert {"spans", "metric_points", "log_records"} <= _tables(run.url)
    assert _status(run) == [(rev, "applied") for rev in revisions]
    assert f"already at the newest revision ({revisions[-1]})" in run("migrate")[1]

    code, out, _ = run("migrate", "revert")
    assert code == 0
    assert _status(run)[-1] == (revisions[-1], "pending")
    assert all(state == "applied" for _, state in _status(run)[:-1])
    for _ in revisions[:-1]:
        assert run("migrate", "revert")[0] == 0
    assert not {"spans", "metric_points", "log_records"} & _tables(run.url)
    assert _status(run) == [(rev, "pending") for rev in revisions]

    code, _, err = run("migrate", "revert")
    assert code == 1 and "nothing to revert" in err


def test_seed_and_reset_need_the_schema_and_say_so(run):
    for argv in (("seed", "--count", "10"), ("reset", "--confirm")):
        code, _, err = run(*argv)
        assert code == 1
        assert "the schema is missing" in err and "llm-observatory migrate" in err


def test_seed_then_reset(run):
    run("migrate")
    code, out, _ = run("seed", "--count", "500", "--days", "1")
    assert code == 0 and "seeded 500 spans" in out
    with psycopg.connect(run.url) as conn:
        assert conn.execute("SELECT count(*) FROM spans").fetchone()[0] == 500
        llm = conn.execute("SELECT count(*) FROM llm_usage_hourly").fetchone()[0]
        assert llm > 0
    code, out, _ = run("reset", "--confirm")
    assert code == 0 and "deleted 500 rows from spans" in out
    with psycopg.connect(run.url) as conn:
        assert conn.execute("SELECT count(*) FROM spans").fetchone()[0] == 0


def test_seed_if_empty_seeds_once(run):
    run("migrate")
    code, out, _ = run("seed", "--count", "300", "--days", "1", "--if-empty")
    assert code == 0 and "seeded 300 spans" in out
    code, out, _ = run("seed", "--count", "300", "--days", "1", "--if-empty")
    assert code == 0 and "nothing seeded" in out
    with psycopg.connect(run.url) as conn:
        assert conn.execute("SELECT count(*) FROM spans").fetchone()[0] == 300
