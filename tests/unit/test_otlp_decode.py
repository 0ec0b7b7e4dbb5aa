"""OTLP export request decoding: protobuf and JSON bodies -> records."""

from __future__ import annotations

import base64
import copy
import json
import math

import pytest
from google.protobuf import json_format
from opentelemetry import trace as trace_api
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_observatory.collector.decode import DecodeError, values
from llm_observatory.collector.decode.protojson import MAX_VALUE_DEPTH
from tests.support.collector_harness import JSON, LIMITS, PROTOBUF, decode_body, parse, records
from tests.support.otlp_builders import (
    BASE_TIME_NS,
    SPAN_ID,
    TRACE_ID,
    any_value,
    key_values,
    log_record,
    logs_request,
    make_llm_logs_request,
    make_llm_metrics_request,
    make_llm_span_request,
    metrics_request,
    simple_span,
    span_request,
    to_otlp_json,
    to_otlp_json_bytes,
)

PB = PROTOBUF

# Every AnyValue type, nested ones included, with the Python value each must become.
ALL_VALUE_TYPES = {
    "s": "text",
    "empty_s": "",
    "b": True,
    "b_false": False,
    "i": -(2**62),
    "d": 2.5,
    "arr": ["a", 1, 1.5, False, ["nested"], {"k": "v"}],
    "empty_arr": [],
    "kv": {"inner": {"deep": 7}, "list": [1, 2]},
    "by": b"\x00\x01binary\xff",
    "none": None,
}
ALL_VALUE_TYPES_PY = {
    **ALL_VALUE_TYPES,
    "by": base64.b64encode(b"\x00\x01binary\xff").decode(),
}


def _roundtrip_pb(req: ExportTraceServiceRequest):
    return decode_body("traces", req.SerializeToString())


# ---------------------------------------------------------------- SDK-encoded spans


@pytest.fixture
def sdk_spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "checkout", "deployment.environment": "ci"})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("my.instrumentation", "1.2.3")

    other = tracer.start_span("other")
    other.end()
    with tracer.start_as_current_span(
        "parent", kind=trace_api.SpanKind.SERVER, start_time=BASE_TIME_NS
    ) as parent:
        parent.set_attribute("http.route", "/chat")
        child = tracer.start_span(
            "chat gpt-4o",
            kind=trace_api.SpanKind.CLIENT,
            start_time=BASE_TIME_NS + 10,
            links=[trace_api.Link(other.get_span_context(), {"link.kind": "retry-of"})],
            attributes={
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 42,
                "gen_ai.request.temperature": 0.25,
                "gen_ai.stream": False,
                "gen_ai.response.finish_reasons": ("stop", "length"),
                "token.ids": (1, 2, 3),
            },
        )
        child.add_event("gen_ai.choice", {"index": 0, "final": True}, timestamp=BASE_TIME_NS + 50)
        child.set_status(trace_api.Status(trace_api.StatusCode.ERROR, "rate limited"))
        child.end(end_time=BASE_TIME_NS + 100)
    provider.shutdown()
    return list(exporter.get_finished_spans())


def test_sdk_encoded_spans_round_trip(sdk_spans):
    req = encode_spans(sdk_spans)
    decoded = _roundtrip_pb(req)
    assert decoded.rejected.count == 0
    by_name = {r.name: r for r in decoded.records}
    assert set(by_name) == {"other", "parent", "chat gpt-4o"}
    sdk = {s.name: s for s in sdk_spans}

    for name, rec in by_name.items():
        ctx = sdk[name].context
        assert rec.trace_id == format(ctx.trace_id, "032x")
        assert rec.span_id == format(ctx.span_id, "016x")
        assert rec.start_time_unix_nano == sdk[name].start_time
        assert rec.end_time_unix_nano == sdk[name].end_time
        assert rec.service_name == "checkout"
        assert rec.scope_name == "my.instrumentation"
        assert rec.resource_attributes["deployment.environment"] == "ci"
        assert rec.resource_attributes["telemetry.sdk.language"] == "python"

    parent, child, other = by_name["parent"], by_name["chat gpt-4o"], by_name["other"]
    assert parent.parent_span_id is None
    assert parent.kind == "server"
    assert parent.status_code == "unset"
    assert parent.status_message is None
    assert parent.attributes == {"http.route": "/chat"}
    assert parent.start_time_unix_nano == BASE_TIME_NS

    assert child.parent_span_id == parent.span_id
    assert child.trace_id == parent.trace_id
    assert child.kind == "client"
    assert other.kind == "internal"
    assert child.status_code == "error"
    assert child.status_message == "rate limited"
    assert (child.start_time_unix_nano, child.end_time_unix_nano) == (
        BASE_TIME_NS + 10,
        BASE_TIME_NS + 100,
    )
    assert child.attributes == {
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 42,
        "gen_ai.request.temperature": 0.25,
        "gen_ai.stream": False,
        "gen_ai.response.finish_reasons": ["stop", "length"],
        "token.ids": [1, 2, 3],
    }
    assert child.events == [
        {
            "name": "gen_ai.choice",
            "time_unix_nano": BASE_TIME_NS + 50,
            "attributes": {"index": 0, "final": True},
        }
    ]
    assert child.links == [
        {
            "trace_id": other.trace_id,
            "span_id": other.span_id,
            "attributes": {"link.kind": "retry-of"},
        }
    ]


