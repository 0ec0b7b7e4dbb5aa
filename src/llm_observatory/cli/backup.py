"""`backup` and `restore`: pg_dump custom format, retention, optional S3 upload.

A scheduled backup (no --output; what the `backup` compose service runs) writes
``BACKUP_DIR/<db>-<UTC timestamp>.dump``, copies it to ``latest.dump``, prunes old
dumps (BACKUP_KEEP_COUNT newest / BACKUP_KEEP_DAYS days; 0 disables a rule, the
newest dump is always kept) and uploads it when BACKUP_S3_BUCKET is set.

Restore follows TimescaleDB's procedure in the same database: first the tables and views
of schema public are dropped (hypertables with their chunks, in normal mode), then
``timescaledb_pre_restore()`` (stops background workers, marks the database as
restoring), ``pg_restore`` in one transaction (the tables, their data and TimescaleDB's
catalog rows), ``timescaledb_post_restore()``. Stop ingest while restoring: spans
written between the drop and the end of the restore are lost.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from llm_observatory.cli.errors import STACK_HINT, CliError, connect, redact_url
from llm_observatory.core.settings import CliSettings

LATEST = "latest.dump"
_STAMP = "%Y%m%dT%H%M%SZ"
_NAME = re.compile(r"^(?P<prefix>.+)-(?P<stamp>\d{8}T\d{6}Z)\.dump$")


@dataclass
class BackupResult:
    path: Path
    size: int
    removed: list[Path]
    s3_uri: str | None = None


# --- pg_dump / pg_restore -------------------------------------------------------------


def _libpq_env(database_url: str) -> tuple[dict[str, str], str]:
    """(environment with PGPASSWORD, URL without the password): keeps it off `ps`.

    In the URL the password is percent-encoded (`%40` for `@`); libpq takes PGPASSWORD
    as it is, so it gets the decoded one. The user name stays encoded in the URL,
    which libpq decodes itself.
    """
    parts = urlsplit(database_url)
    env = dict(os.environ)
    if parts.password is None:
        return env, database_url
    env["PGPASSWORD"] = unquote(parts.password)
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    netloc = f"{user}@{hostinfo}" if user else hostinfo
    return env, urlunsplit(parts._replace(netloc=netloc))


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise CliError(
            f"{name} is not installed here. Run this command in the stack: "
            f"`docker compose --profile tools run --rm cli ...` (the cli image has "
            f"PostgreSQL 17's client tools)"
        )
    return path


def _run(command: list[str], database_url: str, what: str) -> None:
    env, _ = _libpq_env(database_url)
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        detail = result.stderr.strip()[-2000:]
        hint = (
            STACK_HINT if "connect" in detail or "connection" in detail else ("see the error above")
        )
        raise CliError(f"{what} failed ({redact_url(database_url)}):\n{detail}\n  {hint}")


# Created by docker/init/01-init-timescaledb.sql with this stack's role names, as the
# owner: a restore into another stack must not bring them along (its init made its own).
MONITORING_SCHEMA = "monitoring"


def dump_command(pg_dump: str, url: str, output: Path) -> list[str]:
    # Option values joined with `=`: a path or URL starting with "-" stays a value.
    return [
        pg_dump,
        "--format=custom",
        f"--exclude-schema={MONITORING_SCHEMA}",
        f"--file={output}",
        f"--dbname={url}",
    ]


def restore_command(pg_restore: str, url: str, path: Path) -> list[str]:
    # `--` ends the options: a dump named "-c.dump" is a file, not --clean.
    return [
        pg_restore,
        "--single-transaction",
        "--exit-on-error",
        f"--dbname={url}",
        "--",
        str(path),
    ]


def dump(database_url: str, output: Path) -> int:
    """pg_dump -Fc of the whole database to `output` (atomically); its size in bytes."""
    connect(database_url).close()  # a clear message when the database is unreachable
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial")
    _, url = _libpq_env(database_url)
    try:
        _run(dump_command(_tool("pg_dump"), url, partial), database_url, "pg_dump")
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    return output.stat().st_size


# Tables, views and sequences in public that no extension owns: what a dump recreates.
# TimescaleDB's own functions live in public too, as members of the extension.
_OWN_RELATIONS = """
    SELECT c.relname, c.relkind
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
      AND NOT EXISTS (
          SELECT FROM pg_depend d
          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
      )
      -- A serial or identity column's sequence (deletion_audit.id) goes with its table.
      AND NOT (c.relkind = 'S' AND EXISTS (
          SELECT FROM pg_depend d
          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')
      ))
