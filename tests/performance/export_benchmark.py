"""Export benchmark: `llm-observatory export` of a million spans with messages, per format.

    uv run python -m tests.performance.export_benchmark --database-url URL
    uv run python -m tests.performance.export_benchmark --database-url URL --no-seed

Seeds `--spans` demo spans (cli/demo_data.py: agent traces with prompts, completions,
tool calls, log records) into the database unless it holds that many already; a
million need a database on a volume, not tmpfs (several GB). Then, for each format,
runs the CLI as a separate process over every span, and prints its rows/s, the output
size and the process's peak resident memory (ru_maxrss), against `--memory-bound-mb`:
the export streams from a server-side cursor, so its memory must not grow with the
number of rows. Checks that the file holds as many rows as the database. Exits 1 if
a count differs or a format goes over the bound. Timings on a shared machine are
rough.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from llm_observatory.cli.seed import seed
from llm_observatory.storage import migrate

FORMATS = ("jsonl", "csv", "parquet")


def rows_in(path: Path, fmt: str) -> int:
    if fmt == "jsonl":
        with path.open("rb") as f:
            return sum(1 for _ in f)
    if fmt == "csv":
        csv.field_size_limit(sys.maxsize)
        with path.open(newline="", encoding="utf-8") as f:
            return sum(1 for _ in csv.reader(f)) - 1  # the header
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def run_export(
    url: str, fmt: str, start: datetime, out: Path, end: str = "now"
) -> tuple[float, float, str]:
    """(seconds, peak RSS in MiB, stdout) of one export in a child process."""
    command = [
        sys.executable, "-m", "llm_observatory.cli.main", "export",
        "--from", start.isoformat(), "--to", end, "--format", fmt, "--output", str(out),
    ]  # fmt: skip
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "warning"}
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    stdout = process.stdout.read().decode() if process.stdout else ""
    stderr = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"export {fmt} failed:\n{stderr}")
    return seconds, usage.ru_maxrss / 1024, stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("LLMO_BENCH_DATABASE_URL"))
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--no-seed", action="store_true")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--memory-bound-mb", type=float, default=300.0)
    parser.add_argument("--keep", action="store_true", help="keep the exported files")
    args = parser.parse_args()
    if not args.database_url:
        parser.error("--database-url (or LLMO_BENCH_DATABASE_URL) is required")
    url = args.database_url
    migrate.upgrade(url)
    with psycopg.connect(url) as conn:
        present = conn.execute("SELECT count(*) FROM spans").fetchone()[0]
    if not args.no_seed and present < args.spans:
        print(f"seeding {args.spans - present:,} spans ...", flush=True)
        result = asyncio.run(seed(url, args.spans - present, args.days, seed_value=present + 7))
        print(f"seeded {result.rows:,} spans in {result.seconds:.0f}s", flush=True)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE spans")
    start = datetime.now(UTC) - timedelta(days=args.days + 1)
    with psycopg.connect(url) as conn:
        expected = conn.execute(
            "SELECT count(*) FROM spans WHERE start_time >= %s", (start,)
        ).fetchone()[0]
        size = conn.execute("SELECT pg_size_pretty(hypertable_size('spans'))").fetchone()
    print(f"{expected:,} spans to export ({size[0]} in the database)")
    header = ("format", "rows", "seconds", "rows/s", "MiB out", "peak RSS MiB")
    print("{:8} {:>10} {:>8} {:>9} {:>8} {:>13}".format(*header))
    failed = False
    with tempfile.TemporaryDirectory() as scratch:
        # The same export over the last 1% of the range: memory that grew with the rows
        # would show as a difference.
        small_start = datetime.now(UTC) - (datetime.now(UTC) - start) / 100
        small = Path(scratch) / "small"
        for fmt in args.formats.split(","):
            _, peak, _ = run_export(url, fmt, small_start, small)
            print(f"{fmt:8} {rows_in(small, fmt):>10,} (1% of the range)  peak RSS {peak:.0f} MiB")
        small.unlink()
        for fmt in args.formats.split(","):
            out = Path(scratch) / f"spans.{fmt}"
            seconds, peak, _ = run_export(url, fmt, start, out)
            rows = rows_in(out, fmt)
            verdict = "ok" if rows == expected and peak <= args.memory_bound_mb else "FAIL"
            failed |= verdict != "ok"
            print(
                f"{fmt:8} {rows:>10,} {seconds:>8.1f} {rows / seconds:>9,.0f} "
                f"{out.stat().st_size / 2**20:>8.0f} {peak:>13.0f}  {verdict}"
                + ("" if rows == expected else f" (database: {expected:,})"),
                flush=True,
            )
            if args.keep:
                out.rename(Path.cwd() / out.name)
            else:
                out.unlink()
    print(f"memory bound: {args.memory_bound_mb:.0f} MiB peak RSS per export process")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
