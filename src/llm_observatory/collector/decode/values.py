"""OTLP AnyValue and attribute lists -> Python values, within the per-record limits.

The hottest loop of the collector is `attributes()` (~0.5 us per attribute, mostly upb
wrappers): most attributes are non-empty strings, so it reads `string_value` first and
asks WhichOneof only for the rest. Limits cost a length check per string.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from llm_observatory.collector.limits import Limits, note

DEFAULT_SERVICE_NAME = "unknown_service"

_b64encode = base64.b64encode
_SCALAR_KINDS = frozenset({"int_value", "double_value", "bool_value"})


def any_value(value: Any, max_length: int) -> Any:
    """An AnyValue as a Python value: kvlist -> dict, array -> list, bytes -> base64 text.

    Strings (and bytes) longer than `max_length` are cut to it. An AnyValue with nothing
    set (OTLP's "empty value") is None; so is string_value_strindex (profiles only).
    """
    kind = value.WhichOneof("value")
    if kind == "string_value":
        text = value.string_value
        return text if len(text) <= max_length else text[:max_length]
    if kind in _SCALAR_KINDS:
        return getattr(value, kind)
    if kind == "array_value":
        return [any_value(v, max_length) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value, max_length) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return _b64encode(value.bytes_value[:max_length]).decode("ascii")
    return None


def _longest(value: Any) -> int:
    """Length of the longest string or bytes inside an AnyValue (to tell whether it was cut)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return len(value.string_value)
    if kind == "bytes_value":
        return len(value.bytes_value)
    if kind == "array_value":
        return max((_longest(v) for v in value.array_value.values), default=0)
    if kind == "kvlist_value":
        return max((_longest(kv.value) for kv in value.kvlist_value.values), default=0)
    return 0


def attributes(kvs: Any, limits: Limits) -> dict[str, Any]:
    """Repeated KeyValue -> {key: value}; on duplicate keys the last one wins.

    At most `max_attributes` are kept, and strings are cut to the value length limit;
    what was cut is noted in the `llmo.truncated` attribute of the result.
    """
    out: dict[str, Any] = {}
    max_length = limits.max_attribute_value_length
    dropped = len(kvs) - limits.max_attributes
    if dropped > 0:
        kvs = kvs[: limits.max_attributes]
    cut: list[str] | None = None
    for kv in kvs:
        value = kv.value
        s = value.string_value
        if s:
            if len(s) > max_length:
                s = s[:max_length]
                cut = [*(cut or ()), kv.key]
            out[kv.key] = s
            continue
        kind = value.WhichOneof("value")
        if kind in _SCALAR_KINDS:
            out[kv.key] = getattr(value, kind)
        elif kind is None or kind == "string_value":
            out[kv.key] = "" if kind else None
        else:
            out[kv.key] = any_value(value, max_length)
            if _longest(value) > max_length:
                cut = [*(cut or ()), kv.key]
    if dropped > 0:
        note(out, "attributes", dropped)
    if cut:
        for key in cut:
            note(out, "values", key)
    return out


def service_name(resource_attributes: dict[str, Any]) -> str:
    name = resource_attributes.get("service.name")
    return name if isinstance(name, str) and name else DEFAULT_SERVICE_NAME


def scopes(
    resources: Any, scopes_field: str, limits: Limits
) -> Iterator[tuple[dict[str, Any], str, str | None, Any]]:
    """(resource attributes, service name, scope name, scope) for each scope of a request.

    The attribute dict is shared by every record of its resource: processors edit it
    only idempotently (PII redaction redacts each resource once).
    """
    for resource in resources:
        resource_attributes = attributes(resource.resource.attributes, limits)
        service = service_name(resource_attributes)
        for scoped in getattr(resource, scopes_field):
            yield resource_attributes, service, scoped.scope.name or None, scoped
