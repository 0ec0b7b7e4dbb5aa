"""`delete` and `export`: a person's data out of the database, or all of a range out to a file.

Both run as the owner (DATABASE_URL). `delete` is a dry run unless --confirm: it
prints what would go, per table; confirmed, it deletes in short batches
(storage/deletion.py) and records the deletion in deletion_audit. `export` streams
spans to a file (or stdout) from a server-side cursor (storage/export.py). Progress
goes to stderr when it is a terminal.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO

import psycopg

from llm_observatory.cli.errors import CliError, connect
from llm_observatory.core.settings import CliSettings
from llm_observatory.storage import deletion, export

PROGRESS_EVERY = 0.5  # seconds between two progress lines


def parse_time(text: str) -> datetime:
    """ISO 8601 date or time; without a zone it is UTC. 'now' is now."""
    if text.strip().lower() == "now":
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            day = date.fromisoformat(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"not a date or time: {text!r} (e.g. 2026-01-31 or 2026-01-31T12:00:00Z)"
            ) from None
        value = datetime(day.year, day.month, day.day)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _batch_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if not 1 <= value <= 100_000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 100000, got {value}")
    return value


def add_parsers(commands: argparse._SubParsersAction) -> None:
    remove = commands.add_parser(
        "delete",
        help="delete a user's, conversation's, trace's or service's data (dry run first)",
        description="Without --confirm, prints the rows each table would lose and changes "
        "nothing. With --confirm, deletes them in short batches that do not block ingest "
        "and records the deletion in deletion_audit. Several criteria narrow each other.",
    )
    remove.add_argument("--user", help="a user id (user.id / enduser.id): their traces and logs")
    remove.add_argument("--conversation", help="a conversation (session) id: its traces")
    remove.add_argument("--trace", help="a trace id")
    remove.add_argument("--service", help="a service name")
    remove.add_argument("--before", type=parse_time, help="only data older than this time")
    remove.add_argument("--confirm", action="store_true", help="yes, delete")
    remove.add_argument(
        "--batch-size",
        type=_batch_size,
        default=deletion.DEFAULT_BATCH_SIZE,
        help="rows per transaction",
    )
    remove.add_argument(
        "--requested-by", help="who asks, for the audit trail (default: the login name)"
    )

    out = commands.add_parser(
        "export",
        help="export spans of a time range to JSON lines, CSV or Parquet",
        description="Streams the spans with start time in [--from, --to) in bounded memory.",
    )
    out.add_argument("--from", dest="start", type=parse_time, required=True)
    out.add_argument("--to", dest="end", type=parse_time, default="now")
    for name in ("service", "model", "user", "conversation"):
        out.add_argument(f"--{name}", help=f"only spans of this {name}")
    out.add_argument("--format", choices=export.FORMATS, default="jsonl")
    out.add_argument("--output", required=True, help="the file to write, or - for stdout")


def _selector(args: argparse.Namespace) -> deletion.Selector:
    try:
        return deletion.Selector(
            user=args.user,
            conversation=args.conversation,
            trace=args.trace,
            service=args.service,
            before=args.before,
        )
    except deletion.SelectorError as exc:
        raise CliError(f"{exc}: e.g. `llm-observatory delete --user alice`", code=2) from exc


def _table(counts: dict[str, int]) -> str:
    width = max(len(table) for table in counts)
    return "\n".join(f"  {table.ljust(width)}  {n:>12,}" for table, n in counts.items())


class Progress:
    """A line on stderr, rewritten at most every PROGRESS_EVERY seconds (terminals only)."""

    def __init__(self, stream: IO[str] = sys.stderr) -> None:
        self.stream = stream
        self.on = stream.isatty()
        self.started = time.perf_counter()
        self.last = 0.0

    def __call__(self, text: str) -> None:
        now = time.perf_counter()
        if self.on and now - self.last >= PROGRESS_EVERY:
            self.last = now
            self.stream.write(f"\r{text}  ({now - self.started:.0f}s)\x1b[K")
            self.stream.flush()

    def done(self) -> float:
        if self.on and self.last:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        return time.perf_counter() - self.started


def _schema_missing(exc: psycopg.errors.UndefinedTable) -> CliError:
    return CliError(
        f"the schema is missing or old ({exc.diag.message_primary}): run `llm-observatory migrate`"
    )


def cmd_delete(args: argparse.Namespace, settings: CliSettings) -> int:
    try:
        return _delete(args, settings)
    except psycopg.errors.UndefinedTable as exc:
        raise _schema_missing(exc) from exc


def _delete(args: argparse.Namespace, settings: CliSettings) -> int:
    selector = _selector(args)
    with connect(settings.database_url) as conn:
        conn.autocommit = True
        if not args.confirm:
            counts = deletion.count(conn, selector)
            print(f"dry run: nothing was deleted. {selector.describe()} selects:")
            print(_table(counts))
            print("run again with --confirm to delete them (recorded in deletion_audit)")
            return 0
        who = args.requested_by or os.environ.get("LLMO_REQUESTED_BY") or getpass.getuser()
        progress = Progress()
        audit_id, deleted = deletion.delete(
            conn,
            selector,
            who,
            batch_size=args.batch_size,
            progress=lambda table, n: progress(f"deleting from {table}: {n:,} rows"),
        )
        seconds = progress.done()
    print(f"deleted ({selector.describe()}) in {seconds:.1f}s, deletion_audit id {audit_id}:")
    print(_table(deleted))
    return 0


def _export_to(path: str) -> tuple[IO[bytes], Callable[[bool], None]]:
    """The stream to write and what to do at the end (a file appears only when complete)."""
    if path == "-":
        return sys.stdout.buffer, lambda ok: None
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    try:
        stream = partial.open("wb")
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from exc

    def finish(ok: bool) -> None:
        stream.close()
        if ok:
            partial.replace(target)
        else:
            partial.unlink(missing_ok=True)

    return stream, finish


def cmd_export(args: argparse.Namespace, settings: CliSettings) -> int:
    try:
        where = export.ExportFilter(
            args.start, args.end, args.service, args.model, args.user, args.conversation
        )
        if args.format == "parquet":
            export.arrow_schema(export.Layout({}))  # pyarrow present? before any work
    except export.ExportError as exc:
        raise CliError(str(exc), code=2) from exc
    stream, finish = _export_to(args.output)
    progress = Progress()
    ok = False
    try:
        with connect(settings.database_url) as conn:
            rows = export.export(
                conn, where, args.format, stream, lambda n: progress(f"exported {n:,} spans")
            )
        ok = True
    except psycopg.errors.UndefinedTable as exc:
        raise _schema_missing(exc) from exc
    finally:
        finish(ok)
    seconds = progress.done()
    rate = rows / seconds if seconds > 0 else float("inf")
    where_to = "stdout" if args.output == "-" else args.output
    # With --output -, stdout is the data: the summary goes to stderr.
    report = sys.stderr if args.output == "-" else sys.stdout
    print(
        f"exported {rows:,} spans to {where_to} ({args.format}) in {seconds:.1f}s "
        f"({rate:,.0f} rows/s)",
        file=report,
    )
    return 0


COMMANDS = {"delete": cmd_delete, "export": cmd_export}