def test_sdk_encoded_spans_same_from_json(sdk_spans):
    req = encode_spans(sdk_spans)
    from_pb = _roundtrip_pb(req).records
    from_json = decode_body("traces", to_otlp_json_bytes(req), JSON).records
    assert from_json == from_pb


# ------------------------------------------------------------------- AnyValue types


def test_every_any_value_type_round_trips():
    span = simple_span()
    span.attributes.extend(key_values(ALL_VALUE_TYPES))
    rec = _roundtrip_pb(span_request(span)).records[0]
    assert rec.attributes == ALL_VALUE_TYPES_PY
    # types, not just equality (True == 1, 2.0 == 2)
    assert type(rec.attributes["b"]) is bool
    assert type(rec.attributes["i"]) is int
    assert type(rec.attributes["d"]) is float
    assert type(rec.attributes["arr"][3]) is bool


def test_any_value_each_kind():
    for value, expected in [
        ("x", "x"),
        (True, True),
        (3, 3),
        (0.5, 0.5),
        (b"ab", "YWI="),
        ([1, "a"], [1, "a"]),
        ({"a": {"b": [None]}}, {"a": {"b": [None]}}),
        (None, None),
    ]:
        assert values.any_value(any_value(value), LIMITS.max_attribute_value_length) == expected


def test_duplicate_attribute_keys_last_wins():
    span = simple_span()
    span.attributes.extend(key_values([("k", "first"), ("n", 1), ("k", "second")]))
    assert _roundtrip_pb(span_request(span)).records[0].attributes == {"k": "second", "n": 1}


def test_service_name_default_and_scope_name():
    req = span_request(simple_span(), service_name=None)
    req.resource_spans[0].scope_spans[0].scope.name = ""
    rec = _roundtrip_pb(req).records[0]
    assert rec.service_name == "unknown_service"
    assert rec.scope_name is None
    assert rec.resource_attributes == {}


def test_the_spans_of_one_resource_share_its_attributes():
    # Decoded once per resource (processors edit them only idempotently), not per span.
    req = span_request(simple_span("a"), simple_span("b"))
    a, b = _roundtrip_pb(req).records
    assert a.resource_attributes == {"service.name": "svc"}
    assert a.resource_attributes is b.resource_attributes


def test_kind_and_status_values():
    spans = [
        simple_span(f"k{k}", kind=k, status=Status(code=k % 3, message="m" if k == 2 else ""))
        for k in range(6)
    ]
    spans.append(simple_span("unknown", kind=99, status=Status(code=7)))
    recs = _roundtrip_pb(span_request(*spans)).records
    assert [r.kind for r in recs] == [
        "unspecified",
        "internal",
        "server",
        "client",
        "producer",
        "consumer",
        "unspecified",
    ]
    assert [r.status_code for r in recs] == [
        "unset",
        "ok",
        "error",
        "unset",
        "ok",
        "error",
        "unset",
    ]
    assert [r.status_message for r in recs[:3]] == [None, None, "m"]


# ------------------------------------------------------------------------- JSON

# Shaped like the OTLP spec's example (opentelemetry-proto/examples/trace.json):
# upper-case hex ids, int64 as strings, kind as an integer.
SPEC_JSON = {
    "resourceSpans": [
        {
            "resource": {
                "attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]
            },
            "scopeSpans": [
                {
                    "scope": {
                        "name": "my.library",
                        "version": "1.0.0",
                        "attributes": [
                            {
                                "key": "my.scope.attribute",
                                "value": {"stringValue": "some scope attribute"},
                            }
                        ],
                    },
                    "spans": [
                        {
                            "traceId": "5B8EFFF798038103D269B633813FC60C",
                            "spanId": "EEE19B7EC3C1B174",
                            "parentSpanId": "EEE19B7EC3C1B173",
                            "name": "I'm a server span",
                            "startTimeUnixNano": "1544712660000000000",
                            "endTimeUnixNano": "1544712661000000000",
                            "kind": 2,
                            "attributes": [
                                {"key": "my.span.attr", "value": {"stringValue": "some value"}},
                                {"key": "count", "value": {"intValue": "9007199254740993"}},
                                {"key": "ratio", "value": {"doubleValue": 0.5}},
                                {"key": "flag", "value": {"boolValue": True}},
                                {"key": "raw", "value": {"bytesValue": "AAH/"}},
                                {
                                    "key": "list",
                                    "value": {
                                        "arrayValue": {
                                            "values": [{"stringValue": "a"}, {"intValue": 2}]
                                        }
                                    },
                                },
                                {
                                    "key": "map",
                                    "value": {
                                        "kvlistValue": {
                                            "values": [{"key": "x", "value": {"doubleValue": 1}}]
                                        }
                                    },
                                },
                            ],
                            "events": [
                                {
                                    "timeUnixNano": 1544712660500000000,
                                    "name": "ev",
                                    "attributes": [],
                                }
                            ],
                            "links": [
                                {
                                    "traceId": "0102030405060708090a0b0c0d0e0f10",
                                    "spanId": "0102030405060708",
                                    "attributes": [
                                        {"key": "why", "value": {"stringValue": "follows"}}
                                    ],
                                }
                            ],
                            "status": {"code": "STATUS_CODE_ERROR", "message": "boom"},
                        }
                    ],
                }
            ],
        }
    ]
}


