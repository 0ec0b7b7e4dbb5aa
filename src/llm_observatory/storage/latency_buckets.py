"""Latency buckets: how the usage rollups keep latency percentiles mergeable.

A percentile of a set of calls cannot be summed from the percentiles of its parts, so
the hourly usage rollups (storage/call_rollups.py) count calls per latency bucket
instead, and the API reads a percentile off the merged counts (api/queries/usage.py).
The buckets are those of OpenTelemetry's exponential histogram (and Prometheus'
native histograms) at scale 3: bucket i holds the durations in (2^(i/8), 2^((i+1)/8)]
milliseconds, eight per doubling, whatever the range. A bucket reads as the value
whose relative distance to both its bounds is equal, so a percentile read off the
buckets is within RELATIVE_ERROR of the latency of a call at that rank.

Both are SQL expressions, evaluated by PostgreSQL only: what the writer stored and
what the API bucketises on the fly from spans fall into the same buckets.
"""

from __future__ import annotations

SCALE = 3
_PER_DOUBLING = 2**SCALE
_GAMMA = 2 ** (1 / _PER_DOUBLING)
RELATIVE_ERROR = (_GAMMA - 1) / (_GAMMA + 1)  # 4.3 %

# Below the resolution of OTLP's timestamps (1 ns) a duration is 0: its own bucket,
# below every other (the smallest positive one, 1 ns, is bucket -160).
ZERO_BUCKET = -1000
_ZERO_THRESHOLD_MS = 1e-6


def bucket_sql(duration_ms: str) -> str:
    """The latency bucket (int) of `duration_ms` (a double precision expression)."""
    return (
        f"CASE WHEN {duration_ms} > {_ZERO_THRESHOLD_MS} "
        f"THEN ceil(ln({duration_ms}) / ln(2::float8) * {_PER_DOUBLING})::int - 1 "
        f"ELSE {ZERO_BUCKET} END"
    )


def value_sql(bucket: str) -> str:
    """The latency in ms (double precision) that bucket `bucket` (an int expression) reads as."""
    return (
        f"CASE WHEN {bucket} = {ZERO_BUCKET} THEN 0::float8 "
        f"ELSE power(2::float8, ({bucket} + 1)::float8 / {_PER_DOUBLING}) * 2 / {_GAMMA + 1!r} END"
    )
