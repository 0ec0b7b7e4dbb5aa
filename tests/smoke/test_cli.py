"""The CLI against the running test stack: in the stack (the cli service) and from the host.

In the stack it runs as users run it, `docker compose --profile tools run --rm cli ...`
(pg_dump/pg_restore 17 live in that image); from the host, in-process against the
stack's published database port, where that is simpler (seed, reset, health).
"""

from __future__ import annotations

import asyncio
import io
import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import httpx
import psycopg
import pyarrow.parquet as pq
import pytest

import tasks
from llm_observatory.cli import main as cli
from llm_observatory.cli.demo_data import DemoData
from llm_observatory.cli.seed import seed
from tests.support.compose_stack import compose_args

COUNT_SQL = {
    table: f"SELECT count(*) FROM {table}" for table in ("spans", "metric_points", "log_records")
}
USAGE_SQL = """
    SELECT model, count(*), sum(input_tokens), sum(output_tokens), sum(total_tokens),
           sum(cost_usd)
    FROM spans GROUP BY model ORDER BY model NULLS FIRST
"""


@pytest.fixture(scope="module")
def stack(test_stack):
    # `up --build` skips profile services and `run` reuses any image it finds: build the
    # cli image from this checkout once, or the tests would exercise a stale one.
    test_stack.compose("--profile", "tools", "build", "cli")
    return test_stack


@pytest.fixture
def host_cli(stack, monkeypatch, capsys):
    """Run the CLI in-process against the stack; returns (exit code, stdout, stderr).

    The settings go into the environment only for the call: compose interpolates
    ${DATABASE_URL} and friends from the same environment for the cli service.
    """

    def run(*argv: str, **env: str) -> tuple[int, str, str]:
        with monkeypatch.context() as scoped:
            scoped.setenv("DATABASE_URL", stack.database_url())
            for key, value in env.items():
                scoped.setenv(key, value)
            code = cli.run(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def stack_cli(stack, *argv: str, check: bool = True):
    return stack.compose("--profile", "tools", "run", "--rm", "-T", "cli", *argv, check=check)


def snapshot(stack) -> tuple[dict[str, int], list[tuple]]:
    with psycopg.connect(stack.database_url()) as conn:
        counts = {table: conn.execute(q).fetchone()[0] for table, q in COUNT_SQL.items()}
        usage = conn.execute(USAGE_SQL).fetchall()
    return counts, usage


def test_migrate_status_in_the_stack(stack):
    result = stack_cli(stack, "migrate", "status")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["REVISION", "STATE", "DESCRIPTION"]
    assert any(line.split()[:2] == ["0001", "applied"] for line in lines[1:])


def test_migrate_run_in_the_stack_is_idempotent(stack):
    status = stack_cli(stack, "migrate", "status").stdout.splitlines()
    head = status[-1].split()[0]
    result = stack_cli(stack, "migrate")
    assert f"already at the newest revision ({head})" in result.stdout


def test_seed_backup_reset_restore_round_trip(stack, host_cli):
    code, out, _ = host_cli("seed", "--count", "3000", "--days", "2", "--seed", "11")
    assert code == 0, out
    assert "seeded 3000 spans" in out and "spans/s" in out
    counts, usage = snapshot(stack)
    assert counts["spans"] >= 3000
    assert len(usage) >= 8 and any(row[5] for row in usage)

    backup = stack_cli(stack, "backup", "--output", "/backups/round-trip.dump")
    assert "backup written: /backups/round-trip.dump" in backup.stdout

    code, out, _ = host_cli("reset", "--confirm")
    assert code == 0 and f"deleted {counts['spans']} rows from spans" in out
    emptied, _ = snapshot(stack)
    assert emptied == {"spans": 0, "metric_points": 0, "log_records": 0}

    restored = stack_cli(stack, "restore", "/backups/round-trip.dump")
    assert "restored /backups/round-trip.dump" in restored.stdout
    assert snapshot(stack) == (counts, usage)
    # The restored tables are hypertables again, out of restoring mode, with their grants.
    with psycopg.connect(stack.database_url()) as conn:
        hypertables = conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1"
        ).fetchall()
        assert hypertables == [
            ("log_records",),
            ("metric_points",),
            ("rejected_records",),
            ("spans",),
        ]
        assert conn.execute("SHOW timescaledb.restoring").fetchone()[0] == "off"
        assert conn.execute(
            "SELECT has_table_privilege(%s, 'spans', 'INSERT')",
            (os.environ.get("DB_APP_USER", "llm_observatory_app"),),
        ).fetchone()[0]
    # Ingest still works into the restored tables.
    assert stack.service_health().get("storage") == "healthy"


def test_reset_without_confirm_changes_nothing(stack, host_cli):
    host_cli("seed", "--count", "200", "--seed", "3")
    before = snapshot(stack)
    assert before[0]["spans"] > 0
    code, _, err = host_cli("reset")
    assert code == 1
    assert "Nothing was changed" in err
    assert snapshot(stack) == before
    in_stack = stack_cli(stack, "reset", check=False)
    assert in_stack.returncode == 1 and "reset --confirm" in in_stack.stderr
    assert snapshot(stack) == before


