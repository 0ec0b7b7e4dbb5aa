"""decode.wire.count_items: the item count of a protobuf body, read from its tags alone.

Random requests of every signal (every metric data type), written field by field so
they can carry unknown fields at every level and empty messages, are counted and
compared with what the generator put in and with what the protobuf parser sees.
"""

from __future__ import annotations

import random

import pytest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from llm_observatory.collector import decode
from llm_observatory.collector.decode import wire
from llm_observatory.core.signals import SIGNALS
from tests.support.collector_harness import LIMITS, parse
from tests.support.otlp_builders import key_values, make_llm_span_request

# --- writing protobuf by hand -------------------------------------------------------------


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def unknown_fields(rng: random.Random) -> bytes:
    """0-3 fields with numbers no OTLP message uses, of every wire type but groups."""
    out = b""
    for _ in range(rng.randint(0, 3)):
        number = rng.randint(1000, 1 << 20)
        kind = rng.choice((0, 1, 2, 5))
        if kind == 0:
            out += varint(number << 3) + varint(rng.getrandbits(rng.choice((1, 7, 35, 64))))
        elif kind == 1:
            out += varint(number << 3 | 1) + rng.randbytes(8)
        elif kind == 5:
            out += varint(number << 3 | 5) + rng.randbytes(4)
        else:
            out += field(number, rng.randbytes(rng.randint(0, 40)))
    return out


def number_of(message_type, name: str) -> int:
    return message_type.DESCRIPTOR.fields_by_name[name].number


def resource(rng: random.Random) -> bytes:
    if rng.random() < 0.3:
        return b""  # no resource at all
    message = Resource(attributes=key_values({"service.name": f"svc-{rng.randint(0, 9)}"}))
    return field(1, message.SerializeToString() + unknown_fields(rng))


def scope(rng: random.Random) -> bytes:
    if rng.random() < 0.3:
        return b""
    return field(1, InstrumentationScope(name="s").SerializeToString() + unknown_fields(rng))


def item(signal: str, rng: random.Random) -> bytes:
    """One span or log record: often empty, sometimes with attributes, plus unknowns."""
    if rng.random() < 0.3:
        return unknown_fields(rng)
    attributes = [KeyValue(key=f"k{i}", value={"int_value": i}) for i in range(rng.randint(0, 3))]
    if signal == "traces":
        message = Span(
            trace_id=rng.randbytes(16), span_id=rng.randbytes(8), name="x", attributes=attributes
        )
    else:
        message = LogRecord(time_unix_nano=rng.getrandbits(62), attributes=attributes)
    return message.SerializeToString() + unknown_fields(rng)


_DATA_TYPES = ("gauge", "sum", "histogram", "exponential_histogram", "summary")
_POINT_TYPES = {
    "gauge": metrics_pb2.NumberDataPoint,
    "sum": metrics_pb2.NumberDataPoint,
    "histogram": metrics_pb2.HistogramDataPoint,
    "exponential_histogram": metrics_pb2.ExponentialHistogramDataPoint,
    "summary": metrics_pb2.SummaryDataPoint,
}


def metric(rng: random.Random) -> tuple[bytes, int]:
    """One Metric: a name, maybe a data field of a random type with points."""
    out = field(1, b"m") + unknown_fields(rng)
    if rng.random() < 0.15:
        return out, 0  # a metric with no data at all
    data_type = rng.choice(_DATA_TYPES)
    points = rng.randint(0, 5)
    data = unknown_fields(rng)
    for _ in range(points):
        point = _POINT_TYPES[data_type](time_unix_nano=rng.getrandbits(62))
        data += field(1, point.SerializeToString() + unknown_fields(rng))
    return out + field(number_of(metrics_pb2.Metric, data_type), data), points


def random_request(signal: str, rng: random.Random) -> tuple[bytes, int]:
    """(a serialized export request of `signal`, the number of items in it)."""
    body = unknown_fields(rng)
    total = 0
    for _ in range(rng.randint(0, 4)):
        resource_body = resource(rng) + unknown_fields(rng)
        for _ in range(rng.randint(0, 3)):
            scope_body = scope(rng) + unknown_fields(rng)
            for _ in range(rng.randint(0, 6)):
                if signal == "metrics":
                    payload, points = metric(rng)
                    total += points
                else:
                    payload = item(signal, rng)
                    total += 1
                scope_body += field(2, payload)  # spans, log_records and metrics are 2
            resource_body += field(2, scope_body)  # scope_spans / _metrics / _logs are 2
        body += field(1, resource_body)  # resource_spans / _metrics / _logs are 1
    return body, total


def parsed_count(signal: str, body: bytes) -> int:
    return wire.count_parsed(signal, SIGNALS[signal].request_type.FromString(body))


# --- counting -----------------------------------------------------------------------------


@pytest.mark.parametrize("signal", list(SIGNALS))
def test_the_count_is_the_real_item_count(signal):
    rng = random.Random(f"wire-{signal}")
    totals = set()
    for _ in range(300):
        body, total = random_request(signal, rng)
        assert parsed_count(signal, body) == total  # the generator is right
        assert wire.count_items(signal, body, 10**6) == total
        totals.add(total)
    assert len(totals) > 10  # the requests really differ