"""
_DROP = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}


def _timescaledb_installed(conn: psycopg.Connection) -> bool:
    return conn.execute(
        "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'timescaledb')"
    ).fetchone()[0]


def _clear(database_url: str) -> None:
    """Drop the relations the dump will recreate, with TimescaleDB's hooks still on.

    Dropping a hypertable in normal mode also removes its chunks and catalog rows, so
    the catalog is as after CREATE EXTENSION, which is what TimescaleDB's restore
    procedure starts from. The extension itself stays: dropping and re-creating it in
    pg_restore's session fails ("has already been loaded with another version").
    """
    with connect(database_url, autocommit=True) as conn:
        if not _timescaledb_installed(conn):
            # Must be the session's first statement (TimescaleDB's loader).
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    with connect(database_url) as conn:
        hypertables = conn.execute(
            "SELECT hypertable_schema, hypertable_name FROM timescaledb_information.hypertables"
        ).fetchall()
        for schema, table in hypertables:
            conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {}.{} CASCADE").format(
                    sql.Identifier(schema), sql.Identifier(table)
                )
            )
        for name, kind in conn.execute(_OWN_RELATIONS).fetchall():
            conn.execute(
                sql.SQL("DROP {} IF EXISTS {} CASCADE").format(
                    sql.SQL(_DROP[kind]), sql.Identifier("public", name)
                )
            )


def restore(database_url: str, path: Path) -> None:
    """Restore a custom-format dump into the database DATABASE_URL names.

    TimescaleDB's procedure, in the same database: timescaledb_pre_restore(), pg_restore,
    timescaledb_post_restore(); before it, the objects the dump contains are dropped.
    """
    if not path.is_file():
        raise CliError(
            f"no backup at {path}: pass the path of a .dump file "
            f"(in the stack, backups are under /backups, e.g. /backups/{LATEST})"
        )
    pg_restore = _tool("pg_restore")
    _clear(database_url)
    with connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT timescaledb_pre_restore()")
    _, url = _libpq_env(database_url)
    try:
        _run(restore_command(pg_restore, url, path), database_url, "pg_restore")
    finally:
        # Also after a failure: a database left in restoring mode runs no background jobs.
        with connect(database_url, autocommit=True) as conn:
            conn.execute("SELECT timescaledb_post_restore()")


# --- scheduled backups: names, retention, upload ---------------------------------------


def database_name(database_url: str) -> str:
    return urlsplit(database_url).path.lstrip("/") or "postgres"


def backup_name(prefix: str, when: datetime) -> str:
    return f"{prefix}-{when.astimezone(UTC).strftime(_STAMP)}.dump"


def _stamp(path: Path) -> datetime | None:
    match = _NAME.match(path.name)
    if not match:
        return None
    return datetime.strptime(match.group("stamp"), _STAMP).replace(tzinfo=UTC)


def prune(directory: Path, keep_count: int, keep_days: int, now: datetime) -> list[Path]:
    """Delete timestamped dumps beyond the newest `keep_count` or older than `keep_days`.

    0 disables a rule. Only files named <prefix>-<timestamp>.dump are considered (never
    latest.dump or anything else in the directory); the newest is always kept. The
    timestamp in the name decides the age: copies and volume moves change mtimes.
    """
    dated = sorted(
        ((stamp, path) for path in directory.glob("*.dump") if (stamp := _stamp(path))),
        reverse=True,
    )
    removed = []
    for index, (stamp, path) in enumerate(dated):
        if index == 0:
            continue
        too_many = keep_count > 0 and index >= keep_count
        too_old = keep_days > 0 and stamp < now - timedelta(days=keep_days)
        if too_many or too_old:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def upload(path: Path, settings: CliSettings) -> str:
    """Upload a dump to BACKUP_S3_BUCKET under BACKUP_S3_PREFIX; its s3:// URI."""
    import boto3
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    key = f"{settings.backup_s3_prefix.strip('/')}/{path.name}".lstrip("/")
    client = boto3.client(
        "s3",
        endpoint_url=settings.backup_s3_endpoint_url or None,
        region_name=settings.backup_s3_region or None,
    )
    try:
        client.upload_file(str(path), settings.backup_s3_bucket, key)
    except (Boto3Error, BotoCoreError, ClientError) as exc:
        where = settings.backup_s3_endpoint_url or "AWS S3"
        raise CliError(
            f"upload of {path} to s3://{settings.backup_s3_bucket}/{key} ({where}) failed: "
            f"{exc}\n  check BACKUP_S3_BUCKET, BACKUP_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID and "
            f"AWS_SECRET_ACCESS_KEY (the dump itself is kept at {path})"
        ) from exc
    return f"s3://{settings.backup_s3_bucket}/{key}"


def backup(settings: CliSettings, output: Path | None = None, now: datetime | None = None):
    """One backup: a given file (--output), or the rotated set in BACKUP_DIR."""
    now = now or datetime.now(UTC)
    removed: list[Path] = []
    if output is not None:
        size = dump(settings.database_url, output)
        path = output
    else:
        directory = Path(settings.backup_dir)
        path = directory / backup_name(database_name(settings.database_url), now)
        size = dump(settings.database_url, path)
        latest = directory / LATEST
        partial = directory / f".{LATEST}.partial"
        shutil.copyfile(path, partial)
        partial.replace(latest)
        removed = prune(directory, settings.backup_keep_count, settings.backup_keep_days, now)
    result = BackupResult(path, size, removed)
    if settings.backup_s3_bucket:
        result.s3_uri = upload(path, settings)
    return result