def test_parquet_export_in_the_stack(stack):
    """`export --format parquet` in the cli image (its `export` extra brings pyarrow),
    streamed to stdout as `invoke export` does; the service images stay without it."""
    suffix = f"-cli{uuid.uuid4().hex[:6]}"
    asyncio.run(
        seed(
            stack.database_url(), 400, days=1, data=DemoData(seed=5, days=1, service_suffix=suffix)
        )
    )
    start = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    with psycopg.connect(stack.database_url()) as conn:
        service, expected = conn.execute(
            "SELECT service_name, count(*) FROM spans WHERE service_name LIKE %s "
            "GROUP BY 1 ORDER BY 2 DESC LIMIT 1",
            (f"%{suffix}",),
        ).fetchone()
    command = [
        *compose_args("test", stack.project),
        *("--profile", "tools", "run", "--rm", "-T", "cli", "export", "--from", start),
        *("--service", service, "--format", "parquet", "--output", "-"),
    ]
    result = subprocess.run(command, cwd=tasks.ROOT, capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    table = pq.read_table(io.BytesIO(result.stdout))
    assert table.num_rows == expected > 0
    assert set(table.column("service_name").to_pylist()) == {service}
    without = stack.compose(
        "run", "--rm", "-T", "--no-deps", "--entrypoint", "python", "storage",
        "-c", "import pyarrow",
        check=False,
    )  # fmt: skip
    assert without.returncode != 0 and "No module named 'pyarrow'" in without.stderr


def _published_health(stack) -> dict[str, str]:
    """Settings pointing `health` at what the test stack publishes on 127.0.0.1."""
    redis_port = stack.port("redis", int(os.environ.get("REDIS_PORT", "6379")))
    password = os.environ.get("REDIS_PASSWORD", "redis_dev_password")
    return {
        "REDIS_URL": f"redis://:{password}@127.0.0.1:{redis_port}/0",
        "COLLECTOR_HEALTH_URL": stack.url("collector", 9090, "/health"),
        "STORAGE_HEALTH_URL": stack.url("storage", 9090, "/health"),
        "HEALTH_REQUIRED": "database,redis,collector,storage",
        "HEALTH_TIMEOUT": "2",
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_health_reports_the_stack_up(stack, host_cli):
    code, out, err = host_cli("health", **_published_health(stack))
    assert code == 0, out + err
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}
    assert rows["database"] == rows["redis"] == rows["collector"] == rows["storage"] == "up"


def test_health_reports_a_down_service_and_exits_1(stack, host_cli):
    env = _published_health(stack)
    env["COLLECTOR_HEALTH_URL"] = f"http://127.0.0.1:{_free_port()}/health"
    code, out, err = host_cli("health", **env)
    assert code == 1
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}
    assert rows["collector"] == "DOWN" and rows["storage"] == "up"
    assert "required services down: collector" in err


# --- S3 upload against a local emulator ---------------------------------------------------


@pytest.fixture
def s3_endpoint():
    """moto_server on 127.0.0.1, a free port; stopped after the test."""
    port = _free_port()
    server = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "moto_server"),
            "-H",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError("moto_server did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_backup_uploads_to_s3(stack, s3_endpoint, tmp_path):
    credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="llmo-backups")
    # The host has no pg_dump 17: the cli image runs the backup, on the host's network
    # so that it reaches the emulator (and the database) on 127.0.0.1.
    image = f"{tasks.project_name('test')}-cli"
    tmp_path.chmod(0o777)  # the image runs as uid 10001
    env = {
        "DATABASE_URL": stack.database_url(),
        "BACKUP_DIR": "/backups",
        "BACKUP_S3_BUCKET": "llmo-backups",
        "BACKUP_S3_PREFIX": "smoke/run1",
        "BACKUP_S3_ENDPOINT_URL": s3_endpoint,
        "BACKUP_S3_REGION": "us-east-1",
        **credentials,
    }
    command = ["docker", "run", "--rm", "--network", "host", "-v", f"{tmp_path}:/backups"]
    for key, value in env.items():
        command += ["-e", f"{key}={value}"]
    result = subprocess.run(
        [*command, image, "backup"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [dump] = [p for p in tmp_path.glob("llm_observatory-*.dump")]
    assert (tmp_path / "latest.dump").read_bytes() == dump.read_bytes()
    key = f"smoke/run1/{dump.name}"
    assert f"uploaded: s3://llmo-backups/{key}" in result.stdout
    head = s3.head_object(Bucket="llmo-backups", Key=key)
    assert head["ContentLength"] == dump.stat().st_size > 0


def test_failed_upload_exits_non_zero_and_keeps_the_dump(stack, s3_endpoint, tmp_path):
    image = f"{tasks.project_name('test')}-cli"
    tmp_path.chmod(0o777)
    result = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "host",
            "-v",
            f"{tmp_path}:/backups",
            "-e",
            f"DATABASE_URL={stack.database_url()}",
            "-e",
            "BACKUP_S3_BUCKET=no-such-bucket",
            "-e",
            f"BACKUP_S3_ENDPOINT_URL={s3_endpoint}",
            "-e",
            "BACKUP_S3_REGION=us-east-1",
            "-e",
            "AWS_ACCESS_KEY_ID=testing",
            "-e",
            "AWS_SECRET_ACCESS_KEY=testing",
            image,
            "backup",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert "upload of /backups/llm_observatory-" in result.stderr
    assert "check BACKUP_S3_BUCKET" in result.stderr
    assert list(tmp_path.glob("llm_observatory-*.dump"))
