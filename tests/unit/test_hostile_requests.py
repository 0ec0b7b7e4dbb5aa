"""The hostile requests (tests/performance/hostile_requests.py) are what their names say."""

from __future__ import annotations

import gzip
import json

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.performance import hostile_requests as hostile

MIB = 1024 * 1024


def _decoded(request: hostile.HostileRequest) -> bytes:
    if request.headers.get("content-encoding") == "gzip":
        return gzip.decompress(request.body)
    return request.body


def _traces(request: hostile.HostileRequest) -> ExportTraceServiceRequest:
    assert request.path == "/v1/traces"
    assert request.headers["content-type"] == "application/x-protobuf"
    return ExportTraceServiceRequest.FromString(_decoded(request))


def _spans(request: hostile.HostileRequest):
    return [
        span
        for rs in _traces(request).resource_spans
        for scope in rs.scope_spans
        for span in scope.spans
    ]


def _attrs(span) -> dict:
    return {kv.key: kv.value for kv in span.attributes}


def test_a_megabyte_of_at_signs_fits_in_about_a_kilobyte():
    request = hostile.at_signs_gzip()
    assert len(request.body) < 1_500
    (span,) = _spans(request)
    assert _attrs(span)["comment"].string_value == "@" * MIB


def test_deep_messages_nest_three_hundred_levels():
    (span,) = _spans(hostile.deep_messages())
    text = _attrs(span)["gen_ai.input.messages"].string_value
    depth = deepest = 0
    for char in text:
        depth += char in "[{"
        depth -= char in "]}"
        deepest = max(deepest, depth)
    assert deepest > 300
    assert json.loads(text)[0]["role"] == "user"


def test_long_indexed_values_are_over_the_btree_limit_and_do_not_compress():
    service = _traces(hostile.long_service_name()).resource_spans[0].resource.attributes
    name = next(kv.value.string_value for kv in service if kv.key == "service.name")
    assert len(name.encode()) > 2_704
    assert len(gzip.compress(name.encode())) > 2_300  # pglz gets even less out of it
    (span,) = _spans(hostile.long_request_model())
    assert len(_attrs(span)["gen_ai.request.model"].string_value) == hostile.LONG
    (span,) = _spans(hostile.long_gen_ai_system())
    assert len(_attrs(span)["gen_ai.system"].string_value) == hostile.LONG

    metrics = hostile.long_metric_name()
    assert metrics.path == "/v1/metrics"
    metric = ExportMetricsServiceRequest.FromString(metrics.body).resource_metrics[0]
    assert len(metric.scope_metrics[0].metrics[0].name) == hostile.LONG

    logs = hostile.long_log_service_name()
    assert logs.path == "/v1/logs"
    resource = ExportLogsServiceRequest.FromString(logs.body).resource_logs[0].resource
    assert len(resource.attributes[0].value.string_value) == hostile.LONG


def test_empty_spans_inflate_about_a_thousand_times_and_stay_under_the_size():
    request = hostile.empty_spans_gzip()
    decoded = gzip.decompress(request.body)
    assert len(request.body) < 20_000
    assert 16 * MIB - 64 <= len(decoded) <= 16 * MIB
    small = hostile.empty_spans_gzip(decoded_bytes=64 * 1024)  # parse a small one
    spans = _spans(small)
    assert len(spans) > 32_000
    assert all(span.ByteSize() == 0 for span in spans)


def test_tiny_attributes_are_distinct_and_fill_the_size():
    request = hostile.tiny_attributes()
    assert len(_decoded(request)) <= 16 * MIB
    assert len(_decoded(request)) > 16 * MIB - 1024
    (span,) = _spans(hostile.tiny_attributes(decoded_bytes=256 * 1024))
    keys = [kv.key for kv in span.attributes]
    assert len(keys) > 15_000 and len(set(keys)) == len(keys)
    assert span.trace_id and span.span_id


def test_json_body_is_millions_of_empty_objects():
    request = hostile.json_empty_objects()
    assert request.headers["content-type"] == "application/json"
    body = _decoded(request)
    assert len(body) <= 16 * MIB
    assert body.count(b"{}") > 5_000_000
    small = json.loads(_decoded(hostile.json_empty_objects(decoded_bytes=3_000)))
    assert len(small["resourceSpans"]) > 900 and small["resourceSpans"][0] == {}


def test_many_providers_are_all_distinct_genai_spans():
    spans = _spans(hostile.many_providers())
    providers = {_attrs(s)["gen_ai.provider.name"].string_value for s in spans}
    assert len(spans) == len(providers) == 5_000


def test_innocent_export_is_valid_and_fresh_each_time():
    first, second = _spans(hostile.innocent_export()), _spans(hostile.innocent_export())
    assert len(first) == 4
    assert {s.span_id for s in first}.isdisjoint({s.span_id for s in second})


def test_every_hostile_request_is_registered_by_name():
    assert set(hostile.HOSTILE) >= {
        "at_signs_gzip",
        "deep_messages",
        "long_service_name",
        "empty_spans_gzip",
        "many_providers",
        "tiny_attributes",
        "json_empty_objects",
        "long_request_model",
        "long_metric_name",
        "long_log_service_name",
    }
    for make in hostile.HOSTILE.values():
        request = make()
        assert request.path.startswith("/v1/") and request.body
