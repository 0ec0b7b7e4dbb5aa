"""The collector's bounds on one export request (collector/limits.py): each limit, its
marker (llmo.truncated) or its refusal (TooLarge)."""

from __future__ import annotations

import base64
import gzip
import tracemalloc

import pytest
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from llm_observatory.collector import decode
from llm_observatory.collector.exporter import Exporter
from llm_observatory.collector.limits import TRUNCATED, Limits
from llm_observatory.collector.pipeline import Pipeline, inflate
from llm_observatory.collector.processors import Processors
from llm_observatory.core.records import Rejection
from llm_observatory.core.signals import SIGNALS
from tests.support.collector_harness import (
    JSON,
    LIMITS,
    PROTOBUF,
    StorageDouble,
    collector_settings,
    decode_body,
    limits,
    parse,
)
from tests.support.otlp_builders import (
    BASE_TIME_NS,
    key_values,
    log_record,
    logs_request,
    metrics_request,
    simple_span,
    span_request,
    to_otlp_json_bytes,
)


def _span(**attributes) -> Span:
    span = simple_span()
    span.attributes.extend(key_values(attributes))
    return span


def _one_span(request, limits_=LIMITS):
    decoded = decode_body("traces", request.SerializeToString(), limits=limits_)
    assert decoded.rejected.count == 0
    (record,) = decoded.records
    return record


# --- attributes -------------------------------------------------------------------------


def test_attributes_beyond_the_limit_are_dropped_and_counted():
    span = _span(**{f"a{i:03d}": i for i in range(200)})
    record = _one_span(span_request(span))
    kept = {k: v for k, v in record.attributes.items() if k != TRUNCATED}
    assert len(kept) == LIMITS.max_attributes == 128
    assert kept == {f"a{i:03d}": i for i in range(128)}  # the first ones, in order
    assert record.attributes[TRUNCATED] == {"attributes": 72}


def test_attributes_within_the_limit_carry_no_marker():
    record = _one_span(span_request(_span(**{f"a{i}": i for i in range(128)})))
    assert TRUNCATED not in record.attributes
    assert len(record.attributes) == 128


def test_resource_and_point_attributes_are_limited_too():
    small = limits(max_attributes=3)
    gauge = metrics_pb2.Metric(name="g")
    point = gauge.gauge.data_points.add(time_unix_nano=BASE_TIME_NS, as_double=1.0)
    point.attributes.extend(key_values({f"p{i}": i for i in range(5)}))
    request = metrics_request(gauge)
    request.resource_metrics[0].resource.attributes.extend(key_values({"r1": 1, "r2": 2}))
    (record,) = decode_body("metrics", request.SerializeToString(), limits=small).records
    assert record.attributes == {"p0": 0, "p1": 1, "p2": 2, TRUNCATED: {"attributes": 2}}
    # service.name, host, r1 kept; r2 dropped
    assert record.resource_attributes[TRUNCATED] == {"attributes": 1}
    assert record.service_name == "metric-svc"


def test_long_string_values_are_cut_and_named():
    small = limits(max_attribute_value_length=64)
    span = _span(long="x" * 100, short="y" * 64, other=5)
    record = _one_span(span_request(span), small)
    assert record.attributes["long"] == "x" * 64
    assert record.attributes["short"] == "y" * 64
    assert record.attributes["other"] == 5
    assert record.attributes[TRUNCATED] == {"values": ["long"]}


def test_strings_inside_arrays_maps_and_bytes_are_cut_and_named():
    small = limits(max_attribute_value_length=64)
    span = _span(
        arr=["a" * 100, "ok"],
        kv={"inner": {"deep": "b" * 70}},
        raw=b"\x01" * 100,
        fine=["c" * 64],
    )
    record = _one_span(span_request(span), small)
    assert record.attributes["arr"] == ["a" * 64, "ok"]
    assert record.attributes["kv"] == {"inner": {"deep": "b" * 64}}
    assert record.attributes["raw"] == base64.b64encode(b"\x01" * 64).decode()
    assert record.attributes["fine"] == ["c" * 64]
    assert sorted(record.attributes[TRUNCATED]["values"]) == ["arr", "kv", "raw"]


def test_log_bodies_are_cut_to_the_value_length():
    small = limits(max_attribute_value_length=64)
    request = logs_request(log_record({"message": "m" * 500, "n": 1}), log_record("t" * 65))
    first, second = decode_body("logs", request.SerializeToString(), limits=small).records
    assert first.body == {"message": "m" * 64, "n": 1}
    assert second.body == "t" * 64


# --- events and links --------------------------------------------------------------------


def test_events_and_links_beyond_the_limits_are_dropped_and_counted():
    small = limits(max_events=2, max_links=1, max_attributes=2)
    span = simple_span()
    for i in range(5):
        event = span.events.add(name=f"e{i}", time_unix_nano=BASE_TIME_NS + i)
        event.attributes.extend(key_values({"x": 1, "y": 2, "z": 3}))
    for i in range(3):
        span.links.add(trace_id=bytes([i + 1]) * 16, span_id=bytes([i + 1]) * 8)
    record = _one_span(span_request(span), small)
    assert [e["name"] for e in record.events] == ["e0", "e1"]
    assert record.events[0]["attributes"] == {"x": 1, "y": 2, TRUNCATED: {"attributes": 1}}
    assert [link["span_id"] for link in record.links] == ["01" * 8]
    assert record.attributes[TRUNCATED] == {"events": 3, "links": 2}


