"""A short, light headless locust run against the test stack: no failures, every span stored."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.support import ROOT

LOCUST_FILE = ROOT / "tests" / "performance" / "collector_load_test.py"
SPANS_PER_REQUEST = 20
USERS = 4


def test_headless_locust_run_has_no_failures_and_stores_every_span(test_stack, tmp_path):
    locust = Path(sys.executable).parent / "locust"
    if not locust.exists():
        pytest.skip("locust is not installed (it is in the dev group: uv sync)")
    service = f"load-{uuid.uuid4().hex[:8]}"
    result = subprocess.run(
        [
            str(locust),
            "-f",
            str(LOCUST_FILE),
            "--headless",
            "--users",
            str(USERS),
            "--spawn-rate",
            str(USERS),
            "--run-time",
            "8s",
            "--host",
            test_stack.url("collector", 4318),
            "--spans-per-request",
            str(SPANS_PER_REQUEST),
            "--wait-seconds",
            "0.2",
            "--service-name",
            service,
            "--csv",
            str(tmp_path / "load"),
            "--only-summary",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,  # locust puts its cwd on sys.path: the locustfile imports tests.support
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with open(tmp_path / "load_stats.csv", newline="") as handle:
        total = next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")
    assert int(total["Request Count"]) > 0 and int(total["Failure Count"]) == 0, total
    # The summary block, as an operator reads it (the final figures; the CSV can be
    # written a moment before the last requests finish).
    summary = result.stdout[result.stdout.index("=== collector load test ===") :]
    match = re.search(r"^requests: +(\d+) \((\d+) failed\)$", summary, re.MULTILINE)
    assert match, summary
    requests, failures = int(match[1]), int(match[2])
    assert requests > 0 and failures == 0, summary
    for label in ("requests/s:", "spans/s committed:", "failures:", "latency p50/p95/p99:"):
        assert label in summary
    # A 200 means committed: every acknowledged span is a row (fresh ids, no duplicates).
    # Requests in flight when the run time ends are not counted but may be committed.
    with psycopg.connect(test_stack.database_url(), autocommit=True) as conn:
        (stored,) = conn.execute(
            "SELECT count(*) FROM spans WHERE service_name = %s", (service,)
        ).fetchone()
    assert requests * SPANS_PER_REQUEST <= stored <= (requests + USERS) * SPANS_PER_REQUEST