def _json_body(obj) -> bytes:
    return json.dumps(obj).encode()


def test_spec_style_json_request():
    decoded = decode_body("traces", _json_body(SPEC_JSON), JSON)
    assert decoded.rejected.count == 0
    (rec,) = decoded.records
    assert rec.trace_id == "5b8efff798038103d269b633813fc60c"
    assert rec.span_id == "eee19b7ec3c1b174"
    assert rec.parent_span_id == "eee19b7ec3c1b173"
    assert rec.name == "I'm a server span"
    assert rec.kind == "server"
    assert rec.start_time_unix_nano == 1544712660000000000
    assert rec.end_time_unix_nano == 1544712661000000000
    assert rec.status_code == "error"
    assert rec.status_message == "boom"
    assert rec.service_name == "my.service"
    assert rec.scope_name == "my.library"
    assert rec.attributes == {
        "my.span.attr": "some value",
        "count": 9007199254740993,  # > 2**53: would be wrong if it went through a float
        "ratio": 0.5,
        "flag": True,
        "raw": "AAH/",
        "list": ["a", 2],
        "map": {"x": 1.0},
    }
    assert rec.events == [{"name": "ev", "time_unix_nano": 1544712660500000000, "attributes": {}}]
    assert rec.links == [
        {
            "trace_id": "0102030405060708090a0b0c0d0e0f10",
            "span_id": "0102030405060708",
            "attributes": {"why": "follows"},
        }
    ]


def test_json_enum_names_numbers_snake_case_and_unknown_fields():
    body = copy.deepcopy(SPEC_JSON)
    body["someFutureField"] = {"a": 1}
    rs = body["resourceSpans"][0]
    rs["resource"]["unknownResourceThing"] = [1, 2]
    # snake_case names, as protobuf's JSON parser also accepts
    rs["scope_spans"] = rs.pop("scopeSpans")
    span = rs["scope_spans"][0]["spans"][0]
    span["kind"] = "SPAN_KIND_CLIENT"
    span["start_time_unix_nano"] = int(span.pop("startTimeUnixNano"))
    span["status"] = {"code": 1, "unknownStatusField": "x"}
    span["attributes"][0]["value"]["newValueKind"] = 1  # unknown field inside an AnyValue
    span["newSpanField"] = {"nested": [1, {"deeper": True}]}
    span["events"][0]["futureEventField"] = None
    (rec,) = decode_body("traces", _json_body(body), JSON).records
    assert rec.kind == "client"
    assert rec.status_code == "ok"
    assert rec.start_time_unix_nano == 1544712660000000000
    assert rec.attributes["my.span.attr"] == "some value"
    assert rec.scope_name == "my.library"


def test_json_unknown_enum_name_is_ignored():
    body = copy.deepcopy(SPEC_JSON)
    body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["kind"] = "SPAN_KIND_FROM_THE_FUTURE"
    (rec,) = decode_body("traces", _json_body(body), JSON).records
    assert rec.kind == "unspecified"


def _rich_trace_request() -> ExportTraceServiceRequest:
    req = make_llm_span_request(20, seed=7)
    span = req.resource_spans[0].scope_spans[0].spans[3]
    span.attributes.extend(key_values(ALL_VALUE_TYPES))
    span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="quota"))
    link = span.links.add(trace_id=TRACE_ID, span_id=SPAN_ID, trace_state="a=b", flags=0x301)
    link.attributes.extend(key_values({"link.n": 1}))
    span.dropped_attributes_count = 3
    span.flags = 0x100
    span.kind = Span.SPAN_KIND_CONSUMER
    second = req.resource_spans.add()
    second.resource.attributes.extend(key_values({"service.name": "other-svc"}))
    second.scope_spans.add().spans.append(simple_span("lonely", kind=Span.SPAN_KIND_PRODUCER))
    return req


def test_protobuf_and_json_give_the_same_message_and_records():
    req = _rich_trace_request()
    json_body = to_otlp_json_bytes(req)
    assert b'"traceId": "' in json_body  # hex, as OTLP/HTTP JSON demands
    parsed = parse("traces", json_body, JSON)
    assert parsed == req
    from_pb = _roundtrip_pb(req).records
    assert records("traces", parsed).records == from_pb
    assert len(from_pb) == 21
    assert from_pb[3].attributes["by"] == ALL_VALUE_TYPES_PY["by"]
    assert from_pb[-1].service_name == "other-svc"


def test_json_int64_as_numbers_and_enums_as_ints_are_equivalent():
    req = _rich_trace_request()
    as_names = to_otlp_json(req)
    as_ints = json.loads(
        json.dumps(
            _ids_to_hex_dict(
                json_format.MessageToDict(req, use_integers_for_enums=True),
            )
        ),
        # int64 strings -> numbers
        object_hook=lambda d: {
            k: int(v) if isinstance(v, str) and k.endswith("UnixNano") else v for k, v in d.items()
        },
    )
    assert as_ints != as_names
    assert parse("traces", _json_body(as_ints), JSON) == req
    assert parse("traces", _json_body(as_names), JSON) == req