def test_default_event_and_link_limits():
    span = simple_span()
    for i in range(130):
        span.events.add(name=f"e{i}", time_unix_nano=BASE_TIME_NS)
        span.links.add(trace_id=b"\x01" * 16, span_id=bytes([1] * 7 + [i + 1]))
    record = _one_span(span_request(span))
    assert len(record.events) == len(record.links) == 128
    assert record.attributes[TRUNCATED] == {"events": 2, "links": 2}


# --- indexed text columns (max_name_length) ----------------------------------------------


def _processors(pii: bool = False, **overrides) -> Processors:
    settings = collector_settings(enable_pii_detection=pii, **overrides)
    return Processors(settings, Limits.from_settings(settings))


def _record_with_long_fields(signal, length: int):
    """A record of `signal` whose every bounded field (core/rows.py) is `length` long."""
    fields = SIGNALS[signal].table.bounded_fields
    required = {
        "traces": {
            "trace_id": "5b8efff798038103d269b633813fc60c",
            "span_id": "eee19b7ec3c1b174",
            "parent_span_id": None,
            "name": "n",
            "kind": "client",
            "start_time_unix_nano": BASE_TIME_NS,
            "end_time_unix_nano": BASE_TIME_NS + 1,
        },
        "metrics": {"metric_name": "m", "metric_type": "gauge", "time_unix_nano": BASE_TIME_NS},
        "logs": {"time_unix_nano": BASE_TIME_NS},
    }[signal]
    values = {name: f"{name}:" + "x" * length for name in fields}
    return SIGNALS[signal].record_type(**(required | values)), fields


@pytest.mark.parametrize("pii", [False, True], ids=["pii-off", "pii-on"])
@pytest.mark.parametrize("signal", list(SIGNALS))
def test_every_bounded_column_is_cut_to_max_name_length(signal, pii):
    record, fields = _record_with_long_fields(signal, 3000)
    assert fields, "core/rows.py marks no column of this table bounded"
    rejected = Rejection()
    (kept,) = _processors(pii).run(SIGNALS[signal], [record], rejected, None)
    assert rejected.count == 0
    for name in fields:
        value = getattr(kept, name)
        assert len(value) == LIMITS.max_name_length, name
        assert value.startswith(f"{name}:"), name
    assert sorted(kept.attributes[TRUNCATED]["fields"]) == sorted(fields)


@pytest.mark.parametrize("signal", list(SIGNALS))
def test_bounded_columns_within_the_limit_are_untouched(signal):
    record, fields = _record_with_long_fields(signal, 10)
    (kept,) = _processors().run(SIGNALS[signal], [record], Rejection(), None)
    for name in fields:
        assert getattr(kept, name) == f"{name}:" + "x" * 10
    assert TRUNCATED not in kept.attributes


@pytest.mark.parametrize("pii", [False, True], ids=["pii-off", "pii-on"])
def test_genai_columns_from_long_attributes_are_bounded(pii):
    # The GenAI step fills model, provider, operation... from attributes, which are
    # only cut to the value length: the columns must be bounded after it too.
    long = "q" * 3000
    span = _span(**{
        "gen_ai.operation.name": long,
        "gen_ai.provider.name": long,
        "gen_ai.request.model": long,
        "gen_ai.response.model": long,
        "gen_ai.conversation.id": long,
        "user.id": long,
        "gen_ai.usage.input_tokens": 3,
    })  # fmt: skip
    request = span_request(span, service_name="s" * 3000)
    (record,) = decode_body("traces", request.SerializeToString()).records
    (kept,) = _processors(pii).run(SIGNALS["traces"], [record], Rejection(), None)
    assert kept.is_llm
    for name in SIGNALS["traces"].table.bounded_fields:
        value = getattr(kept, name)
        assert value is None or len(value) <= LIMITS.max_name_length, name
    assert len(kept.model) == LIMITS.max_name_length
    assert len(kept.service_name) == LIMITS.max_name_length


def test_status_message_is_cut_to_the_value_length():
    small = limits(max_attribute_value_length=64)
    span = simple_span(status=Status(code=Status.STATUS_CODE_ERROR, message="boom " * 100))
    request = span_request(span)
    (record,) = decode_body("traces", request.SerializeToString(), limits=small).records
    (kept,) = _processors(max_attribute_value_length=64).run(
        SIGNALS["traces"], [record], Rejection(), None
    )
    assert kept.status_message == ("boom " * 100)[:64]
    assert kept.attributes[TRUNCATED] == {"fields": ["status_message"]}


# --- message depth -----------------------------------------------------------------------


def _pipeline(**overrides) -> Pipeline:
    settings = collector_settings(**overrides)
    return Pipeline(settings, Exporter(settings, StorageDouble()))


