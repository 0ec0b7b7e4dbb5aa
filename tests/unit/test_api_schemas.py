"""One definition of each answer: GraphQL types are derived from the pydantic models."""

# No `from __future__ import annotations`: strawberry resolves the local types below.

import ast
import inspect
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args, get_origin

import strawberry
from pydantic import BaseModel, Field
from strawberry.schema.config import StrawberryConfig
from strawberry.utils.str_converters import to_camel_case

from llm_observatory.api import graphql, schemas
from llm_observatory.api.graphql_types import SCALARS, input_type, object_type
from llm_observatory.api.params import LogFilter, SessionFilter, TraceFilter, UserFilter
from llm_observatory.core.settings import ApiSettings

SCHEMA = graphql.make_schema(ApiSettings(jwt_secret="s" * 32))._schema

ANSWERS = [
    cls
    for _, cls in inspect.getmembers(schemas, inspect.isclass)
    if issubclass(cls, BaseModel)
    and cls.__module__ == schemas.__name__
    and not cls.__name__.startswith("_")  # a base of answers (_Page), no answer itself
]


def _fields(name: str) -> dict[str, str]:
    """GraphQL name -> type (e.g. "Long!") of an object or input type of the schema."""
    graphql_type = SCHEMA.type_map[name]
    return {field: str(value.type) for field, value in graphql_type.fields.items()}


def _is_long(annotation) -> bool:
    return annotation is schemas.Long or schemas.Long in get_args(annotation)


def test_every_answer_model_is_a_graphql_type_with_the_same_fields():
    used = [m for m in ANSWERS if m.__name__ in SCHEMA.type_map]
    # Every answer the queries return is reachable in the schema (Health is REST only;
    # the list envelopes of usage and models are GraphQL lists).
    assert {m.__name__ for m in ANSWERS} - {m.__name__ for m in used} <= {
        "Health",
        "UsageList",
        "ModelList",
        "ServiceList",
    }
    for model in used:
        fields = _fields(model.__name__)
        assert set(fields) == {to_camel_case(n) for n in model.model_fields}, model
        for name, info in model.model_fields.items():
            kind = fields[to_camel_case(name)]
            if _is_long(info.annotation):
                assert kind.startswith("Long"), (model, name, kind)
            required = type(None) not in get_args(info.annotation) and not (
                get_origin(info.annotation) is None and info.annotation is None
            )
            assert kind.endswith("!") == required, (model, name, kind)


def test_a_field_added_to_a_model_appears_in_graphql_without_declaring_it():
    class Extra(BaseModel):
        trace_id: str
        tokens: schemas.Long = Field(description="a new 64-bit count")
        seen: datetime
        details: schemas.JsonObject
        items: list[schemas.TraceSummary]

    extra_type = object_type(Extra)

    @strawberry.type
    class Query:
        @strawberry.field
        def extra(self) -> extra_type:  # type: ignore[valid-type]
            return Extra(
                trace_id="t",
                tokens=2**40,
                seen=datetime(2025, 1, 1, tzinfo=UTC),
                details={"a": [1]},
                items=[],
            )

    schema = strawberry.Schema(query=Query, config=StrawberryConfig(scalar_map=SCALARS))
    sdl = schema.as_str()
    assert '"""a new 64-bit count"""\n  tokens: Long!' in sdl
    assert "items: [TraceSummary!]!" in sdl and "details: JSON!" in sdl
    # The resolver returned the pydantic instance itself: strawberry reads its fields.
    result = schema.execute_sync("{ extra { traceId tokens details } }")
    assert result.errors is None
    assert result.data == {"extra": {"traceId": "t", "tokens": 2**40, "details": {"a": [1]}}}


def test_graphql_module_declares_no_answer_fields():
    # Derived, not copied: graphql.py has one strawberry class (Query) and no pydantic
    # field of any answer model as a class attribute.
    tree = ast.parse(Path(graphql.__file__).read_text())
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    assert [c.name for c in classes] == ["Query", "_Schema"]
    query = classes[0]
    annotated = [n for n in query.body if isinstance(n, ast.AnnAssign)]
    assert annotated == []


def test_filter_inputs_are_derived_from_the_filter_models():
    for model, name in (
        (TraceFilter, "TraceFilter"),
        (SessionFilter, "SessionFilter"),
        (UserFilter, "UserFilter"),
        (LogFilter, "LogFilter"),
    ):
        assert input_type(model) is input_type(model)  # one type per model
        fields = _fields(name)
        expected = {(info.alias or to_camel_case(n)) for n, info in model.model_fields.items()}
        assert set(fields) == expected, name
        assert all(not kind.endswith("!") for kind in fields.values()), name


def test_64_bit_token_sums_survive_graphql():
    big = 2**40
    summary = schemas.TraceSummary(
        trace_id="t", root_name="r", service="s", start_time=datetime(2025, 1, 1, tzinfo=UTC),
        duration_ms=1.0, span_count=1, llm_calls=1, input_tokens=big, output_tokens=big,
        cost_usd=0.0, status="ok",
    )  # fmt: skip
    trace_summary = object_type(schemas.TraceSummary)

    @strawberry.type
    class Query:
        @strawberry.field
        def one(self) -> trace_summary:  # type: ignore[valid-type]
            return summary

    schema = strawberry.Schema(query=Query, config=StrawberryConfig(scalar_map=SCALARS))
    result = schema.execute_sync("{ one { inputTokens outputTokens } }")
    assert result.errors is None
    assert result.data == {"one": {"inputTokens": big, "outputTokens": big}}
