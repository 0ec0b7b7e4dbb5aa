"""The read replica in compose (profile replica): a streaming hot standby the API reads.

A stack of its own (docker-compose.yml + .test-stack.yml + compose.replica.yml): the primary on
a volume so that it survives the restart below, timescaledb-replica made by
docker/replica/entrypoint.sh, and the API reading through a libpq multi-host URL,
replica first, with target_session_attrs=prefer-standby. Rows go in through storage's
own writer on the primary, the reads come back through the API.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from llm_observatory.api.auth import mint_token
from llm_observatory.core.records import SpanRecord
from llm_observatory.core.settings import ApiSettings
from llm_observatory.storage.writer import SpanWriter
from tests.support.compose_stack import ROOT, Stack, started, worker_project

pytestmark = [pytest.mark.docker, pytest.mark.stack]

OVERLAY = ROOT / "tests" / "smoke" / "compose.replica.yml"
SLOT = "timescaledb_replica"
DB_PORT = int(os.environ.get("DB_PORT", "5432"))


class ReplicaStack(Stack):
    def compose(self, *args: str, **kwargs):  # type: ignore[no-untyped-def]
        return super().compose("-f", str(OVERLAY), "--profile", "replica", *args, **kwargs)

    def replica_url(self) -> str:
        user = self.var("DB_USER", "postgres")
        password = self.var("DB_PASSWORD", "postgres_dev_password")
        name = self.var("DB_NAME", "llm_observatory")
        port = self.port("timescaledb-replica", DB_PORT)
        return f"postgresql://{user}:{password}@127.0.0.1:{port}/{name}"


@pytest.fixture(scope="module")
def stack(docker, worker_id) -> ReplicaStack:
    stack = ReplicaStack("test", project=worker_project("-replica", worker_id))
    with started(stack, "timescaledb-replica", "api"):
        yield stack


@pytest.fixture
def api(stack) -> httpx.Client:
    token = mint_token(f"replica-{uuid.uuid4().hex[:8]}", 600, ApiSettings())
    with httpx.Client(
        base_url=stack.url("api", 8080), headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        yield client


def on_primary(stack: ReplicaStack, sql: str) -> list[tuple]:
    with psycopg.connect(stack.database_url(), autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def on_replica(stack: ReplicaStack, sql: str) -> list[tuple]:
    with psycopg.connect(stack.replica_url(), autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def write_trace(stack: ReplicaStack) -> str:
    """One span written as storage writes, on the primary; its trace id."""
    trace_id = uuid.uuid4().hex
    now = time.time_ns()
    span = SpanRecord(
        trace_id=trace_id,
        span_id=uuid.uuid4().hex[:16],
        parent_span_id=None,
        name="replica probe",
        kind="server",
        start_time_unix_nano=now,
        end_time_unix_nano=now + 1_000_000,
        status_code="ok",
        service_name="replica-smoke",
    )

    async def write() -> int:
        async with AsyncConnectionPool(
            stack.database_url(), min_size=1, max_size=1, open=False
        ) as pool:
            return await SpanWriter(pool).write([span])

    assert asyncio.run(write()) == 1
    return trace_id


def eventually(check: Callable[[], bool], seconds: float, what: str) -> float:
    """Seconds until check() held; fails after `seconds`."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if check():
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds}s: {what}")


def api_has(api: httpx.Client, trace_id: str) -> bool:
    response = api.get(f"/api/v1/traces/{trace_id}")
    assert response.status_code in {200, 404}, response.text
    return response.status_code == 200


def streaming(stack: ReplicaStack) -> bool:
    rows = on_primary(
        stack, f"SELECT state FROM pg_stat_replication WHERE application_name = '{SLOT}'"
    )
    return rows == [("streaming",)]


