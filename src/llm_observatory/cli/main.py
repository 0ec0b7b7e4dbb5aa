"""`llm-observatory`: migrate, seed, reset, backup, restore, token, health, check-production,
delete, export.

Runs on a developer's machine against DATABASE_URL, or in the stack:
``docker compose --profile tools run --rm cli <command>``. Every failure exits
non-zero with a message saying what to do; bad arguments exit 2 (argparse).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import psycopg
import psycopg_pool
from pydantic import ValidationError

from llm_observatory.api.auth import SCOPES
from llm_observatory.cli import governance
from llm_observatory.cli.errors import STACK_HINT, CliError, redact_url
from llm_observatory.core.logging import configure_logging
from llm_observatory.core.settings import CliSettings

MIGRATE_ACTIONS = ("run", "revert", "create", "status")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-observatory",
        description="Manage an LLM Observatory database: schema, demo data, backups, tokens.",
        epilog="In the stack: docker compose --profile tools run --rm cli COMMAND ...",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    migrate = commands.add_parser(
        "migrate",
        help="apply, revert, create or list schema migrations",
        description="run: upgrade to the newest revision (default); revert: undo the last "
        "one; create NAME: write a new revision file (source checkout); status: a table of "
        "revisions, applied or pending.",
    )
    migrate.add_argument("action", nargs="?", default="run", choices=MIGRATE_ACTIONS)
    migrate.add_argument("name", nargs="?", help="the new revision's name (create only)")

    seed = commands.add_parser("seed", help="write realistic demo traces")
    seed.add_argument("--count", type=_positive_int, default=1000, help="spans to write")
    seed.add_argument(
        "--days", type=_positive_float, default=7.0, help="spread over the last N days"
    )
    seed.add_argument("--seed", type=int, default=42, help="random seed: same seed, same traces")
    seed.add_argument(
        "--batch-size", type=_positive_int, default=5000, help="spans per write transaction"
    )
    seed.add_argument(
        "--if-empty",
        action="store_true",
        help="seed only when spans holds no rows (dev mode seeds this way, once)",
    )

    reset = commands.add_parser("reset", help="delete all spans, metrics and logs")
    reset.add_argument("--confirm", action="store_true", help="yes, delete everything")

    backup = commands.add_parser("backup", help="pg_dump the database (custom format)")
    backup.add_argument(
        "--output",
        type=Path,
        help="write exactly this file (default: a timestamped file in BACKUP_DIR, "
        "latest.dump, retention and S3 upload)",
    )

    restore = commands.add_parser("restore", help="restore a backup made by `backup`")
    restore.add_argument("path", type=Path, help="the .dump file, e.g. /backups/latest.dump")

    token = commands.add_parser("token", help="mint a development JWT for the API")
    token.add_argument("--subject", default="developer", help="the token's sub claim")
    token.add_argument(
        "--ttl", type=_positive_int, default=None, help="lifetime in seconds (JWT_EXPIRATION)"
    )
    token.add_argument(
        "--scope",
        choices=SCOPES,
        default=None,
        help="admin: may also delete data (DELETE /api/v1/data)",
    )
    governance.add_parsers(commands)

    commands.add_parser("health", help="check every service of the stack")
    commands.add_parser(
        "check-production",
        help="refuse development or short secrets (the prod stack's preflight)",
        description="Checks every secret compose passes (DEVELOPMENT_SECRETS) in this "
        "process's environment: exit 2 naming each one that is unset, a development "
        "default or too short.",
    )
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "migrate":
        if args.action == "create" and not (args.name and args.name.strip()):
            parser.error("migrate create needs a NAME, e.g. `migrate create add_user_table`")
        if args.action != "create" and args.name is not None:
            parser.error(f"migrate {args.action} takes no NAME (got {args.name!r})")
    return args


# --- commands ---------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace, settings: CliSettings) -> int:
    from llm_observatory.cli import database
    from llm_observatory.storage import migrate as migrations

    url = settings.database_url
    if args.action == "run":
        applied = database.run(url)
        if applied:
            for rev, doc in applied:
                print(f"applied {rev}  {doc}")
        else:
            print(f"already at the newest revision ({migrations.current(url)})")
    elif args.action == "revert":
        now = database.revert(url)
        print(f"reverted one revision; the database is now at {now or 'base (empty)'}")
    elif args.action == "status":
        print(database.render_status(database.status(url)))
    else:
        try:
            path = migrations.create(args.name)
        except OSError as exc:
            raise CliError(
                f"cannot write the new revision ({exc}): create migrations in a source "
                "checkout, `uv run llm-observatory migrate create NAME`"
            ) from exc
        print(f"created {path}")
    return 0


def cmd_seed(args: argparse.Namespace, settings: CliSettings) -> int:
    from llm_observatory.cli import database
    from llm_observatory.cli.seed import seed

    # An unreachable database or a missing schema gives a clear error here.
    existing = database.counts(settings.database_url)["spans"]
    if args.if_empty and existing:
        print(f"spans already holds {existing} rows: nothing seeded (--if-empty)")
        return 0
    result = asyncio.run(
        seed(settings.database_url, args.count, args.days, args.seed, args.batch_size)
    )
    print(
        f"seeded {result.rows} spans and {result.log_records} log records in "
        f"{result.seconds:.1f}s ({result.rows_per_second:,.0f} spans/s)"
    )
    return 0


def cmd_reset(args: argparse.Namespace, settings: CliSettings) -> int:
    from llm_observatory.cli import database

    if not args.confirm:
        raise CliError(
            "reset deletes every span, metric point and log record. Nothing was changed. "
            "Run `llm-observatory reset --confirm` to do it (a `backup` first keeps a copy)."
        )
    before = database.reset(settings.database_url)
    print("deleted " + ", ".join(f"{n} rows from {table}" for table, n in before.items()))
    return 0


def cmd_backup(args: argparse.Namespace, settings: CliSettings) -> int:
    from llm_observatory.cli.backup import backup

    result = backup(settings, args.output)
    print(f"backup written: {result.path} ({result.size} bytes)")
    for path in result.removed:
        print(f"removed old backup: {path}")
    if result.s3_uri:
        print(f"uploaded: {result.s3_uri}")
    return 0


def cmd_restore(args: argparse.Namespace, settings: CliSettings) -> int:
    from llm_observatory.cli.backup import restore

    restore(settings.database_url, args.path)
    print(f"restored {args.path} into {redact_url(settings.database_url)}")
    return 0


def cmd_token(args: argparse.Namespace, settings: CliSettings) -> int:
    from llm_observatory.cli.token import mint_token

    print(mint_token(args.subject, args.ttl, settings, scope=args.scope))
    return 0


def cmd_health(args: argparse.Namespace, settings: CliSettings) -> int:
    from llm_observatory.cli.health import render, run_checks

    checks = run_checks(settings)
    print(render(checks))
    down = [c.name for c in checks if c.required and not c.ok]
    if down:
        raise CliError(f"required services down: {', '.join(down)}; {STACK_HINT}")
    return 0


def cmd_check_production(args: argparse.Namespace, settings: CliSettings) -> int:
    from llm_observatory.cli.production import report

    fine, message = report(os.environ)
    if not fine:
        raise CliError(message, code=2)
    print(message)
    return 0


COMMANDS = {
    "migrate": cmd_migrate,
    "seed": cmd_seed,
    "reset": cmd_reset,
    "backup": cmd_backup,
    "restore": cmd_restore,
    "token": cmd_token,
    "health": cmd_health,
    "check-production": cmd_check_production,
    **governance.COMMANDS,
}


def run(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = CliSettings()
    except ValidationError as exc:
        print(f"error: invalid settings (environment / .env):\n{exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format, service="cli")
    # Alembic and botocore chat at info ("will assume transactional DDL", "found
    # credentials"); the commands print what they did themselves.
    for name in ("alembic.runtime.plugins", "alembic.runtime.migration", "botocore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return COMMANDS[args.command](args, settings)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
        print(
            f"error: lost the database at {redact_url(settings.database_url)}: "
            f"{' '.join(str(exc).split())}\n  {STACK_HINT}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
