"""The replication gauges the maintenance service exports (storage/replication.py)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from llm_observatory.storage import replication
from llm_observatory.storage.replication import Replica, Slot, export


def value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_each_replica_and_slot_gets_its_series():
    export(
        [
            Replica("replica_1", "streaming", 4096, 1.5),
            Replica("replica_2", "catchup", 10_000_000, 42.0),
        ],
        [Slot("replica_1", True, 8192), Slot("replica_2", False, 10_000_000)],
    )
    assert value("llmo_replication_replicas") == 1  # streaming ones only
    assert value("llmo_replication_lag_bytes", replica="replica_1") == 4096
    assert value("llmo_replication_lag_seconds", replica="replica_2") == 42.0
    assert value("llmo_replication_slot_active", slot="replica_2") == 0
    assert value("llmo_replication_slot_retained_bytes", slot="replica_1") == 8192


def test_a_replica_that_left_has_no_series_any_more():
    export([Replica("gone", "streaming", 0, 0.0)], [Slot("gone", True, 0)])
    export([], [Slot("gone", False, 1024)])
    assert value("llmo_replication_replicas") == 0
    assert value("llmo_replication_lag_bytes", replica="gone") is None
    assert value("llmo_replication_slot_active", slot="gone") == 0


def test_a_caught_up_replica_has_no_lag_even_when_postgres_reports_null():
    export([Replica("idle", "streaming", 0, None)], [])
    assert value("llmo_replication_lag_seconds", replica="idle") == 0.0


def test_hidden_positions_export_nothing_rather_than_zero():
    # Without the superuser or pg_monitor the positions are NULL: unknown is not "no lag".
    export([Replica("hidden", "streaming", None, None)], [Slot("hidden", True, None)])
    assert value("llmo_replication_lag_bytes", replica="hidden") is None
    assert value("llmo_replication_lag_seconds", replica="hidden") is None
    assert value("llmo_replication_slot_retained_bytes", slot="hidden") is None
    assert value("llmo_replication_slot_active", slot="hidden") == 1


def test_the_queries_are_bounded():
    for sql in (replication.REPLICAS_SQL, replication.SLOTS_SQL):
        assert "LIMIT %(limit)s" in sql
    assert replication.MAX_SERIES <= 64