def test_the_replica_is_a_hot_standby_streaming_through_its_slot(stack):
    assert on_replica(stack, "SELECT pg_is_in_recovery()") == [(True,)]
    assert streaming(stack)
    assert on_primary(
        stack, f"SELECT slot_type, active FROM pg_replication_slots WHERE slot_name = '{SLOT}'"
    ) == [("physical", True)]
    # It replicates as the replication role, which can do nothing else.
    assert on_primary(
        stack,
        "SELECT r.rolreplication, r.rolsuper FROM pg_stat_replication s "
        f"JOIN pg_roles r ON r.oid = s.usesysid WHERE s.application_name = '{SLOT}'",
    ) == [(True, False)]
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        on_replica(stack, "CREATE TABLE no_writes_on_a_standby (id int)")


def test_the_api_reads_from_the_replica(stack, api):
    assert eventually(lambda: api_has(api, write_trace(stack)), 10, "a row through the API")
    # Its pool is connected to the replica...
    assert on_replica(
        stack,
        "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'llm-observatory-api'",
    ) == [(True,)]
    # ...and its reads come from there: with replay paused, a row the primary has is
    # not in the API's answer until the replica replays it.
    on_replica(stack, "SELECT pg_wal_replay_pause()")
    try:
        trace_id = write_trace(stack)
        assert on_primary(stack, f"SELECT count(*) FROM spans WHERE trace_id = '{trace_id}'")[0][0]
        time.sleep(1.5)
        assert not api_has(api, trace_id), "the API answered from the primary"
    finally:
        on_replica(stack, "SELECT pg_wal_replay_resume()")
    waited = eventually(lambda: api_has(api, trace_id), 10, "the row after replay resumed")
    print(f"row readable through the API {waited:.2f}s after replay resumed")


def test_maintenance_exports_the_lag(stack):
    probe = (
        "import urllib.request; print(urllib.request.urlopen("
        "'http://127.0.0.1:9090/metrics', timeout=5).read().decode())"
    )

    def metrics() -> str:
        return stack.exec("maintenance", "python", "-c", probe).stdout

    eventually(lambda: f'llmo_replication_lag_bytes{{replica="{SLOT}"}}' in metrics(), 30, "lag")
    text = metrics()
    assert "llmo_replication_replicas 1.0" in text
    assert f'llmo_replication_slot_active{{slot="{SLOT}"}} 1.0' in text
    assert f'llmo_replication_lag_seconds{{replica="{SLOT}"}}' in text


def test_the_replica_survives_a_primary_restart(stack, api):
    before = write_trace(stack)
    eventually(lambda: api_has(api, before), 10, "a row before the restart")
    stack.compose("restart", "timescaledb")
    stack.wait_healthy("timescaledb", 120)
    waited = eventually(lambda: streaming(stack), 60, "streaming again after the restart")
    print(f"replica streaming again {waited:.1f}s after the primary was healthy")
    assert on_replica(stack, "SELECT pg_is_in_recovery()") == [(True,)]
    after = write_trace(stack)
    query = f"SELECT count(*) FROM spans WHERE trace_id = '{after}'"
    eventually(lambda: on_replica(stack, query) == [(1,)], 10, "a row written after the restart")
    assert api_has(api, before)


def test_without_the_replica_the_api_reads_from_the_primary(stack, api):
    stack.compose("stop", "timescaledb-replica")
    trace_id = write_trace(stack)
    # The pool's connections to the replica break; new ones go to the primary.
    waited = eventually(lambda: _answers(api, trace_id), 30, "the API on the primary")
    print(f"API answering from the primary {waited:.1f}s after the replica stopped")
    assert api.get("/health").json()["database"] == "ok"
    stack.compose("start", "timescaledb-replica")
    stack.wait_healthy("timescaledb-replica", 120)


def _answers(api: httpx.Client, trace_id: str) -> bool:
    try:
        response = api.get(f"/api/v1/traces/{trace_id}")
    except httpx.HTTPError:
        return False
    return response.status_code == 200
