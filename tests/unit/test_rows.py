"""COPY row encoding: a resource's attributes, shared by its records, are encoded once."""

from __future__ import annotations

from llm_observatory.core.signals import TRACES
from tests.support.span_records import span_record


def _field(row: str, column: str) -> str:
    return row.split("\t")[TRACES.table.column_names.index(column)]


def test_records_sharing_a_resource_get_its_text_and_others_their_own() -> None:
    encode = TRACES.table.row_encoder()
    shared = {"service.name": "a", "host.name": "h1"}
    first, second = span_record("a", 1), span_record("a", 2)
    first.resource_attributes = second.resource_attributes = shared
    other = span_record("a", 3)
    other.resource_attributes = {"service.name": "a", "host.name": "h2"}
    equal_but_new = span_record("a", 4)
    equal_but_new.resource_attributes = dict(other.resource_attributes)

    rows = [encode(record) for record in (first, second, other, equal_but_new)]
    texts = [_field(row, "resource_attributes") for row in rows]
    assert texts[0] == texts[1] == '{"service.name":"a","host.name":"h1"}'
    assert texts[2] == texts[3] == '{"service.name":"a","host.name":"h2"}'
