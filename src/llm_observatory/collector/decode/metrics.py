"""ExportMetricsServiceRequest -> MetricPointRecords, one per data point.

A point without a time is refused (OTLP partial success); a metric with no data at
all is neither stored nor refused. Histogram, exponential histogram and summary
buckets are kept as JSON in `buckets`.
"""

from __future__ import annotations

from typing import Any

from llm_observatory.collector.decode.values import attributes, scopes
from llm_observatory.collector.limits import Limits
from llm_observatory.core.records import MetricPointRecord, Rejection

_TEMPORALITY = {1: "delta", 2: "cumulative"}


def _fill_value(record: MetricPointRecord, metric_type: str, pt: Any) -> None:
    if metric_type == "gauge" or metric_type == "sum":
        which = pt.WhichOneof("value")
        if which == "as_double":
            record.value = pt.as_double
        elif which == "as_int":
            record.value = float(pt.as_int)
        # neither: a point with no recorded value (staleness marker)
        return
    record.count = pt.count
    if metric_type == "summary":
        record.sum = pt.sum
        record.buckets = {
            "quantiles": [{"quantile": q.quantile, "value": q.value} for q in pt.quantile_values]
        }
        return
    record.sum = pt.sum if pt.HasField("sum") else None
    record.min = pt.min if pt.HasField("min") else None
    record.max = pt.max if pt.HasField("max") else None
    if metric_type == "histogram":
        record.buckets = {"bounds": list(pt.explicit_bounds), "counts": list(pt.bucket_counts)}
        return
    pos = pt.positive
    neg = pt.negative
    record.buckets = {
        "scale": pt.scale,
        "zero_count": pt.zero_count,
        "zero_threshold": pt.zero_threshold,
        "positive": {"offset": pos.offset, "bucket_counts": list(pos.bucket_counts)},
        "negative": {"offset": neg.offset, "bucket_counts": list(neg.bucket_counts)},
    }


def decode(request: Any, limits: Limits, rejected: Rejection) -> list[MetricPointRecord]:
    records: list[MetricPointRecord] = []
    append = records.append
    for resource_attributes, service, scope_name, sm in scopes(
        request.resource_metrics, "scope_metrics", limits
    ):
        for metric in sm.metrics:
            metric_type = metric.WhichOneof("data")
            if metric_type is None:
                continue  # no data points at all: nothing to store or to reject
            data = getattr(metric, metric_type)
            name = metric.name
            temporality = None
            if metric_type != "gauge" and metric_type != "summary":
                temporality = _TEMPORALITY.get(data.aggregation_temporality)
            is_monotonic = data.is_monotonic if metric_type == "sum" else None
            unit = metric.unit or None
            description = metric.description or None
            for pt in data.data_points:
                t = pt.time_unix_nano
                if t == 0:
                    rejected.add(
                        f"{metric_type} point of {name[:100]!r} rejected: time_unix_nano is missing"
                    )
                    continue
                record = MetricPointRecord(
                    metric_name=name,
                    metric_type=metric_type,
                    time_unix_nano=t,
                    start_time_unix_nano=pt.start_time_unix_nano or None,
                    service_name=service,
                    scope_name=scope_name,
                    unit=unit,
                    description=description,
                    attributes=attributes(pt.attributes, limits),
                    resource_attributes=resource_attributes,
                    aggregation_temporality=temporality,
                    is_monotonic=is_monotonic,
                )
                _fill_value(record, metric_type, pt)
                append(record)
    return records
