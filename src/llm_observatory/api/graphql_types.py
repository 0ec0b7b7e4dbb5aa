"""GraphQL types derived from the pydantic models: the answers and the filters.

Nothing here names a field. Each strawberry type takes every field of its model with
the model's description; only the type is translated where GraphQL has no such type:
`Long` stays the 64-bit scalar, JSON values become the JSON scalar, `Literal` choices
become strings (pydantic checks them), nested models become their derived types.
Resolvers return the pydantic instances themselves; strawberry reads their fields.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Annotated, Any, Literal, Optional, Union, get_args, get_origin

import strawberry
from pydantic import BaseModel
from strawberry.scalars import JSON

from llm_observatory.api.schemas import JsonObject, JsonValue, Long

LONG_SCALAR = strawberry.scalar(
    name="Long",
    description="A 64-bit integer (token counts overflow GraphQL's Int).",
    serialize=int,
    parse_value=int,
)
SCALARS = {Long: LONG_SCALAR}

_objects: dict[type[BaseModel], type] = {}
_inputs: dict[type[BaseModel], type] = {}


def graphql_annotation(annotation: Any) -> Any:
    """The strawberry annotation for a pydantic field's annotation."""
    if annotation in (JsonObject, JsonValue):
        return JSON
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Annotated:
        return graphql_annotation(args[0])
    if origin is Literal:
        return type(args[0])
    if origin in (Union, types.UnionType):
        members = [graphql_annotation(a) for a in args if a is not type(None)]
        if len(members) != 1:
            raise TypeError(f"GraphQL has no union of scalars: {annotation}")
        return Optional[members[0]] if type(None) in args else members[0]  # noqa: UP045
    if origin is list:
        return list[graphql_annotation(args[0])]  # type: ignore[misc]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return object_type(annotation)
    return annotation


def object_type(model: type[BaseModel]) -> type:
    """The GraphQL object type of an answer model (one per model)."""
    if model not in _objects:
        annotations = {
            name: graphql_annotation(field.annotation) for name, field in model.model_fields.items()
        }
        shell = type(model.__name__, (), {"__annotations__": annotations, "__doc__": model.__doc__})
        _objects[model] = strawberry.experimental.pydantic.type(model=model, all_fields=True)(shell)
    return _objects[model]


def input_type(model: type[BaseModel]) -> type:
    """The GraphQL input type of a filter model: every field optional, named by its alias."""
    if model not in _inputs:
        annotations = {
            name: Optional[graphql_annotation(field.annotation)]  # noqa: UP045
            for name, field in model.model_fields.items()
        }
        shell = type(
            model.__name__,
            (),
            {"__annotations__": annotations, **dict.fromkeys(annotations)},
        )
        _inputs[model] = strawberry.experimental.pydantic.input(model=model, all_fields=True)(shell)
    return _inputs[model]


def input_values(value: Any) -> dict[str, Any]:
    """A GraphQL input's fields by python name, for the filter model to validate."""
    if value is None:
        return {}
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
