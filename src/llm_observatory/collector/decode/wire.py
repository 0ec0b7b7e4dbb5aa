"""Count the items of an OTLP protobuf body before parsing it.

upb materialises a whole message when it parses: 16 MiB of empty spans (a 16 KB gzip
body) became 8 million span objects and more than a gigabyte of memory. This walk reads
only the tags and lengths on the path to the items (request -> resource -> scope ->
span / log record, or -> metric -> data points) and stops as soon as the count passes
the limit, so a request with too many items is refused for the cost of reading
`limit` tags, whatever its size.
"""

from __future__ import annotations

from llm_observatory.core.signals import SIGNALS


class WireError(ValueError):
    """The bytes are not a protobuf message (the parser would refuse them too)."""


def _path(request_type, names: list[tuple[str, ...]]) -> list[frozenset[int]]:
    """Field names per level (several at a level: a oneof) -> their field numbers."""
    numbers = []
    descriptor = request_type.DESCRIPTOR
    for level in names:
        fields = [descriptor.fields_by_name[name] for name in level]
        numbers.append(frozenset(f.number for f in fields))
        descriptor = fields[0].message_type
    return numbers


_METRIC_DATA = ("gauge", "sum", "histogram", "exponential_histogram", "summary")
_PATHS = {
    "traces": [("resource_spans",), ("scope_spans",), ("spans",)],
    "metrics": [("resource_metrics",), ("scope_metrics",), ("metrics",), _METRIC_DATA,
                ("data_points",)],
    "logs": [("resource_logs",), ("scope_logs",), ("log_records",)],
}  # fmt: skip
PATHS = {name: _path(SIGNALS[name].request_type, _PATHS[name]) for name in SIGNALS}


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while pos < end:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            break
    raise WireError("malformed varint")


def _skip_scalar(buf: bytes, pos: int, end: int, wire_type: int) -> int:
    """The position after a varint, fixed64 or fixed32 value; other wire types are refused."""
    if wire_type == 0:
        return _varint(buf, pos, end)[1]
    if wire_type == 1:
        return pos + 8
    if wire_type == 5:
        return pos + 4
    raise WireError(f"unsupported wire type {wire_type}")


def _skip_group(buf: bytes, pos: int, end: int, number: int) -> int:
    """The position after the END_GROUP that closes group `number` (nested ones too)."""
    open_groups = [number]
    while open_groups:
        if pos >= end:
            raise WireError("group runs past the end of the message")
        tag, pos = _varint(buf, pos, end)
        field, wire_type = tag >> 3, tag & 7
        if wire_type == 2:
            size, pos = _varint(buf, pos, end)
            pos += size
        elif wire_type == 3:
            open_groups.append(field)
        elif wire_type == 4:
            if open_groups.pop() != field:
                raise WireError("group ends with another group's number")
        else:
            pos = _skip_scalar(buf, pos, end, wire_type)
    if pos > end:
        raise WireError("group runs past the end of the message")
    return pos


def count_items(signal: str, body: bytes, limit: int) -> int:
    """The number of items in body, or the first count above `limit` (then it stops)."""
    path = PATHS[signal]
    leaf = len(path) - 1
    count = 0
    # An explicit stack of (level, position, end): no recursion, bounded by the depth.
    stack = [(0, 0, len(body))]
    while stack:
        level, pos, end = stack.pop()
        wanted = path[level]
        while pos < end:
            tag, pos = _varint(body, pos, end)
            number, wire_type = tag >> 3, tag & 7
            if wire_type == 2:
                size, pos = _varint(body, pos, end)
                stop = pos + size
                if stop > end:
                    raise WireError("length runs past the end of the message")
                if number in wanted:
                    if level == leaf:
                        count += 1
                        if count > limit:
                            return count
                    else:
                        stack.append((level, stop, end))  # the rest of this message
                        stack.append((level + 1, pos, stop))
                        break
                pos = stop
            elif wire_type == 3:  # an unknown (proto2) group: skipped, as the parser does
                pos = _skip_group(body, pos, end, number)
            else:
                pos = _skip_scalar(body, pos, end, wire_type)
        if pos > end:
            raise WireError("field runs past the end of the message")
    return count


def count_parsed(signal: str, request: object) -> int:
    """The number of items in an already parsed request (an OTLP/JSON one)."""
    nodes: list = [request]
    *levels, (leaf,) = _PATHS[signal]
    for level in levels:
        children: list = []
        for node in nodes:
            if level is _METRIC_DATA:  # a oneof: the one data field that is set
                kind = node.WhichOneof("data")
                if kind is not None:
                    children.append(getattr(node, kind))
            else:
                children.extend(getattr(node, level[0]))
        nodes = children
    return sum(len(getattr(node, leaf)) for node in nodes)
