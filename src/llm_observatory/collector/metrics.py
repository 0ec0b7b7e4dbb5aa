"""Prometheus metrics of the collector. Names are read by the alert rules and dashboards."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from llm_observatory.collector import labels
from llm_observatory.core.ops import SECONDS_BUCKETS
from llm_observatory.core.signals import SIGNALS

ITEMS_RECEIVED = Counter(
    "llmo_collector_items_received",
    "Spans, metric points or log records received, by signal and protocol.",
    ["signal", "protocol"],
)
ITEMS_ACCEPTED = Counter(
    "llmo_collector_items_accepted",
    "Items stored and acknowledged to the sender.",
    ["signal", "protocol"],
)
ITEMS_REJECTED = Counter(
    "llmo_collector_items_rejected",
    "Items refused, by reason: invalid (a record that cannot be decoded, processed or "
    "encoded), storage_rejected (rows storage kept in rejected_records), queue_full, "
    "storage_unavailable, busy, unauthenticated, too_large, malformed (whole requests).",
    ["signal", "protocol", "reason"],
)
REQUESTS = Counter(
    "llmo_collector_requests",
    "OTLP export requests by signal, protocol and answer code (HTTP status or gRPC code).",
    ["signal", "protocol", "code"],
)
EXPORT_DURATION = Histogram(
    "llmo_collector_export_duration_seconds",
    "Time from receiving an export request to answering it.",
    ["signal", "protocol"],
    buckets=SECONDS_BUCKETS,
)
# multiprocess_mode: how worker processes combine (COLLECTOR_PROCESSES > 1); ignored
# with one process.
QUEUE_DEPTH = Gauge(
    "llmo_collector_queue_depth",
    "Items waiting to be forwarded to storage.",
    multiprocess_mode="livesum",
)
QUEUE_CAPACITY = Gauge(
    "llmo_collector_queue_capacity",
    "MAX_QUEUE_SIZE summed over the worker processes: the queue's limit.",
    multiprocess_mode="livesum",
)
BATCH_SIZE = Histogram(
    "llmo_collector_batch_size",
    "Items per batch forwarded to storage.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
)
FORWARD_DURATION = Histogram(
    "llmo_collector_forward_duration_seconds",
    "Time for storage to commit one forwarded batch.",
    ["signal"],
    buckets=SECONDS_BUCKETS,
)
FORWARD_FAILURES = Counter(
    "llmo_collector_forward_failures", "Batches storage did not commit.", ["signal"]
)
# Labels taken from client data come from known lists (collector/labels.py), so no
# request can add series: a provider we do not know is "other".
LLM_SPANS = Counter("llmo_collector_llm_spans", "LLM spans recognised, by provider.", ["provider"])
COST_MISSES = Counter(
    "llmo_collector_cost_misses",
    "LLM spans whose cost could not be computed (unknown model), by provider.",
    ["provider"],
)
PII_DETECTIONS = Counter(
    "llmo_collector_pii_detections", "Items in which PII was found and redacted, by kind.", ["kind"]
)

PROTOCOLS = ("grpc", "http")
REJECTION_REASONS = (
    "invalid",
    "storage_rejected",
    "queue_full",
    "storage_unavailable",
    "busy",
    "unauthenticated",
    "too_large",
    "malformed",
)
SUCCESS_CODES = {"http": "200", "grpc": "OK"}


def initialise(pii_kinds: tuple[str, ...]) -> None:
    """Create the known series at zero.

    A labelled counter nothing has incremented yet is absent from /metrics, and with
    several worker processes not even its name is listed: dashboards would show "No
    data" and rules would see no series instead of 0 rejections.
    """
    for signal in SIGNALS:
        FORWARD_FAILURES.labels(signal)
        FORWARD_DURATION.labels(signal)
        for protocol in PROTOCOLS:
            ITEMS_RECEIVED.labels(signal, protocol)
            ITEMS_ACCEPTED.labels(signal, protocol)
            EXPORT_DURATION.labels(signal, protocol)
            REQUESTS.labels(signal, protocol, SUCCESS_CODES[protocol])
            for reason in REJECTION_REASONS:
                ITEMS_REJECTED.labels(signal, protocol, reason)
    for provider in (labels.UNKNOWN, labels.OTHER):
        LLM_SPANS.labels(provider)
        COST_MISSES.labels(provider)
    for kind in pii_kinds:
        PII_DETECTIONS.labels(kind)