def test_every_metric_data_type_is_counted():
    for data_type, point_type in _POINT_TYPES.items():
        request = SIGNALS["metrics"].request_type()
        m = request.resource_metrics.add().scope_metrics.add().metrics.add(name=data_type)
        getattr(m, data_type).data_points.extend(point_type() for _ in range(3))
        body = request.SerializeToString()
        assert wire.count_items("metrics", body, 100) == 3, data_type


def test_real_sdk_shaped_requests():
    request = make_llm_span_request(257)
    assert wire.count_items("traces", request.SerializeToString(), 10_000) == 257


def test_empty_bodies_and_empty_messages():
    for signal in SIGNALS:
        assert wire.count_items(signal, b"", 10) == 0
        empty_resource = field(1, b"")
        assert wire.count_items(signal, empty_resource, 10) == 0
        empty_scope = field(1, field(2, b""))
        assert wire.count_items(signal, empty_scope, 10) == 0
    # an empty span is an item (decoding refuses it later, one by one)
    assert wire.count_items("traces", field(1, field(2, field(2, b"") * 3)), 10) == 3


@pytest.mark.parametrize("signal", list(SIGNALS))
def test_counting_stops_at_limit_plus_one(signal):
    rng = random.Random(signal)
    body, total = b"", 0
    while total < 50:
        more, n = random_request(signal, rng)
        body, total = body + more, total + n
    for limit in (0, 1, 10, total - 1):
        assert wire.count_items(signal, body, limit) == limit + 1
    assert wire.count_items(signal, body, total) == total


def test_nothing_after_the_limit_is_read():
    body = make_llm_span_request(20, spans_per_trace=1).SerializeToString()
    garbage = b"\x0f" * 100  # wire type 7: refused wherever it is read
    with pytest.raises(wire.WireError):
        wire.count_items("traces", body + garbage, 100)
    # 20 spans in one resource; the garbage after the resource is never reached
    assert wire.count_items("traces", body + garbage, 5) == 6


# --- malformed bytes ----------------------------------------------------------------------

MALFORMED = {
    "overlong varint": b"\x08" + b"\xff" * 10 + b"\x01",  # 11 bytes, then it ends
    "truncated varint": b"\x08\xff",
    "length past the end": field(1, b"")[:-1] + b"\x05",
    "nested length past its parent": field(1, b"\x12\x10" + b"\x00" * 4),
    "wire type 6": varint(1 << 3 | 6),
    "wire type 7": varint(5 << 3 | 7),
    "fixed64 cut short": varint(9 << 3 | 1) + b"\x00" * 3,
    "fixed32 cut short": varint(9 << 3 | 5) + b"\x00",
}


@pytest.mark.parametrize("signal", list(SIGNALS))
@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_bytes_are_refused(signal, name):
    body = MALFORMED[name]
    with pytest.raises(wire.WireError):
        wire.count_items(signal, body, 10)
    with pytest.raises(decode.DecodeError, match="malformed protobuf"):
        parse(signal, body)
    with pytest.raises(Exception):  # noqa: B017 - the parser refuses it too, its own way
        SIGNALS[signal].request_type.FromString(body)


@pytest.mark.parametrize("signal", list(SIGNALS))
def test_cut_bodies_are_refused_or_counted_like_the_parser(signal):
    # A WireError means the parser would refuse the bytes too; where the parser takes a
    # cut body, the count is its count.
    rng = random.Random(f"cut-{signal}")
    for _ in range(200):
        body, _ = random_request(signal, rng)
        if not body:
            continue
        cut = body[: rng.randrange(len(body))]
        try:
            parsed = parsed_count(signal, cut)
        except Exception:
            parsed = None
        try:
            counted = wire.count_items(signal, cut, 10**6)
        except wire.WireError:
            assert parsed is None, "WireError for bytes the parser accepts"
        else:
            if parsed is not None:
                assert counted == parsed


def test_the_default_limit_applies_to_the_count():
    limit = LIMITS.max_items_per_request
    empty_spans = field(1, field(2, field(2, b"") * (limit + 1)))
    with pytest.raises(decode.TooLarge, match=f"more than {limit} spans"):
        parse("traces", empty_spans)


@pytest.mark.parametrize("signal", list(SIGNALS))
def test_unknown_groups_are_skipped_like_the_parser_does(signal):
    rng = random.Random(f"groups-{signal}")
    body, total = random_request(signal, rng)
    # field 99, START_GROUP ... a varint, a nested group, a length-delimited field ... END_GROUP
    group = (
        varint(99 << 3 | 3)
        + varint(1 << 3 | 0) + varint(7)
        + varint(2 << 3 | 3) + varint(2 << 3 | 4)
        + varint(3 << 3 | 2) + varint(2) + b"ab"
        + varint(99 << 3 | 4)
    )  # fmt: skip
    with_group = group + body
    assert parsed_count(signal, with_group) == total
    assert wire.count_items(signal, with_group, 10**6) == total
    unclosed = varint(99 << 3 | 3) + varint(1 << 3 | 0) + varint(7)
    with pytest.raises(wire.WireError):
        wire.count_items(signal, unclosed + body, 10**6)