def _ids_to_hex_dict(node):
    if isinstance(node, dict):
        return {
            k: base64.b64decode(v).hex()
            if k in ("traceId", "spanId", "parentSpanId")
            else _ids_to_hex_dict(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_ids_to_hex_dict(v) for v in node]
    return node


def test_json_double_special_values():
    body = copy.deepcopy(SPEC_JSON)
    attrs = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
    attrs[:] = [
        {"key": "nan", "value": {"doubleValue": "NaN"}},
        {"key": "inf", "value": {"doubleValue": "Infinity"}},
        {"key": "ninf", "value": {"doubleValue": "-Infinity"}},
        {"key": "int_as_double", "value": {"doubleValue": 3}},
    ]
    (rec,) = decode_body("traces", _json_body(body), JSON).records
    assert math.isnan(rec.attributes["nan"])
    assert rec.attributes["inf"] == math.inf
    assert rec.attributes["ninf"] == -math.inf
    assert rec.attributes["int_as_double"] == 3.0
    assert type(rec.attributes["int_as_double"]) is float


# -------------------------------------------------------------------- malformed
# (Content types are the HTTP receiver's: tests/unit/test_collector_service.py.)


@pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
def test_garbage_protobuf(signal):
    with pytest.raises(DecodeError, match="malformed protobuf"):
        parse(signal, b"\xff\xff\xff\xff garbage")


def test_truncated_protobuf():
    body = make_llm_span_request(3).SerializeToString()
    with pytest.raises(DecodeError, match="malformed protobuf"):
        parse("traces", body[:-7], PB)


def test_empty_protobuf_body_is_an_empty_request():
    req = parse("traces", b"", PB)
    assert req == ExportTraceServiceRequest()
    decoded = records("traces", req)
    assert decoded.records == []
    assert decoded.rejected.count == 0
    assert parse("metrics", b"", PB) == ExportMetricsServiceRequest()
    assert parse("logs", b"", PB) == ExportLogsServiceRequest()


def test_empty_json_object_is_an_empty_request():
    assert parse("traces", b"{}", JSON) == ExportTraceServiceRequest()


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"", "empty body"),
        (b"{not json", "malformed JSON"),
        (b'{"resourceSpans": [}', "malformed JSON"),
        (b"\xff\xfe{}", "malformed JSON"),
        (b"[]", "expected an object, got an array"),
        (b"5", "expected an object"),
        (b'{"resourceSpans": 5}', r"resourceSpans: expected an array, got the number 5"),
        (b'{"resourceSpans": [5]}', r"resourceSpans\[0\]: expected an object"),
        (b'{"resourceSpans": {"a": 1}}', "resourceSpans: expected an array, got an object"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}',
            r"resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.traceId: expected a hex id",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": 12}]}]}]}',
            r"spans\[0\]\.spanId: expected a hex id, got the number 12",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 12}]}]}]}',
            r"spans\[0\]\.name: expected a string",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
            r"startTimeUnixNano: expected an integer, got the string 'soon'",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": -1}]}]}]}',
            r"spans\[0\]\.startTimeUnixNano: integer -1 out of range",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": true}]}]}]}',
            r"kind: expected an enum name or number",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": '
            b'[{"key": "a", "value": {"intValue": 1.5}}]}]}]}]}',
            r"attributes\[0\]\.value\.intValue: expected an integer",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": '
            b'[{"key": "a", "value": {"intValue": "9223372036854775808"}}]}]}]}]}',
            r"value\.intValue: integer 9223372036854775808 out of range",
        ),
        (
            b'{"resourceSpans": [{"resource": {"attributes": [{"key": "a", "value": '
            b'{"kvlistValue": {"values": [{"key": "b", "value": {"boolValue": "yes"}}]}}}]}}]}',
            r"resource\.attributes\[0\]\.value\.kvlistValue\.values\[0\]\.value\.boolValue",
        ),
        (
            b'{"resourceSpans": [{"resource": {"attributes": [{"key": "a", "value": '
            b'{"bytesValue": "!!not base64!!"}}]}}]}',
            "expected a base64 string",
        ),
        (
            b'{"resourceSpans": [{"resource": {"attributes": '
            b'[{"key": "a", "value": {"stringValue": 5}}]}}]}',
            r"resource\.attributes\[0\]\.value\.stringValue: expected a string",
        ),
        (
            b'{"resourceSpans": [{"resource": {"attributes": [{"key": 1, "value": {}}]}}]}',
            r"attributes\[0\]\.key: expected a string",
        ),
    ],
)
def test_malformed_json(body, match):
    with pytest.raises(DecodeError, match=match):
        parse("traces", body, JSON)


def _nested_array_body(levels: int) -> bytes:
    """An attribute whose value is `levels` arrays deep (written as text: json.dumps
    itself gives up at ~330 levels)."""
    value = b'{"arrayValue": {"values": [' * levels + b'{"stringValue": "leaf"}'
    value += b"]}}" * levels
    return b'{"resourceSpans": [{"resource": {"attributes": [{"key": "deep", "value": ' + (
        value + b"}]}}]}"
    )


