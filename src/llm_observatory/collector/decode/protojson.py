"""OTLP/JSON -> protobuf request messages, 3-4x faster than json_format.ParseDict.

OTLP/HTTP JSON is the protobuf JSON mapping (lowerCamelCase or snake_case names, int64
as strings or numbers, enums as names or numbers) with two OTLP rules on top: trace
and span ids are hex, not base64, and unknown fields are ignored. json_format.ParseDict
is pure Python and generic (~250 us per typical LLM span). Instead, one walk over the
orjson output turns it into the keyword arguments of the request message's constructor
(snake_case names, Python ints/floats/bytes, enum numbers, nested dicts and lists), and
upb builds the message from them in C. Each message type gets a table {json name and
proto name: (proto name, converter)}, built once from its descriptor.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf.descriptor import FieldDescriptor

from llm_observatory.core.signals import SIGNALS

__all__ = ["MAX_VALUE_DEPTH", "JsonError", "json_request"]


class JsonError(ValueError):
    """The body is not a valid OTLP/JSON export request; the message says where and why."""


def json_request(request_type: Any, body: bytes) -> Any:
    """An OTLP/JSON body -> the request message; JsonError when it is not one."""
    if not body:
        raise JsonError("malformed JSON: empty body")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise JsonError(f"malformed JSON: {exc}") from None
    try:
        kwargs = _json_message(_json_table(request_type.DESCRIPTOR), data)
    except _JsonError as exc:
        where = _json_path(exc.path)
        raise JsonError(
            f"invalid OTLP JSON: {where}: {exc.message}" if where else f"invalid OTLP JSON: {exc}"
        ) from None
    try:
        return request_type(**kwargs)
    except (ValueError, TypeError) as exc:  # e.g. an integer out of its field's range
        raise JsonError(f"invalid OTLP JSON: {exc}") from None


_fromhex = bytes.fromhex
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


def _json_array(
    items: Any, depth: int, convert: Callable[[Any, int], dict[str, Any]]
) -> list[dict[str, Any]]:
    if type(items) is not list:
        raise _JsonError(f"expected an array, got {_describe(items)}")
    out = []
    append = out.append
    for i, item in enumerate(items):
        try:
            append(convert(item, depth))
        except _JsonError as exc:
            exc.path.append(i)
            raise
    return out


def _json_any_values(items: Any, depth: int) -> list[dict[str, Any]]:
    return _json_array(items, depth, _json_any_value)


def _json_key_values(items: Any, depth: int) -> list[dict[str, Any]]:
    return _json_array(items, depth, _json_key_value)


def _json_key_value(item: Any, depth: int) -> dict[str, Any]:
    if type(item) is dict and len(item) == 2:
        key = item.get("key")
        value = item.get("value")
        # Fast path: {"key": k, "value": {"stringValue": s}} and the other scalars.
        if type(key) is str and type(value) is dict and len(value) == 1:
            s = value.get("stringValue")
            if type(s) is str:
                return {"key": key, "value": {"string_value": s}}
            ((kind, v),) = value.items()
            scalar = _ANY_VALUE_SCALARS.get(kind)
            if scalar is not None and v is not None:
                try:
                    return {"key": key, "value": {scalar[0]: scalar[1](v)}}
                except _JsonError:
                    pass  # the general path below reports it, with its JSON path
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
    return kv


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
for _signal in SIGNALS.values():
    _json_table(_signal.request_type.DESCRIPTOR)
del _signal
