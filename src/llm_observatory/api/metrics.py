"""Prometheus metrics of the API. Names are read by the alert rules and dashboards."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Labelled by route template ("/api/v1/traces/{trace_id}"), never the raw path: one
# series per route, whatever ids clients send.
REQUEST_DURATION = Histogram(
    "llmo_api_request_duration_seconds",
    "Time to answer an HTTP request, by route template, method and status.",
    ["route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REQUESTS = Counter(
    "llmo_api_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
CACHE_HITS = Counter("llmo_api_cache_hits", "Query answers served from Redis, by query.", ["query"])
CACHE_MISSES = Counter(
    "llmo_api_cache_misses", "Query answers computed by the database, by query.", ["query"]
)
RATE_LIMITED = Counter("llmo_api_rate_limited", "Requests refused with 429 (rate limit).")
REDIS_FAILURES = Counter(
    "llmo_api_redis_failures",
    "Redis calls that failed or timed out; the API answered without cache or rate limit.",
)
REDIS_UP = Gauge("llmo_api_redis_up", "1 when the last Redis call succeeded, else 0.")
DATABASE_UP = Gauge("llmo_api_database_up", "1 when the last database health check passed.")
