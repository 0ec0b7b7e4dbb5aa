"""Decode OTLP export requests (protobuf or JSON) into the storage records.

Two steps, because the two transports meet in the middle:

* ``parse_*_request(body, content_type)`` turns an OTLP/HTTP body into the
  protobuf request message. The gRPC server gets that message from grpcio
  directly and skips this step.
* ``spans_from_request`` / ``metric_points_from_request`` /
  ``log_records_from_request`` turn a request message into records, together
  with a :class:`Rejection` for the items we refused (OTLP partial success).

OTLP/HTTP JSON is the protobuf JSON mapping (lowerCamelCase or snake_case names,
int64 as strings or numbers, enums as names or numbers) except that trace and
span ids are hex strings, not base64, and unknown fields must be ignored. A
small descriptor-driven converter (``_json_table``) handles it, 3-4x faster
than ``json_format.ParseDict``.

The protobuf -> record path runs for every span the collector receives, so it
is written for speed: plain loops, local names, no ``json_format``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from llm_observatory.core.records import (
    SPAN_KINDS,
    STATUS_CODES,
    LogRecordRow,
    MetricPointRecord,
    Rejection,
    SpanRecord,
)

__all__ = [
    "CONTENT_TYPE_JSON",
    "CONTENT_TYPE_PROTOBUF",
    "Decoded",
    "OtlpDecodeError",
    "UnsupportedContentType",
    "any_value_to_python",
    "attributes_to_dict",
    "log_records_from_request",
    "metric_points_from_request",
    "parse_logs_request",
    "parse_metrics_request",
    "parse_trace_request",
    "spans_from_request",
]

CONTENT_TYPE_PROTOBUF = "application/x-protobuf"
CONTENT_TYPE_JSON = "application/json"

DEFAULT_SERVICE_NAME = "unknown_service"

T = TypeVar("T")


class OtlpDecodeError(ValueError):
    """The request body is not a valid OTLP export request (HTTP 400 / INVALID_ARGUMENT)."""


class UnsupportedContentType(ValueError):
    """The body is neither OTLP protobuf nor OTLP JSON (HTTP 415)."""


@dataclass(slots=True)
class Decoded(Generic[T]):
    records: list[T] = field(default_factory=list)
    rejected: Rejection = field(default_factory=Rejection)


# --------------------------------------------------------------------------- parsing


def _media_type(content_type: str) -> str:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in (CONTENT_TYPE_PROTOBUF, CONTENT_TYPE_JSON):
        return media
    raise UnsupportedContentType(
        f"unsupported content type {content_type!r}; "
        f"use {CONTENT_TYPE_PROTOBUF} or {CONTENT_TYPE_JSON}"
    )


def _parse_protobuf(cls: type[Message], body: bytes) -> Any:
    try:
        return cls.FromString(body)
    except DecodeError as exc:
        raise OtlpDecodeError(f"malformed protobuf: {exc or 'cannot parse message'}") from None


def _parse_json(cls: type[Message], body: bytes) -> Any:
    if not body:
        raise OtlpDecodeError("malformed JSON: empty body")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpDecodeError(f"malformed JSON: {exc}") from None
    try:
        kwargs = _json_message(_json_table(cls.DESCRIPTOR), data)
    except _JsonError as exc:
        where = _json_path(exc.path)
        raise OtlpDecodeError(
            f"invalid OTLP JSON: {where}: {exc.message}" if where else f"invalid OTLP JSON: {exc}"
        ) from None
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:  # e.g. an integer out of its field's range
        raise OtlpDecodeError(f"invalid OTLP JSON: {exc}") from None


def _parse(cls: type[Message], body: bytes, content_type: str) -> Any:
    if _media_type(content_type) == CONTENT_TYPE_PROTOBUF:
        return _parse_protobuf(cls, body)
    return _parse_json(cls, body)


def parse_trace_request(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    return _parse(ExportTraceServiceRequest, body, content_type)


def parse_metrics_request(body: bytes, content_type: str) -> ExportMetricsServiceRequest:
    return _parse(ExportMetricsServiceRequest, body, content_type)


def parse_logs_request(body: bytes, content_type: str) -> ExportLogsServiceRequest:
    return _parse(ExportLogsServiceRequest, body, content_type)


# ------------------------------------------------------------- OTLP JSON -> protobuf
#
# json_format.ParseDict is pure Python and generic: ~250 us per typical LLM span.
# Instead, one walk over the orjson output turns it into the keyword arguments of the
# request message's constructor (snake_case names, Python ints/floats/bytes, enum
# numbers, nested dicts and lists), and upb builds the message from them in C. Each
# message type gets a table {json name and proto name: (proto name, converter)},
# built once from its descriptor. The OTLP rules on top of the protobuf JSON mapping:
# bytes fields named trace_id / span_id / parent_span_id are hex, not base64, and
# unknown fields are ignored.

_fromhex = bytes.fromhex
_b64encode = base64.b64encode
_HEX_ID_FIELDS = frozenset({"trace_id", "span_id", "parent_span_id"})


class _JsonError(Exception):
    """A JSON value of the wrong shape; ``path`` is filled in (innermost first) on the way out."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[str | int] = []