def test_json_nesting_limit_keeps_values_up_to_the_limit():
    ok = parse("traces", _nested_array_body(MAX_VALUE_DEPTH), JSON)
    value = ok.resource_spans[0].resource.attributes[0].value
    for _ in range(MAX_VALUE_DEPTH):
        value = value.array_value.values[0]
    assert value.string_value == "leaf"


@pytest.mark.parametrize("levels", [MAX_VALUE_DEPTH + 1, 300])
def test_json_nesting_limit_refuses_deeper_values(levels):
    # 300 levels are ~900 JSON containers, within orjson's own limit (1024): only the
    # decoder's limit refuses them (without it they decode, and every later walk of
    # the value recurses 300 levels).
    with pytest.raises(DecodeError, match=f"nested more than {MAX_VALUE_DEPTH} levels"):
        parse("traces", _nested_array_body(levels), JSON)


def test_json_deeper_than_the_parser_allows_is_a_clean_decode_error():
    with pytest.raises(DecodeError, match="malformed JSON"):
        parse("traces", _nested_array_body(400), JSON)


# -------------------------------------------------------------- partial success


def test_bad_spans_are_rejected_and_the_rest_accepted():
    good = [simple_span(f"good{i}", span_id=bytes([1, 2, 3, 4, 5, 6, 7, i + 1])) for i in range(3)]
    zero_trace = simple_span("zero-trace", trace_id=bytes(16))
    short_span = simple_span("short-span", span_id=b"\x01\x02\x03\x04\x05")
    req = span_request(good[0], zero_trace, good[1], short_span, good[2])
    decoded = _roundtrip_pb(req)
    assert [r.name for r in decoded.records] == ["good0", "good1", "good2"]
    assert decoded.rejected.count == 2
    assert len(decoded.rejected.messages) == 2
    assert "zero-trace" in decoded.rejected.messages[0]
    assert "trace_id is all zeros" in decoded.rejected.messages[0]
    assert "short-span" in decoded.rejected.messages[1]
    assert "span_id must be 8 bytes, got 5" in decoded.rejected.messages[1]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"trace_id": b""}, "trace_id must be 16 bytes, got 0"),
        ({"trace_id": b"\x01" * 8}, "trace_id must be 16 bytes, got 8"),
        ({"span_id": bytes(8)}, "span_id is all zeros"),
        ({"span_id": b""}, "span_id must be 8 bytes, got 0"),
        ({"parent_span_id": b"\x01" * 4}, "parent_span_id must be 8 bytes or empty, got 4"),
        ({"start_time_unix_nano": 0, "end_time_unix_nano": 0}, "start_time_unix_nano is missing"),
        (
            {"start_time_unix_nano": 2000, "end_time_unix_nano": 1000},
            "end_time_unix_nano 1000 is before start_time_unix_nano 2000",
        ),
    ],
)
def test_span_rejection_reasons(overrides, reason):
    decoded = _roundtrip_pb(span_request(simple_span("bad", **overrides), simple_span("ok")))
    assert [r.name for r in decoded.records] == ["ok"]
    assert decoded.rejected.count == 1
    assert reason in decoded.rejected.message


def test_zero_length_span_and_zero_parent_are_accepted():
    span = simple_span(end_time_unix_nano=BASE_TIME_NS, parent_span_id=bytes(8))
    (rec,) = _roundtrip_pb(span_request(span)).records
    assert rec.end_time_unix_nano == rec.start_time_unix_nano
    assert rec.parent_span_id is None


def test_rejection_messages_are_bounded_but_counted():
    spans = [simple_span(f"bad{i}", trace_id=bytes(16)) for i in range(50)]
    decoded = _roundtrip_pb(span_request(*spans))
    assert decoded.records == []
    assert decoded.rejected.count == 50
    assert len(decoded.rejected.messages) == 5


def test_json_spans_with_bad_ids_are_rejected_not_malformed():
    body = copy.deepcopy(SPEC_JSON)
    span = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["traceId"] = "00" * 16
    decoded = decode_body("traces", _json_body(body), JSON)
    assert decoded.records == []
    assert decoded.rejected.count == 1


# ------------------------------------------------------------------------ builders


def test_llm_span_builder_makes_valid_genai_spans():
    req = make_llm_span_request(10, spans_per_trace=4)
    decoded = _roundtrip_pb(req)
    assert decoded.rejected.count == 0
    assert len(decoded.records) == 10
    roots = [r for r in decoded.records if r.parent_span_id is None]
    assert len(roots) == 3  # traces of 4, 4, 2
    chats = [r for r in decoded.records if r.kind == "client"]
    assert len(chats) == 7
    ids = {r.span_id for r in decoded.records}
    assert all(c.parent_span_id in ids for c in chats)
    for chat in chats:
        assert len(chat.attributes) >= 15
        assert chat.attributes["gen_ai.operation.name"] == "chat"
        assert isinstance(chat.attributes["gen_ai.usage.input_tokens"], int)
        assert len(chat.events) == 1
    assert len({r.span_id for r in _roundtrip_pb(make_llm_span_request(10)).records}) == 10
    single = make_llm_span_request(5, spans_per_trace=1)
    assert all(r.kind == "client" for r in _roundtrip_pb(single).records)


