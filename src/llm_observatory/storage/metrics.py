"""Prometheus metrics of the storage service. Names are read by the alert rules and dashboards."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from llm_observatory.core.ops import SECONDS_BUCKETS

ROWS_RECEIVED = Counter(
    "llmo_storage_rows_received", "Records received on the ingest API, by table.", ["table"]
)
ROWS_WRITTEN = Counter(
    "llmo_storage_rows_written", "Records committed by the batch writer, by table.", ["table"]
)
ROWS_REJECTED = Counter(
    "llmo_storage_rows_rejected",
    "Rows the database refused for a reason in the data, kept in rejected_records, by table.",
    ["table"],
)
WRITE_FAILURES = Counter(
    "llmo_storage_write_failures", "Batches the database did not commit, by table.", ["table"]
)
BATCH_ROWS = Histogram(
    "llmo_storage_batch_rows",
    "Records per database transaction.",
    ["table"],
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
)
FLUSH_DURATION = Histogram(
    "llmo_storage_flush_duration_seconds",
    "Time to write and commit one batch.",
    ["table"],
    buckets=SECONDS_BUCKETS,
)
QUEUE_DEPTH = Gauge(
    "llmo_storage_queue_depth", "Records waiting for or in a transaction.", ["table"]
)
POOL_SIZE = Gauge("llmo_storage_db_pool_connections", "Connections in the pool.")
POOL_AVAILABLE = Gauge("llmo_storage_db_pool_available", "Idle connections in the pool.")
DATABASE_UP = Gauge("llmo_storage_database_up", "1 when the last database check succeeded.")
QUEUE_CAPACITY = Gauge(
    "llmo_storage_queue_capacity", "MAX_QUEUE_SIZE of the storage service: each table's limit."
)
# route is the template (/v1/ingest/{signal}), never the raw path: bounded labels.
HTTP_REQUEST_DURATION = Histogram(
    "llmo_storage_http_request_duration_seconds",
    "Ingest API requests: time to answer, by route, method and status.",
    ["route", "method", "status"],
    buckets=SECONDS_BUCKETS,
)