def _json_path(parts: list[str | int]) -> str:
    out = ""
    for part in reversed(parts):
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out if len(out) <= 300 else f"{out[:150]}...{out[-150:]}"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
    if isinstance(value, str):
        return f"the string {shown}"
    return f"the number {shown}"


def _to_int(value: Any) -> int:
    t = type(value)
    if t is int:
        return value
    if t is str:
        try:
            return int(value)
        except ValueError:
            try:  # "1e3" is an integer too in protobuf JSON
                f = float(value)
            except ValueError:
                f = 0.5
            if f.is_integer():
                return int(f)
    elif t is float and value.is_integer():
        return int(value)
    raise _JsonError(f"expected an integer, got {_describe(value)}")


def _to_float(value: Any) -> float:
    t = type(value)
    if t is float or t is int:
        return float(value)
    if t is str:  # "NaN", "Infinity", "-Infinity", or a number in a string
        try:
            return float(value)
        except ValueError:
            pass
    raise _JsonError(f"expected a number, got {_describe(value)}")


def _to_bool(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise _JsonError(f"expected true or false, got {_describe(value)}")


def _to_str(value: Any) -> str:
    if type(value) is str:
        return value
    raise _JsonError(f"expected a string, got {_describe(value)}")


def _to_bytes(value: Any) -> bytes:
    if type(value) is str:
        # Standard or URL-safe base64, padding optional (as json_format accepts).
        std = value.replace("-", "+").replace("_", "/")
        try:
            return base64.b64decode(std + "=" * (-len(std) % 4), validate=True)
        except (ValueError, binascii.Error):
            pass
    raise _JsonError(f"expected a base64 string, got {_describe(value)}")


def _to_hex_id(value: Any) -> bytes:
    if type(value) is str:
        try:
            return _fromhex(value)
        except ValueError:
            pass
    raise _JsonError(f"expected a hex id, got {_describe(value)}")


def _enum_converter(enum_type: Any) -> Any:
    numbers = {name: v.number for name, v in enum_type.values_by_name.items()}

    def convert(value: Any) -> int:
        t = type(value)
        if t is int:
            return value
        if t is str:
            number = numbers.get(value)
            if number is not None:
                return number
            try:
                return int(value)
            except ValueError:
                return 0  # an unknown enum name is ignored, as an unknown field is
        raise _JsonError(f"expected an enum name or number, got {_describe(value)}")

    return convert


def _int_converter(low: int, high: int) -> Any:
    def convert(value: Any) -> int:
        number = _to_int(value)
        if low <= number <= high:
            return number
        raise _JsonError(f"integer {number} out of range [{low}, {high}]")

    return convert


_SCALAR_CONVERTERS = {
    FieldDescriptor.CPPTYPE_INT32: _int_converter(-(2**31), 2**31 - 1),
    FieldDescriptor.CPPTYPE_INT64: _int_converter(-(2**63), 2**63 - 1),
    FieldDescriptor.CPPTYPE_UINT32: _int_converter(0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_UINT64: _int_converter(0, 2**64 - 1),
    FieldDescriptor.CPPTYPE_DOUBLE: _to_float,
    FieldDescriptor.CPPTYPE_FLOAT: _to_float,
    FieldDescriptor.CPPTYPE_BOOL: _to_bool,
}

_TABLES: dict[str, dict[str, tuple[str, Any]]] = {}


def _json_table(descriptor: Any) -> dict[str, tuple[str, Any]]:
    table = _TABLES.get(descriptor.full_name)
    if table is not None:
        return table
    table = _TABLES[descriptor.full_name] = {}  # registered first: messages nest recursively
    for fd in descriptor.fields:
        repeated = _is_repeated(fd)
        if fd.message_type is not None:
            full_name = fd.message_type.full_name
            if full_name == _KEY_VALUE and repeated:
                table[fd.json_name] = table[fd.name] = (fd.name, _json_attributes)
                continue
            if full_name == _ANY_VALUE and not repeated:
                table[fd.json_name] = table[fd.name] = (fd.name, _json_body)
                continue
            if fd.message_type.GetOptions().map_entry:
                continue  # OTLP has no map fields; ignore rather than mis-convert
            convert = _message_converter(fd.message_type)
        elif fd.enum_type is not None:
            convert = _enum_converter(fd.enum_type)
        elif fd.type == FieldDescriptor.TYPE_BYTES:
            convert = _to_hex_id if fd.name in _HEX_ID_FIELDS else _to_bytes
        elif fd.type == FieldDescriptor.TYPE_STRING:
            convert = _to_str
        else:
            convert = _SCALAR_CONVERTERS[fd.cpp_type]
        if repeated:
            convert = _repeated_converter(convert)
        table[fd.json_name] = table[fd.name] = (fd.name, convert)
    return table


# AnyValue is the one recursive OTLP type and attributes are most of a request, so
# KeyValue lists and AnyValues have their own converters: a fast path for string
# attributes, and a nesting limit. Binary protobuf stops at 100 message levels (upb),
# about 32-48 levels of AnyValue; without a limit here a JSON body could nest deep
# enough to overflow the Python stack of whoever walks the values later.
_KEY_VALUE = "opentelemetry.proto.common.v1.KeyValue"
_ANY_VALUE = "opentelemetry.proto.common.v1.AnyValue"
MAX_VALUE_DEPTH = 32

_to_int32 = _SCALAR_CONVERTERS[FieldDescriptor.CPPTYPE_INT32]
_to_int64 = _SCALAR_CONVERTERS[FieldDescriptor.CPPTYPE_INT64]
_ANY_VALUE_SCALARS = {
    "stringValue": ("string_value", _to_str),
    "string_value": ("string_value", _to_str),
    "intValue": ("int_value", _to_int64),
    "int_value": ("int_value", _to_int64),
    "doubleValue": ("double_value", _to_float),
    "double_value": ("double_value", _to_float),
    "boolValue": ("bool_value", _to_bool),
    "bool_value": ("bool_value", _to_bool),
    "bytesValue": ("bytes_value", _to_bytes),
    "bytes_value": ("bytes_value", _to_bytes),
    "stringValueStrindex": ("string_value_strindex", _to_int32),
    "string_value_strindex": ("string_value_strindex", _to_int32),
}
_ANY_VALUE_LISTS = {
    "arrayValue": "array_value",
    "array_value": "array_value",
    "kvlistValue": "kvlist_value",
    "kvlist_value": "kvlist_value",
}


def _json_any_value(obj: Any, depth: int) -> dict[str, Any]:
    if type(obj) is not dict:
        raise _JsonError(f"expected an object, got {_describe(obj)}")
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if value is None:
            continue
        try:
            scalar = _ANY_VALUE_SCALARS.get(key)
            if scalar is not None:
                out[scalar[0]] = scalar[1](value)
                continue
            name = _ANY_VALUE_LISTS.get(key)
            if name is None:
                continue  # unknown field
            if depth >= MAX_VALUE_DEPTH:
                raise _JsonError(f"values nested more than {MAX_VALUE_DEPTH} levels deep")
            if type(value) is not dict:
                raise _JsonError(f"expected an object, got {_describe(value)}")
            items = value.get("values")
            if items is None:
                out[name] = {}
                continue
            try:
                if name == "array_value":
                    out[name] = {"values": _json_any_values(items, depth + 1)}
                else:
                    out[name] = {"values": _json_key_values(items, depth + 1)}
            except _JsonError as exc:
                exc.path.append("values")
                raise
        except _JsonError as exc:
            exc.path.append(key)
            raise
    return out


def _json_any_values(items: Any, depth: int) -> list[dict[str, Any]]:
    if type(items) is not list:
        raise _JsonError(f"expected an array, got {_describe(items)}")
    out = []
    for i, item in enumerate(items):
        try:
            out.append(_json_any_value(item, depth))
        except _JsonError as exc:
            exc.path.append(i)
            raise
    return out


def _json_key_values(items: Any, depth: int) -> list[dict[str, Any]]:
    if type(items) is not list:
        raise _JsonError(f"expected an array, got {_describe(items)}")
    out = []
    append = out.append
    for i, item in enumerate(items):
        if type(item) is dict and len(item) == 2:
            key = item.get("key")
            value = item.get("value")
            # Fast path: {"key": k, "value": {"stringValue": s}} and the other scalars.
            if type(key) is str and type(value) is dict and len(value) == 1:
                s = value.get("stringValue")
                if type(s) is str:
                    append({"key": key, "value": {"string_value": s}})
                    continue
                ((kind, v),) = value.items()
                scalar = _ANY_VALUE_SCALARS.get(kind)
                if scalar is not None and v is not None:
                    try:
                        append({"key": key, "value": {scalar[0]: scalar[1](v)}})
                        continue
                    except _JsonError:
                        pass  # the general path below reports it, with its JSON path
        try:
            if type(item) is not dict:
                raise _JsonError(f"expected an object, got {_describe(item)}")
            kv: dict[str, Any] = {}
            key = item.get("key")
            if key is not None:
                try:
                    kv["key"] = _to_str(key)
                except _JsonError as exc:
                    exc.path.append("key")
                    raise
            value = item.get("value")
            if value is not None:
                try:
                    kv["value"] = _json_any_value(value, depth)
                except _JsonError as exc:
                    exc.path.append("value")
                    raise
            append(kv)
        except _JsonError as exc:
            exc.path.append(i)
            raise
    return out


def _json_attributes(items: Any) -> list[dict[str, Any]]:
    return _json_key_values(items, 0)


def _json_body(obj: Any) -> dict[str, Any]:
    return _json_any_value(obj, 0)


def _is_repeated(fd: Any) -> bool:
    is_repeated = getattr(fd, "is_repeated", None)  # protobuf >= 6.31; `label` is deprecated
    if is_repeated is not None:
        return bool(is_repeated)
    return fd.label == FieldDescriptor.LABEL_REPEATED


def _json_message(table: dict[str, tuple[str, Any]], obj: Any) -> dict[str, Any]:
    if type(obj) is not dict:
        raise _JsonError(f"expected an object, got {_describe(obj)}")
    out = {}
    for key, value in obj.items():
        entry = table.get(key)
        if entry is None or value is None:  # unknown field, or null: the default
            continue
        name, convert = entry
        try:
            out[name] = convert(value)
        except _JsonError as exc:
            exc.path.append(key)
            raise
    return out


def _message_converter(descriptor: Any) -> Any:
    table = _json_table(descriptor)

    def convert(value: Any) -> dict[str, Any]:
        return _json_message(table, value)

    return convert


def _repeated_converter(convert_item: Any) -> Any:
    def convert(value: Any) -> list[Any]:
        if type(value) is not list:
            raise _JsonError(f"expected an array, got {_describe(value)}")
        try:
            return [convert_item(item) for item in value]
        except _JsonError as exc:
            for i, item in enumerate(value):  # find the failing item, for the path
                try:
                    convert_item(item)
                except _JsonError:
                    exc.path.append(i)
                    break
            raise

    return convert


# Built now, at import (under the import lock): a table is registered before it is
# filled, so building one lazily while another thread parses could hand that thread
# a half-filled table.
for _request_type in (
    ExportTraceServiceRequest,
    ExportMetricsServiceRequest,
    ExportLogsServiceRequest,
):
    _json_table(_request_type.DESCRIPTOR)
del _request_type


# ------------------------------------------------------------- AnyValue -> Python


def any_value_to_python(value: Any) -> Any:
    """An OTLP AnyValue as a Python value: kvlist -> dict, array -> list, bytes -> base64 str.

    An AnyValue with nothing set (OTLP's "empty value") is None.
    """
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "array_value":
        return [any_value_to_python(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_to_dict(value.kvlist_value.values)
    if kind == "bytes_value":
        return _b64encode(value.bytes_value).decode("ascii")
    return None  # unset, or string_value_strindex (profiles only, meaningless here)


_SCALAR_KINDS = frozenset({"string_value", "int_value", "double_value", "bool_value"})


def attributes_to_dict(kvs: Any) -> dict[str, Any]:
    """Repeated KeyValue -> {key: python value}; on duplicate keys the last one wins."""
    # The hottest loop of the collector (~0.5 us per attribute, mostly upb wrappers).
    # Most attributes are non-empty strings: one getter, no WhichOneof.
    out: dict[str, Any] = {}
    scalar = _SCALAR_KINDS
    convert = any_value_to_python
    for kv in kvs:
        value = kv.value
        s = value.string_value
        if s:
            out[kv.key] = s
        else:
            kind = value.WhichOneof("value")
            out[kv.key] = getattr(value, kind) if kind in scalar else convert(value)
    return out


def _service_name(resource_attributes: dict[str, Any]) -> str:
    name = resource_attributes.get("service.name")
    return name if isinstance(name, str) and name else DEFAULT_SERVICE_NAME


# ------------------------------------------------------------------------- spans

_ZERO_TRACE_ID = bytes(16)
_ZERO_SPAN_ID = bytes(8)
_N_KINDS = len(SPAN_KINDS)
_N_STATUS = len(STATUS_CODES)


def _span_problem(trace_id: bytes, span_id: bytes, parent: bytes, start: int, end: int) -> str:
    if len(trace_id) != 16:
        return f"trace_id must be 16 bytes, got {len(trace_id)}"
    if trace_id == _ZERO_TRACE_ID:
        return "trace_id is all zeros"
    if len(span_id) != 8:
        return f"span_id must be 8 bytes, got {len(span_id)}"
    if span_id == _ZERO_SPAN_ID:
        return "span_id is all zeros"
    if parent and len(parent) != 8:
        return f"parent_span_id must be 8 bytes or empty, got {len(parent)}"
    if start == 0:
        return "start_time_unix_nano is missing"
    return f"end_time_unix_nano {end} is before start_time_unix_nano {start}"


def spans_from_request(req: ExportTraceServiceRequest) -> Decoded[SpanRecord]:
    records: list[SpanRecord] = []
    rejected = Rejection()
    append = records.append
    attrs = attributes_to_dict
    kinds = SPAN_KINDS
    codes = STATUS_CODES
    zero_tid = _ZERO_TRACE_ID
    zero_sid = _ZERO_SPAN_ID

    for rs in req.resource_spans:
        resource_attributes = attrs(rs.resource.attributes)
        service_name = _service_name(resource_attributes)
        for ss in rs.scope_spans:
            scope_name = ss.scope.name or None
            for sp in ss.spans:
                trace_id = sp.trace_id
                span_id = sp.span_id
                parent = sp.parent_span_id
                start = sp.start_time_unix_nano
                end = sp.end_time_unix_nano
                if (
                    len(trace_id) != 16
                    or trace_id == zero_tid
                    or len(span_id) != 8
                    or span_id == zero_sid
                    or (parent and len(parent) != 8)
                    or start == 0
                    or end < start
                ):
                    rejected.add(
                        f"span {sp.name!r} ({trace_id.hex()}/{span_id.hex()}) rejected: "
                        + _span_problem(trace_id, span_id, parent, start, end)
                    )
                    continue
                kind = sp.kind
                status = sp.status
                code = status.code
                events = [
                    {
                        "name": ev.name,
                        "time_unix_nano": ev.time_unix_nano,
                        "attributes": attrs(ev.attributes),
                    }
                    for ev in sp.events
                ]
                links = [
                    {
                        "trace_id": ln.trace_id.hex(),
                        "span_id": ln.span_id.hex(),
                        "attributes": attrs(ln.attributes),
                    }
                    for ln in sp.links
                ]
                append(
                    SpanRecord(
                        trace_id=trace_id.hex(),
                        span_id=span_id.hex(),
                        # Empty means root; some SDKs send 8 zero bytes for it instead.
                        parent_span_id=parent.hex() if parent and parent != zero_sid else None,
                        name=sp.name,
                        kind=kinds[kind] if 0 <= kind < _N_KINDS else "unspecified",
                        start_time_unix_nano=start,
                        end_time_unix_nano=end,
                        status_code=codes[code] if 0 <= code < _N_STATUS else "unset",
                        status_message=status.message or None,
                        service_name=service_name,
                        scope_name=scope_name,
                        attributes=attrs(sp.attributes),
                        # A copy per span: later stages may edit one span's dicts.
                        resource_attributes=resource_attributes.copy(),
                        events=events,
                        links=links,
                    )
                )
    return Decoded(records, rejected)


# ----------------------------------------------------------------------- metrics

_TEMPORALITY = {1: "delta", 2: "cumulative"}


def metric_points_from_request(req: ExportMetricsServiceRequest) -> Decoded[MetricPointRecord]:
    records: list[MetricPointRecord] = []
    rejected = Rejection()
    append = records.append
    attrs = attributes_to_dict

    for rm in req.resource_metrics:
        resource_attributes = attrs(rm.resource.attributes)
        service_name = _service_name(resource_attributes)
        for sm in rm.scope_metrics:
            scope_name = sm.scope.name or None
            for metric in sm.metrics:
                metric_type = metric.WhichOneof("data")
                if metric_type is None:
                    continue  # no data points at all: nothing to store or to reject
                data = getattr(metric, metric_type)
                name = metric.name
                common = {
                    "metric_name": name,
                    "metric_type": metric_type,
                    "service_name": service_name,
                    "scope_name": scope_name,
                    "unit": metric.unit or None,
                    "description": metric.description or None,
                }
                temporality = None
                if metric_type != "gauge" and metric_type != "summary":
                    temporality = _TEMPORALITY.get(data.aggregation_temporality)
                is_monotonic = data.is_monotonic if metric_type == "sum" else None

                for pt in data.data_points:
                    t = pt.time_unix_nano
                    if t == 0:
                        rejected.add(
                            f"{metric_type} point of {name!r} rejected: time_unix_nano is missing"
                        )
                        continue
                    rec = MetricPointRecord(
                        time_unix_nano=t,
                        start_time_unix_nano=pt.start_time_unix_nano or None,
                        attributes=attrs(pt.attributes),
                        resource_attributes=resource_attributes.copy(),
                        aggregation_temporality=temporality,
                        is_monotonic=is_monotonic,
                        **common,
                    )
                    if metric_type == "gauge" or metric_type == "sum":
                        which = pt.WhichOneof("value")
                        if which == "as_double":
                            rec.value = pt.as_double
                        elif which == "as_int":
                            rec.value = float(pt.as_int)
                        # neither: a point with no recorded value (staleness marker)
                    elif metric_type == "histogram":
                        rec.count = pt.count
                        rec.sum = pt.sum if pt.HasField("sum") else None
                        rec.min = pt.min if pt.HasField("min") else None
                        rec.max = pt.max if pt.HasField("max") else None
                        rec.buckets = {
                            "bounds": list(pt.explicit_bounds),
                            "counts": list(pt.bucket_counts),
                        }
                    elif metric_type == "exponential_histogram":
                        rec.count = pt.count
                        rec.sum = pt.sum if pt.HasField("sum") else None
                        rec.min = pt.min if pt.HasField("min") else None
                        rec.max = pt.max if pt.HasField("max") else None
                        pos = pt.positive
                        neg = pt.negative
                        rec.buckets = {
                            "scale": pt.scale,
                            "zero_count": pt.zero_count,
                            "zero_threshold": pt.zero_threshold,
                            "positive": {
                                "offset": pos.offset,
                                "bucket_counts": list(pos.bucket_counts),
                            },
                            "negative": {
                                "offset": neg.offset,
                                "bucket_counts": list(neg.bucket_counts),
                            },
                        }
                    else:  # summary
                        rec.count = pt.count
                        rec.sum = pt.sum
                        rec.buckets = {
                            "quantiles": [
                                {"quantile": q.quantile, "value": q.value}
                                for q in pt.quantile_values
                            ]
                        }
                    append(rec)
    return Decoded(records, rejected)


# -------------------------------------------------------------------------- logs

# LogRecord.event_name arrived in opentelemetry-proto 1.5 (Python package 1.32);
# older packages only have the `event.name` attribute.
_LOG_HAS_EVENT_NAME = "event_name" in LogRecord.DESCRIPTOR.fields_by_name


def log_records_from_request(req: ExportLogsServiceRequest) -> Decoded[LogRecordRow]:
    records: list[LogRecordRow] = []
    rejected = Rejection()
    append = records.append
    attrs = attributes_to_dict
    has_event_name = _LOG_HAS_EVENT_NAME
    zero_tid = _ZERO_TRACE_ID
    zero_sid = _ZERO_SPAN_ID

    for rl in req.resource_logs:
        resource_attributes = attrs(rl.resource.attributes)
        service_name = _service_name(resource_attributes)
        for sl in rl.scope_logs:
            scope_name = sl.scope.name or None
            for lr in sl.log_records:
                observed = lr.observed_time_unix_nano
                t = lr.time_unix_nano or observed
                if t == 0:
                    rejected.add(
                        "log record rejected: both time_unix_nano and "
                        "observed_time_unix_nano are missing"
                    )
                    continue
                trace_id = lr.trace_id
                span_id = lr.span_id
                if trace_id and len(trace_id) != 16:
                    rejected.add(
                        f"log record rejected: trace_id must be 16 bytes, got {len(trace_id)}"
                    )
                    continue
                if span_id and len(span_id) != 8:
                    rejected.add(
                        f"log record rejected: span_id must be 8 bytes, got {len(span_id)}"
                    )
                    continue
                attributes = attrs(lr.attributes)
                event_name = lr.event_name if has_event_name else ""
                if not event_name:
                    attr_name = attributes.get("event.name")
                    event_name = attr_name if isinstance(attr_name, str) else ""
                body = lr.body
                kind = body.WhichOneof("value")
                append(
                    LogRecordRow(
                        time_unix_nano=t,
                        observed_time_unix_nano=observed or None,
                        service_name=service_name,
                        scope_name=scope_name,
                        severity_number=lr.severity_number or None,
                        severity_text=lr.severity_text or None,
                        body=body.string_value
                        if kind == "string_value"
                        else (any_value_to_python(body) if kind else None),
                        # All-zero ids are what some SDKs send outside a span: no correlation.
                        trace_id=trace_id.hex() if trace_id and trace_id != zero_tid else None,
                        span_id=span_id.hex() if span_id and span_id != zero_sid else None,
                        event_name=event_name or None,
                        attributes=attributes,
                        resource_attributes=resource_attributes.copy(),
                    )
                )
    return Decoded(records, rejected)
