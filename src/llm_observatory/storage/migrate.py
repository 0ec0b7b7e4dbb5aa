"""Schema migrations: Alembic driven from code, no alembic.ini.

The migration scripts live in ``llm_observatory/storage/migrations`` inside the
package, so they work from an installed wheel. There are no SQLAlchemy models:
every revision is explicit SQL (TimescaleDB DDL) run through ``op.execute``.

``database_url`` everywhere is a plain libpq URL (``postgresql://user:pw@host/db``),
as in ``DATABASE_URL``; it is turned into a SQLAlchemy URL for the psycopg 3 driver.
Migrations must run as the owner of the schema (``DB_USER``), not the app role.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, pool

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Fixed key for pg_advisory_lock: ASCII "LLMO" + "MIGR". Any process running migrations
# against the same database serialises on it.
ADVISORY_LOCK_KEY = 0x4C4C4D4F4D494752


class MigrationError(RuntimeError):
    """A migration failed; carries the revision that failed (None: before any ran)."""

    def __init__(self, revision: str | None, message: str) -> None:
        self.revision = revision
        where = f"migration {revision}" if revision else "migrations"
        super().__init__(f"{where} failed: {message}")


def sqlalchemy_url(database_url: str) -> str:
    """``postgresql://`` / ``postgres://`` -> ``postgresql+psycopg://`` (psycopg 3)."""
    scheme, sep, rest = database_url.partition("://")
    if not sep:
        raise ValueError("DATABASE_URL must look like postgresql://user:password@host:port/db")
    if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
        return f"postgresql+psycopg://{rest}"
    raise ValueError(f"not a PostgreSQL URL: scheme {scheme!r}")


def libpq_url(database_url: str) -> str:
    """The inverse: a URL psycopg.connect() accepts (drops a ``+driver`` suffix)."""
    scheme, sep, rest = database_url.partition("://")
    if sep and scheme.startswith("postgresql+"):
        return f"postgresql://{rest}"
    return database_url


def make_config(database_url: str | None = None) -> Config:
    """Alembic config built in code. The URL goes through ``attributes`` (no %-interpolation)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Revision files are named 0002_slug.py (ConfigParser interpolation: %% -> %).
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.set_main_option("truncate_slug_length", "60")
    if database_url is not None:
        cfg.attributes["database_url"] = database_url
    return cfg


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(make_config())


def _engine(database_url: str) -> Engine:
    return create_engine(sqlalchemy_url(database_url), poolclass=pool.NullPool)


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(make_config(database_url), revision)


def downgrade(database_url: str, revision: str = "-1") -> None:
    command.downgrade(make_config(database_url), revision)


def current(database_url: str) -> str | None:
    """The revision the database is at (None: never migrated)."""
    engine = _engine(database_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def status(database_url: str) -> list[tuple[str, str, bool]]:
    """Every revision, oldest first: (revision, message, applied)."""
    script = _script()
    at = current(database_url)
    applied: set[str] = set()
    if at is not None:
        applied = {rev.revision for rev in script.iterate_revisions(at, "base")}
    revisions = list(script.walk_revisions("base", "heads"))
    revisions.reverse()
    return [(rev.revision, rev.doc or "", rev.revision in applied) for rev in revisions]


def create(message: str) -> Path:
    """Write a new revision file (0002_message.py, ...) from the template; return its path.

    Only meaningful in a source checkout: it writes into the package's migrations dir.
    """
    if not message.strip():
        raise ValueError("a migration needs a message")
    script = _script()
    head = script.get_current_head()
    next_number = int(head) + 1 if head and head.isdigit() else 1
    rev_id = f"{next_number:04d}"
    cfg = make_config()
    created = command.revision(cfg, message=message, rev_id=rev_id)
    if created is None or isinstance(created, list):  # pragma: no cover - single head only
        raise RuntimeError("alembic did not create exactly one revision")
    return Path(created.path)


def _pending(database_url: str) -> list[tuple[str, str]]:
    """Revisions an upgrade to head would apply, in order: (revision, message)."""
    script = _script()
    at = current(database_url)
    revs = list(script.iterate_revisions("heads", at or "base"))
    revs.reverse()
    return [(rev.revision, rev.doc or "") for rev in revs if rev.revision != at]


def _describe(exc: BaseException) -> str:
    """The database's own error text (SQLAlchemy wraps it with SQL and a URL)."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return re.sub(r"\s+", " ", text)


def run_migrations_locked(database_url: str) -> None:
    """Upgrade to head under a PostgreSQL advisory lock; raise MigrationError on any failure.

    Used at service start-up (RUN_MIGRATIONS=true). Several processes may start at once:
    the lock is held on a connection of its own, so the second one waits, then finds
    nothing left to do. Each revision runs in its own transaction, so a failure leaves
    the database at the last revision that succeeded.
    """
    try:
        lock_conn = psycopg.connect(libpq_url(database_url), autocommit=True)
    except psycopg.Error as exc:
        raise MigrationError(None, f"cannot connect to the database: {_describe(exc)}") from exc
    with lock_conn:
        try:
            lock_conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        except psycopg.Error as exc:
            raise MigrationError(None, f"cannot take the migration lock: {_describe(exc)}") from exc
        try:
            _upgrade_reporting(database_url)
        finally:
            # Closing the connection releases the lock too; unlock explicitly anyway.
            with contextlib.suppress(psycopg.Error):
                lock_conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))


def _upgrade_reporting(database_url: str) -> None:
    try:
        pending = _pending(database_url)
    except Exception as exc:
        raise MigrationError(None, _describe(exc)) from exc
    if not pending:
        return
    done: list[str] = []
    cfg = make_config(database_url)
    cfg.attributes["on_version_apply"] = lambda **kw: done.extend(
        str(rev) for rev in kw["step"].up_revision_ids
    )
    try:
        command.upgrade(cfg, "head")
    except Exception as exc:
        failed = next((rev for rev, _ in pending if rev not in done), None)
        message = dict(pending).get(failed, "") if failed else ""
        detail = f"({message}) {_describe(exc)}" if message else _describe(exc)
        raise MigrationError(failed, detail) from exc