def _chat_span(messages: str) -> Span:
    return _span(**{
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.input.messages": messages,
    })  # fmt: skip


def _nested(levels: int) -> str:
    return '[{"role": "user", "content": ' + "[" * (levels - 2) + '"x"' + "]" * (levels - 2) + "}]"


def test_messages_within_the_depth_are_parsed():
    depth = LIMITS.max_message_depth
    prepared = _pipeline().prepare(
        SIGNALS["traces"], span_request(_chat_span(_nested(depth))).SerializeToString(),
        PROTOBUF, False, None,
    )  # fmt: skip
    (record,) = prepared.records
    assert isinstance(record.input_messages, list)


@pytest.mark.parametrize("pii", [False, True], ids=["pii-off", "pii-on"])
@pytest.mark.parametrize("levels", [LIMITS.max_message_depth + 1, 300])
def test_messages_deeper_than_the_limit_are_kept_as_text(levels, pii):
    text = _nested(levels)
    body = span_request(_chat_span(text)).SerializeToString()
    prepared = _pipeline(enable_pii_detection=pii).prepare(
        SIGNALS["traces"], body, PROTOBUF, False, None
    )
    assert prepared.rejected.count == 0
    (record,) = prepared.records
    assert record.input_messages == text  # not parsed: nothing walks 300 levels
    (row,) = prepared.rows
    assert row.count("[") >= levels  # the whole text is in the row


# --- whole-request limits ----------------------------------------------------------------


def _spans(n: int):
    return span_request(
        *(simple_span(f"s{i}", span_id=(i + 1).to_bytes(8, "big")) for i in range(n))
    )


def test_items_per_request_protobuf():
    ten = limits(max_items_per_request=10)
    assert len(decode_body("traces", _spans(10).SerializeToString(), limits=ten).records) == 10
    with pytest.raises(decode.TooLarge, match="MAX_ITEMS_PER_REQUEST"):
        parse("traces", _spans(11).SerializeToString(), limits=ten)


def test_items_over_the_limit_are_refused_before_parsing():
    # Garbage after the 11th span: the count stops at limit + 1 before reaching it,
    # so the answer is TooLarge; parsing would have said "malformed".
    ten = limits(max_items_per_request=10)
    body = _spans(11).SerializeToString()
    with pytest.raises(decode.DecodeError):
        parse("traces", body + b"\xff\xff\xff", limits=limits(max_items_per_request=11))
    with pytest.raises(decode.TooLarge):
        parse("traces", body + b"\xff\xff\xff", limits=ten)


@pytest.mark.parametrize("signal", list(SIGNALS))
def test_items_per_request_json(signal):
    ten = limits(max_items_per_request=10)
    request = {
        "traces": lambda n: _spans(n),
        "metrics": lambda n: _gauges(n),
        "logs": lambda n: logs_request(*(log_record(str(i)) for i in range(n))),
    }[signal]
    assert len(decode_body(signal, to_otlp_json_bytes(request(10)), JSON, ten).records) == 10
    with pytest.raises(decode.TooLarge, match="more than 10"):
        parse(signal, to_otlp_json_bytes(request(11)), JSON, ten)


def _gauges(n: int):
    gauge = metrics_pb2.Metric(name="g")
    for i in range(n):
        gauge.gauge.data_points.add(time_unix_nano=BASE_TIME_NS + i, as_double=i)
    return metrics_request(gauge)


def test_json_object_count():
    hundred = limits(max_decoded_objects=100)
    body = b'{"resourceSpans": [' + b",".join([b"{}"] * 98) + b"]}"  # 1 + 1 + 98 = 100
    assert parse("traces", body, JSON, hundred).resource_spans
    with pytest.raises(decode.TooLarge, match="MAX_DECODED_OBJECTS"):
        parse("traces", body.replace(b"[", b"[{},", 1), JSON, hundred)


def test_request_bytes():
    small = limits(max_request_bytes=1024)
    body = span_request(simple_span("x" * 900)).SerializeToString()
    assert len(body) <= 1024
    parse("traces", body, limits=small)
    with pytest.raises(decode.TooLarge, match="MAX_REQUEST_BYTES"):
        parse("traces", span_request(simple_span("x" * 1100)).SerializeToString(), limits=small)


# --- gzip --------------------------------------------------------------------------------

MIB = 1024 * 1024


def test_inflate_up_to_the_limit():
    data = b"a" * MIB
    assert inflate(gzip.compress(data), MIB) == data
    with pytest.raises(decode.TooLarge, match="once decompressed"):
        inflate(gzip.compress(data + b"a"), MIB)


def test_a_gzip_bomb_is_refused_without_inflating_it():
    bomb = gzip.compress(bytes(64 * MIB), compresslevel=9)
    assert len(bomb) < 100 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(decode.TooLarge):
            inflate(bomb, MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MIB  # the limit and a bit, not the 64 MiB


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"not gzip at all", "not valid gzip"),
        (gzip.compress(b"x" * 1000, mtime=0)[:-12], "truncated"),
    ],
)
def test_bad_gzip_is_a_decode_error(body, match):
    with pytest.raises(decode.DecodeError, match=match):
        inflate(body, MIB)