# ------------------------------------------------------------------------- metrics


def _all_metric_types() -> ExportMetricsServiceRequest:
    gauge = metrics_pb2.Metric(name="queue.depth", unit="1", description="items waiting")
    gauge.gauge.data_points.add(time_unix_nano=BASE_TIME_NS, as_double=2.5)
    gauge.gauge.data_points.add(time_unix_nano=BASE_TIME_NS + 1, as_int=7).attributes.extend(
        key_values({"queue": "q1"})
    )

    total = metrics_pb2.Metric(name="llm.tokens", unit="{token}")
    total.sum.is_monotonic = True
    total.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
    total.sum.data_points.add(
        start_time_unix_nano=BASE_TIME_NS - 10, time_unix_nano=BASE_TIME_NS, as_int=1234
    )
    updown = metrics_pb2.Metric(name="active.requests")
    updown.sum.is_monotonic = False
    updown.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    updown.sum.data_points.add(time_unix_nano=BASE_TIME_NS, as_double=-3.0)

    hist = metrics_pb2.Metric(name="gen_ai.client.operation.duration", unit="s")
    hist.histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    hist.histogram.data_points.add(
        start_time_unix_nano=BASE_TIME_NS - 100,
        time_unix_nano=BASE_TIME_NS,
        count=6,
        sum=4.5,
        min=0.1,
        max=2.0,
        explicit_bounds=[0.5, 1.0],
        bucket_counts=[3, 2, 1],
    ).attributes.extend(key_values({"gen_ai.request.model": "gpt-4o"}))
    hist.histogram.data_points.add(time_unix_nano=BASE_TIME_NS, count=0, bucket_counts=[0])

    exp = metrics_pb2.Metric(name="latency.exp", unit="ms")
    exp.exponential_histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
    pt = exp.exponential_histogram.data_points.add(
        time_unix_nano=BASE_TIME_NS,
        count=10,
        sum=55.0,
        min=1.0,
        max=10.0,
        scale=3,
        zero_count=1,
        zero_threshold=0.001,
    )
    pt.positive.offset = -2
    pt.positive.bucket_counts.extend([1, 2, 3])
    pt.negative.offset = 1
    pt.negative.bucket_counts.extend([4])

    summary = metrics_pb2.Metric(name="rpc.latency.summary")
    sp = summary.summary.data_points.add(time_unix_nano=BASE_TIME_NS, count=100, sum=250.0)
    sp.quantile_values.add(quantile=0.5, value=2.0)
    sp.quantile_values.add(quantile=0.99, value=9.5)

    return metrics_request(gauge, total, updown, hist, exp, summary)


def test_metric_points_of_every_type():
    req = _all_metric_types()
    decoded = decode_body("metrics", req.SerializeToString(), PB)
    assert decoded.rejected.count == 0
    points = decoded.records
    assert [(p.metric_name, p.metric_type) for p in points] == [
        ("queue.depth", "gauge"),
        ("queue.depth", "gauge"),
        ("llm.tokens", "sum"),
        ("active.requests", "sum"),
        ("gen_ai.client.operation.duration", "histogram"),
        ("gen_ai.client.operation.duration", "histogram"),
        ("latency.exp", "exponential_histogram"),
        ("rpc.latency.summary", "summary"),
    ]
    for p in points:
        assert p.service_name == "metric-svc"
        assert p.scope_name == "meter"
        assert p.resource_attributes == {"service.name": "metric-svc", "host": "h1"}
        assert p.time_unix_nano == BASE_TIME_NS or p.time_unix_nano == BASE_TIME_NS + 1

    g1, g2, tokens, updown, h1, h2, exp, summ = points
    assert (g1.value, g1.unit, g1.description, g1.attributes) == (
        2.5,
        "1",
        "items waiting",
        {},
    )
    assert g1.start_time_unix_nano is None
    assert g1.aggregation_temporality is None and g1.is_monotonic is None
    assert g2.value == 7.0 and type(g2.value) is float
    assert g2.attributes == {"queue": "q1"}

    assert tokens.value == 1234.0
    assert tokens.is_monotonic is True
    assert tokens.aggregation_temporality == "delta"
    assert tokens.start_time_unix_nano == BASE_TIME_NS - 10
    assert tokens.unit == "{token}" and tokens.description is None
    assert (updown.value, updown.is_monotonic, updown.aggregation_temporality) == (
        -3.0,
        False,
        "cumulative",
    )

    assert (h1.count, h1.sum, h1.min, h1.max) == (6, 4.5, 0.1, 2.0)
    assert h1.buckets == {"bounds": [0.5, 1.0], "counts": [3, 2, 1]}
    assert h1.aggregation_temporality == "cumulative"
    assert h1.attributes == {"gen_ai.request.model": "gpt-4o"}
    assert h1.value is None and h1.is_monotonic is None
    # optional sum/min/max not set -> None, not 0
    assert (h2.count, h2.sum, h2.min, h2.max) == (0, None, None, None)

    assert (exp.count, exp.sum, exp.min, exp.max) == (10, 55.0, 1.0, 10.0)
    assert exp.aggregation_temporality == "delta"
    assert exp.buckets == {
        "scale": 3,
        "zero_count": 1,
        "zero_threshold": 0.001,
        "positive": {"offset": -2, "bucket_counts": [1, 2, 3]},
        "negative": {"offset": 1, "bucket_counts": [4]},
    }

    assert (summ.count, summ.sum) == (100, 250.0)
    assert summ.buckets == {
        "quantiles": [{"quantile": 0.5, "value": 2.0}, {"quantile": 0.99, "value": 9.5}]
    }
    assert summ.aggregation_temporality is None


