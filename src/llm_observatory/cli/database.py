"""`migrate` and `reset`: the schema and its data, as the owner role."""

from __future__ import annotations

import psycopg
from psycopg import sql

from llm_observatory.cli.errors import CliError, connect, database_unreachable
from llm_observatory.core.signals import SIGNALS
from llm_observatory.storage import migrate as migrations

HYPERTABLES = tuple(signal.table.table for signal in SIGNALS.values())


def _reachable(database_url: str) -> None:
    connect(database_url).close()


def run(database_url: str) -> list[tuple[str, str]]:
    """Upgrade to head under the advisory lock; the revisions applied."""
    _reachable(database_url)
    before = {rev for rev, _, applied in migrations.status(database_url) if applied}
    try:
        migrations.run_migrations_locked(database_url)
    except migrations.MigrationError as exc:
        raise CliError(
            f"{exc}\n  fix the migration, then run `llm-observatory migrate` again"
        ) from exc
    return [
        (rev, doc)
        for rev, doc, applied in migrations.status(database_url)
        if applied and rev not in before
    ]


def revert(database_url: str) -> str | None:
    """Downgrade one revision; the revision now current."""
    _reachable(database_url)
    if migrations.current(database_url) is None:
        raise CliError("nothing to revert: the database has no migration applied")
    try:
        migrations.downgrade(database_url, "-1")
    except Exception as exc:
        raise CliError(f"revert failed: {' '.join(str(exc).split())[:500]}") from exc
    return migrations.current(database_url)


def status(database_url: str) -> list[tuple[str, str, bool]]:
    _reachable(database_url)
    return migrations.status(database_url)


def render_status(rows: list[tuple[str, str, bool]]) -> str:
    table = [("REVISION", "STATE", "DESCRIPTION")]
    table += [(rev, "applied" if applied else "pending", doc) for rev, doc, applied in rows]
    widths = [max(len(row[i]) for row in table) for i in range(2)]
    return "\n".join(f"{r[0].ljust(widths[0])}  {r[1].ljust(widths[1])}  {r[2]}" for r in table)


def _counts(conn: psycopg.Connection) -> dict[str, int]:
    try:
        return {
            table: conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()[0]
            for table in HYPERTABLES
        }
    except psycopg.errors.UndefinedTable as exc:
        raise CliError(
            f"the schema is missing ({exc.diag.message_primary}): run `llm-observatory migrate`"
        ) from exc


def counts(database_url: str) -> dict[str, int]:
    """Rows per hypertable; a CliError when the database is unreachable or not migrated."""
    with connect(database_url) as conn:
        return _counts(conn)


def reset(database_url: str) -> dict[str, int]:
    """Empty the three hypertables in one transaction; the row counts they had."""
    try:
        with connect(database_url) as conn:
            before = _counts(conn)
            conn.execute(
                sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(map(sql.Identifier, HYPERTABLES)))
            )
    except psycopg.OperationalError as exc:
        raise database_unreachable(database_url, exc) from exc
    return before
