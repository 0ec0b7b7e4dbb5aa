"""Backup names and retention (BACKUP_KEEP_COUNT / BACKUP_KEEP_DAYS), on files in tmp_path."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest

from llm_observatory.cli import backup
from llm_observatory.cli.errors import CliError
from llm_observatory.core.settings import CliSettings

NOW = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)


def _dumps(directory, ages_in_days):
    paths = []
    for age in ages_in_days:
        path = directory / backup.backup_name("llm_observatory", NOW - timedelta(days=age))
        path.write_bytes(b"dump")
        paths.append(path)
    return paths


def _left(directory):
    return sorted(p.name for p in directory.iterdir())


def test_backup_name_is_utc_and_sortable():
    local = datetime(2026, 3, 10, 14, 30, 5, tzinfo=timezone(timedelta(hours=1)))
    assert backup.backup_name("db", local) == "db-20260310T133005Z.dump"
    assert backup.database_name("postgresql://u:p@h:5432/llm_observatory") == "llm_observatory"


def test_keep_count_keeps_the_newest(tmp_path):
    paths = _dumps(tmp_path, [0, 1, 2, 3, 4])
    removed = backup.prune(tmp_path, keep_count=2, keep_days=0, now=NOW)
    assert sorted(removed) == sorted(paths[2:])
    assert _left(tmp_path) == sorted(p.name for p in paths[:2])


def test_keep_days_removes_older_ones(tmp_path):
    paths = _dumps(tmp_path, [0, 1, 3, 8, 30])
    backup.prune(tmp_path, keep_count=0, keep_days=7, now=NOW)
    assert _left(tmp_path) == sorted(p.name for p in paths[:3])


def test_both_rules_apply(tmp_path):
    paths = _dumps(tmp_path, [0, 1, 2, 10])
    backup.prune(tmp_path, keep_count=2, keep_days=5, now=NOW)
    assert _left(tmp_path) == sorted(p.name for p in paths[:2])


def test_zero_disables_both_rules(tmp_path):
    _dumps(tmp_path, [0, 5, 50, 500])
    assert backup.prune(tmp_path, keep_count=0, keep_days=0, now=NOW) == []
    assert len(_left(tmp_path)) == 4


def test_the_newest_dump_survives_even_when_old(tmp_path):
    paths = _dumps(tmp_path, [40, 50])
    backup.prune(tmp_path, keep_count=0, keep_days=7, now=NOW)
    assert _left(tmp_path) == [paths[0].name]


def test_only_timestamped_dumps_are_touched(tmp_path):
    _dumps(tmp_path, [0, 20])
    for name in ("latest.dump", "manual.dump", "notes.txt", "db-2026.dump"):
        (tmp_path / name).write_text("keep me")
    backup.prune(tmp_path, keep_count=1, keep_days=1, now=NOW)
    left = _left(tmp_path)
    for name in ("latest.dump", "manual.dump", "notes.txt", "db-2026.dump"):
        assert name in left
    assert len([n for n in left if n.startswith("llm_observatory-")]) == 1


def test_age_comes_from_the_name_not_the_mtime(tmp_path):
    old = _dumps(tmp_path, [0, 30])[1]
    old.touch()  # copied just now: the name still says 30 days old
    backup.prune(tmp_path, keep_count=0, keep_days=7, now=NOW)
    assert not old.exists()


def test_scheduled_backup_writes_timestamped_and_latest_then_prunes(tmp_path, monkeypatch):
    _dumps(tmp_path, [1, 2, 3])

    def fake_dump(url, output):
        output.write_bytes(b"fresh dump")
        return len(b"fresh dump")

    monkeypatch.setattr(backup, "dump", fake_dump)
    settings = CliSettings(
        database_url="postgresql://u:p@h/llm_observatory",
        backup_dir=str(tmp_path),
        backup_keep_count=2,
        backup_keep_days=0,
        backup_s3_bucket="",
    )
    result = backup.backup(settings, now=NOW)
    assert result.path == tmp_path / "llm_observatory-20260310T120000Z.dump"
    assert (tmp_path / "latest.dump").read_bytes() == b"fresh dump"
    assert len(result.removed) == 2  # 3 old + 1 new, keep 2
    assert result.s3_uri is None
    assert not list(tmp_path.glob(".*partial"))


def test_output_writes_only_that_file(tmp_path, monkeypatch):
    monkeypatch.setattr(backup, "dump", lambda url, output: output.write_bytes(b"x") or 1)
    settings = CliSettings(backup_dir=str(tmp_path / "dir"), backup_s3_bucket="")
    result = backup.backup(settings, output=tmp_path / "one.dump")
    assert result.path == tmp_path / "one.dump"
    assert not (tmp_path / "dir").exists()  # no latest.dump, no pruning elsewhere


# A password with every character a URL reserves: it reaches libpq decoded, never in argv.
HARD_PASSWORD = "p%40ss@w:rd/with%sign?#[]"
HARD_URL = f"postgresql://backup%2Buser:{quote(HARD_PASSWORD, safe='')}@db.internal:5432/llmo"


def test_libpq_gets_the_decoded_password_and_a_url_without_it():
    env, url = backup._libpq_env(HARD_URL)
    assert env["PGPASSWORD"] == HARD_PASSWORD
    assert url == "postgresql://backup%2Buser@db.internal:5432/llmo"
    assert quote(HARD_PASSWORD, safe="") not in url and "w:rd" not in url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://h/db", "postgresql://h/db"),
        ("postgresql://u:@h/db", "postgresql://u@h/db"),
        (
            "postgresql://:only%2Fpassword@h:5/db?sslmode=require",
            "postgresql://h:5/db?sslmode=require",
        ),
    ],
)
def test_urls_without_a_password_or_a_user_keep_the_rest(url, expected):
    env, stripped = backup._libpq_env(url)
    assert stripped == expected
    if ":only" in url:
        assert env["PGPASSWORD"] == "only/password"


def _capture_commands(monkeypatch) -> list[tuple[list[str], dict]]:
    calls = []

    def fake_run(command, env, **kwargs):
        calls.append((command, env))
        if command[0].endswith("pg_dump"):
            [file] = [arg for arg in command if arg.startswith("--file=")]
            Path(file.removeprefix("--file=")).write_bytes(b"dump")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(backup.subprocess, "run", fake_run)
    monkeypatch.setattr(backup, "_tool", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(backup, "connect", lambda *a, **k: _Closeable())
    return calls


class _Closeable:
    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, *args, **kwargs):
        return self


def test_pg_dump_argv_holds_no_password_and_takes_any_file_name(monkeypatch, tmp_path):
    calls = _capture_commands(monkeypatch)
    output = tmp_path / "-c.dump"  # a name that reads like an option
    backup.dump(HARD_URL, output)
    [(command, env)] = calls
    assert command == [
        "/usr/bin/pg_dump",
        "--format=custom",
        "--exclude-schema=monitoring",
        f"--file={tmp_path / '.-c.dump.partial'}",
        "--dbname=postgresql://backup%2Buser@db.internal:5432/llmo",
    ]
    assert env["PGPASSWORD"] == HARD_PASSWORD
    assert output.read_bytes() == b"dump"


def test_dumps_leave_out_the_schema_the_init_script_makes():
    init = Path(__file__).parents[2] / "docker" / "init" / "01-init-timescaledb.sql"
    schema = backup.MONITORING_SCHEMA
    assert f"CREATE SCHEMA IF NOT EXISTS {schema} " in init.read_text()
    assert f"--exclude-schema={schema}" in backup.dump_command("pg_dump", "u", Path("x"))


def test_pg_restore_ends_options_before_the_user_supplied_path(monkeypatch, tmp_path):
    calls = _capture_commands(monkeypatch)
    monkeypatch.setattr(backup, "_clear", lambda url: None)
    dump = tmp_path / "--clean"
    dump.write_bytes(b"dump")
    backup.restore(HARD_URL, dump)
    [(command, env)] = calls
    assert command[-2:] == ["--", str(dump)]
    assert "--dbname=postgresql://backup%2Buser@db.internal:5432/llmo" in command
    assert all(HARD_PASSWORD not in part for part in command)
    assert env["PGPASSWORD"] == HARD_PASSWORD


def test_missing_pg_dump_says_to_run_in_the_stack(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(CliError, match="docker compose --profile tools run --rm cli"):
        backup._tool("pg_dump")


@pytest.fixture
def s3(monkeypatch):
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        import boto3

        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="dumps")
        yield client


def test_upload_puts_the_dump_under_the_prefix(s3, tmp_path):
    dump = tmp_path / "llm_observatory-20260310T120000Z.dump"
    dump.write_bytes(b"0123456789")
    settings = CliSettings(
        backup_s3_bucket="dumps", backup_s3_prefix="/nightly/", backup_s3_region="us-east-1"
    )
    uri = backup.upload(dump, settings)
    assert uri == "s3://dumps/nightly/llm_observatory-20260310T120000Z.dump"
    body = s3.get_object(Bucket="dumps", Key="nightly/" + dump.name)["Body"].read()
    assert body == b"0123456789"


def test_upload_failure_names_the_settings_and_keeps_the_dump(s3, tmp_path):
    dump = tmp_path / "x.dump"
    dump.write_bytes(b"x")
    settings = CliSettings(backup_s3_bucket="missing", backup_s3_region="us-east-1")
    with pytest.raises(CliError, match="check BACKUP_S3_BUCKET") as raised:
        backup.upload(dump, settings)
    assert "s3://missing/x.dump" in str(raised.value)
    assert dump.exists()