def test_metric_points_without_time_are_rejected():
    gauge = metrics_pb2.Metric(name="g")
    gauge.gauge.data_points.add(time_unix_nano=0, as_double=1.0)
    gauge.gauge.data_points.add(time_unix_nano=BASE_TIME_NS, as_double=2.0)
    empty = metrics_pb2.Metric(name="no-data")  # no data oneof at all: skipped, not counted
    decoded = records("metrics", metrics_request(gauge, empty))
    assert [p.value for p in decoded.records] == [2.0]
    assert decoded.rejected.count == 1
    assert "'g'" in decoded.rejected.message
    assert "time_unix_nano is missing" in decoded.rejected.message


def test_metrics_json_equals_protobuf_including_exemplar_ids():
    req = _all_metric_types()
    ex = req.resource_metrics[0].scope_metrics[0].metrics[3].histogram.data_points[0]
    ex.exemplars.add(time_unix_nano=BASE_TIME_NS, as_double=1.5, trace_id=TRACE_ID, span_id=SPAN_ID)
    body = to_otlp_json_bytes(req)
    assert TRACE_ID.hex().encode() in body  # exemplar ids are hex in OTLP JSON too
    parsed = parse("metrics", body, JSON)
    assert parsed == req
    assert records("metrics", parsed).records == records("metrics", req).records


def test_metrics_json_temporality_as_int_and_name():
    def body(temporality):
        return _json_body(
            {
                "resourceMetrics": [
                    {
                        "scopeMetrics": [
                            {
                                "metrics": [
                                    {
                                        "name": "m",
                                        "sum": {
                                            "aggregationTemporality": temporality,
                                            "isMonotonic": True,
                                            "dataPoints": [
                                                {
                                                    "timeUnixNano": "1700000000000000000",
                                                    "asInt": "5",
                                                }
                                            ],
                                        },
                                    }
                                ]
                            }
                        ]
                    }
                ]
            }
        )

    for temporality, expected in [
        (1, "delta"),
        ("AGGREGATION_TEMPORALITY_DELTA", "delta"),
        (2, "cumulative"),
        ("AGGREGATION_TEMPORALITY_CUMULATIVE", "cumulative"),
        (0, None),
    ]:
        (point,) = decode_body("metrics", body(temporality), JSON).records
        assert point.aggregation_temporality == expected
        assert point.value == 5.0
        assert point.service_name == "unknown_service"
        assert point.time_unix_nano == 1_700_000_000_000_000_000


def test_llm_metrics_builder():
    decoded = records("metrics", make_llm_metrics_request(5))
    assert decoded.rejected.count == 0
    assert len(decoded.records) == 5 * 4  # 2 token-usage + 1 duration + 1 counter per step
    assert {p.metric_type for p in decoded.records} == {"histogram", "sum"}


# ---------------------------------------------------------------------------- logs


def test_log_body_types():
    bodies = ["plain text", 42, 1.5, True, b"\x01", ["a", 1], {"msg": "hi", "n": {"x": [1]}}]
    req = logs_request(*[log_record(b) for b in bodies], log_record(None))
    decoded = decode_body("logs", req.SerializeToString(), PB)
    assert [r.body for r in decoded.records] == [
        "plain text",
        42,
        1.5,
        True,
        "AQ==",
        ["a", 1],
        {"msg": "hi", "n": {"x": [1]}},
        None,
    ]


def test_log_fields_severity_and_trace_correlation():
    req = logs_request(
        log_record(
            "hello",
            observed_time_unix_nano=BASE_TIME_NS + 5,
            severity_number=17,
            severity_text="ERROR",
            trace_id=TRACE_ID,
            span_id=SPAN_ID,
            attributes=key_values({"code.function": "f"}),
        ),
        log_record("no context", severity_number=0, trace_id=bytes(16), span_id=bytes(8)),
    )
    first, second = records("logs", req).records
    assert first.time_unix_nano == BASE_TIME_NS
    assert first.observed_time_unix_nano == BASE_TIME_NS + 5
    assert (first.severity_number, first.severity_text) == (17, "ERROR")
    assert (first.trace_id, first.span_id) == (TRACE_ID.hex(), SPAN_ID.hex())
    assert first.attributes == {"code.function": "f"}
    assert first.service_name == "log-svc"
    assert first.scope_name == "logger"
    assert first.resource_attributes == {"service.name": "log-svc"}
    assert (second.severity_number, second.severity_text) == (None, None)
    assert (second.trace_id, second.span_id) == (None, None)
    assert second.observed_time_unix_nano is None


