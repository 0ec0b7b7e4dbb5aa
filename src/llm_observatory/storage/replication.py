"""Streaming replicas as seen from the primary: how far behind each one is.

The maintenance service (the owner's connection) reads pg_stat_replication and
pg_replication_slots every REPLICATION_CHECK_INTERVAL and exports them as gauges on
its /metrics; docker/prometheus/alerts/replication_alerts.yml alerts on them and the
Database dashboard draws them. A replica's row is its WAL receiver's application_name
(the slot name, docker/replica/entrypoint.sh). Without the superuser or pg_monitor,
PostgreSQL hides the positions of other roles' sessions: the lag then reads as absent.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Gauge
from psycopg import AsyncConnection

# Replicas and slots are few; more rows than this are not exported (bounded series).
MAX_SERIES = 32

REPLICAS = Gauge(
    "llmo_replication_replicas", "Standbys streaming from this primary (pg_stat_replication)."
)
LAG_BYTES = Gauge(
    "llmo_replication_lag_bytes",
    "WAL the primary wrote that the replica has not replayed yet.",
    ["replica"],
)
LAG_SECONDS = Gauge(
    "llmo_replication_lag_seconds",
    "How long ago the replica replayed what the primary wrote (replay_lag; 0 when caught up).",
    ["replica"],
)
SLOT_RETAINED_BYTES = Gauge(
    "llmo_replication_slot_retained_bytes",
    "WAL the primary keeps for a physical replication slot.",
    ["slot"],
)
SLOT_ACTIVE = Gauge(
    "llmo_replication_slot_active", "1 while a replica streams through the slot.", ["slot"]
)

REPLICAS_SQL = """
SELECT coalesce(nullif(application_name, ''), client_addr::text, 'unknown') AS replica,
       state,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), replay_lsn) AS lag_bytes,
       extract(epoch FROM replay_lag)::float8 AS lag_seconds
FROM pg_catalog.pg_stat_replication
ORDER BY 1
LIMIT %(limit)s
"""
SLOTS_SQL = """
SELECT slot_name, active,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn) AS retained
FROM pg_catalog.pg_replication_slots
WHERE slot_type = 'physical'
ORDER BY 1
LIMIT %(limit)s
"""


@dataclass(frozen=True)
class Replica:
    name: str
    state: str | None
    lag_bytes: float | None
    lag_seconds: float | None


@dataclass(frozen=True)
class Slot:
    name: str
    active: bool
    retained_bytes: float | None


async def read_replication(conn: AsyncConnection) -> tuple[list[Replica], list[Slot]]:
    params = {"limit": MAX_SERIES}
    cursor = await conn.execute(REPLICAS_SQL, params)
    replicas = [Replica(*row) for row in await cursor.fetchall()]
    cursor = await conn.execute(SLOTS_SQL, params)
    slots = [Slot(*row) for row in await cursor.fetchall()]
    return replicas, slots


def export(replicas: list[Replica], slots: list[Slot]) -> None:
    """Replace the gauges' series with this reading: a replica that left has none."""
    for gauge in (LAG_BYTES, LAG_SECONDS, SLOT_RETAINED_BYTES, SLOT_ACTIVE):
        gauge.clear()
    REPLICAS.set(sum(1 for replica in replicas if replica.state == "streaming"))
    for replica in replicas:
        if replica.lag_bytes is None:  # positions hidden, or not streaming yet
            continue
        LAG_BYTES.labels(replica.name).set(float(replica.lag_bytes))
        # replay_lag turns NULL once a caught-up replica has nothing to replay.
        seconds = replica.lag_seconds
        if seconds is None and float(replica.lag_bytes) == 0:
            seconds = 0.0
        if seconds is not None:
            LAG_SECONDS.labels(replica.name).set(float(seconds))
    for slot in slots:
        SLOT_ACTIVE.labels(slot.name).set(1 if slot.active else 0)
        if slot.retained_bytes is not None:
            SLOT_RETAINED_BYTES.labels(slot.name).set(float(slot.retained_bytes))


async def check_replication(url: str) -> None:
    async with await AsyncConnection.connect(url, autocommit=True, connect_timeout=5) as conn:
        replicas, slots = await read_replication(conn)
    export(replicas, slots)