def test_log_event_name_field_and_attribute_fallback():
    req = logs_request(
        log_record(
            "a", event_name="gen_ai.choice", attributes=key_values({"event.name": "ignored"})
        ),
        log_record("b", attributes=key_values({"event.name": "gen_ai.user.message"})),
        log_record("c", attributes=key_values({"event.name": 5})),
        log_record("d"),
    )
    names = [r.event_name for r in records("logs", req).records]
    assert names == ["gen_ai.choice", "gen_ai.user.message", None, None]


def test_log_timestamps_and_rejections():
    req = logs_request(
        log_record("observed only", time_unix_nano=0, observed_time_unix_nano=BASE_TIME_NS + 9),
        log_record("no time at all", time_unix_nano=0),
        log_record("bad trace id", trace_id=b"\x01" * 5),
        log_record("bad span id", span_id=b"\x01" * 3),
        log_record("fine"),
    )
    decoded = records("logs", req)
    assert [r.body for r in decoded.records] == ["observed only", "fine"]
    assert decoded.records[0].time_unix_nano == BASE_TIME_NS + 9
    assert decoded.records[0].observed_time_unix_nano == BASE_TIME_NS + 9
    assert decoded.rejected.count == 3
    message = decoded.rejected.message
    assert "time_unix_nano and observed_time_unix_nano are missing" in message
    assert "trace_id must be 16 bytes, got 5" in message
    assert "span_id must be 8 bytes, got 3" in message


def test_sdk_encoded_logs():
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create({"service.name": "sdk-logs"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    tracer_provider = TracerProvider()
    tracer = tracer_provider.get_tracer("t")
    logger = provider.get_logger("my.logger")
    with tracer.start_as_current_span("s") as span:
        logger.emit(
            timestamp=BASE_TIME_NS,
            body={"content": "hi", "tokens": 3},
            severity_number=SeverityNumber.INFO,
            severity_text="INFO",
            attributes={"gen_ai.system": "openai"},
            event_name="gen_ai.user.message",
        )
        ctx = span.get_span_context()
    provider.shutdown()
    req = encode_logs(exporter.get_finished_logs())
    (rec,) = decode_body("logs", req.SerializeToString(), PB).records
    assert rec.body == {"content": "hi", "tokens": 3}
    assert rec.time_unix_nano == BASE_TIME_NS
    assert (rec.severity_number, rec.severity_text) == (9, "INFO")
    assert rec.trace_id == format(ctx.trace_id, "032x")
    assert rec.span_id == format(ctx.span_id, "016x")
    assert rec.event_name == "gen_ai.user.message"
    assert rec.attributes == {"gen_ai.system": "openai"}
    assert rec.service_name == "sdk-logs"
    assert rec.scope_name == "my.logger"
    # and the same from OTLP JSON
    json_req = parse("logs", to_otlp_json_bytes(req), JSON)
    (from_json,) = records("logs", json_req).records
    assert from_json == rec


def test_logs_json_hand_written():
    body = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "js"}}]
                },
                "scopeLogs": [
                    {
                        "scope": {"name": "s"},
                        "logRecords": [
                            {
                                "timeUnixNano": "1544712660300000000",
                                "observedTimeUnixNano": 1544712660300000001,
                                "severityNumber": "SEVERITY_NUMBER_WARN",
                                "severityText": "Warning",
                                "traceId": "5B8EFFF798038103D269B633813FC60C",
                                "spanId": "EEE19B7EC3C1B174",
                                "eventName": "app.started",
                                "body": {"stringValue": "Example log record"},
                                "attributes": [
                                    {"key": "string.attribute", "value": {"stringValue": "x"}}
                                ],
                                "futureField": True,
                            },
                            {
                                "timeUnixNano": "1544712660300000000",
                                "severityNumber": 21,
                                "body": {"kvlistValue": {"values": [{"key": "k"}]}},
                            },
                        ],
                    }
                ],
            }
        ]
    }
    decoded = decode_body("logs", _json_body(body), JSON)
    first, second = decoded.records
    assert first.time_unix_nano == 1544712660300000000
    assert first.observed_time_unix_nano == 1544712660300000001
    assert (first.severity_number, first.severity_text) == (13, "Warning")
    assert (first.trace_id, first.span_id) == (
        "5b8efff798038103d269b633813fc60c",
        "eee19b7ec3c1b174",
    )
    assert first.event_name == "app.started"
    assert first.body == "Example log record"
    assert first.service_name == "js"
    assert second.severity_number == 21
    assert second.body == {"k": None}  # a KeyValue without value is an empty AnyValue
    assert (second.trace_id, second.span_id) == (None, None)


def test_logs_json_non_hex_trace_id_is_malformed():
    body = b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "not-hex"}]}]}]}'
    with pytest.raises(DecodeError, match=r"logRecords\[0\]\.traceId: expected a hex id"):
        parse("logs", body, JSON)


def test_llm_logs_builder_round_trips_json():
    req = make_llm_logs_request(6)
    assert parse("logs", to_otlp_json_bytes(req), JSON) == req
    decoded = records("logs", req)
    assert len(decoded.records) == 6
    assert decoded.records[0].event_name == "gen_ai.user.message"
    assert decoded.records[1].body["finish_reason"] == "stop"
