"""What the API's queries share: select lists derived from the answer models, filters.

A select list names every field of its answer model (api/schemas.py), in order, as
the column of the same name or the expression in the model's map. So a field added
to `Span` is read from the column of that name without touching any query, and a row
comes out of the database already shaped as its model: validated once.

Values always travel as parameters. The only identifiers composed into SQL come from
these fixed maps; filters are fixed fragments chosen by which parameters are present.
No client text becomes SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import sql
from pydantic import BaseModel

from llm_observatory.storage.search_indexes import LOG_WORDS_OF, MESSAGE_WORDS_OF

# Field -> SQL expression, where the field is not simply the column of its name. `{t}`
# is the table alias of the query.
SPAN_EXPRESSIONS: dict[str, str] = {
    "service": "{t}.service_name",
    "scope": "{t}.scope_name",
    "status": "{t}.status_code",
    "cost_usd": "{t}.cost_usd::float8",
    "reported_cost_usd": "{t}.reported_cost_usd::float8",
    # An instrumentation stores a list; a hand-made span may store one string.
    "finish_reasons": (
        "CASE jsonb_typeof({t}.attributes -> 'gen_ai.response.finish_reasons') "
        "WHEN 'array' THEN ARRAY(SELECT jsonb_array_elements_text("
        "{t}.attributes -> 'gen_ai.response.finish_reasons')) "
        "WHEN 'string' THEN ARRAY[{t}.attributes ->> 'gen_ai.response.finish_reasons'] "
        "ELSE '{{}}'::text[] END"
    ),
}

LOG_EXPRESSIONS: dict[str, str] = {
    "service": "{t}.service_name",
    "scope": "{t}.scope_name",
    "severity_number": "{t}.severity_number::int",
}

# Words of prompts and completions, and of log bodies, for `q`: the expressions of the
# full-text indexes (storage/search_indexes.py), so the planner uses them.
MESSAGE_SEARCH_VECTOR = MESSAGE_WORDS_OF
LOG_SEARCH_VECTOR = LOG_WORDS_OF
# websearch_to_tsquery takes any text: quotes, `or` and `-word` as in a web search,
# and never fails on punctuation.
SEARCH_QUERY = "websearch_to_tsquery('simple'::regconfig, %(q)s)"


def expression(template: str, alias: str) -> str:
    return template.format(t=alias)


def select_list(model: type[BaseModel], alias: str, expressions: Mapping[str, str]) -> sql.Composed:
    """`alias.col AS field, ...` for every field of `model`, in the model's order."""
    items = []
    for field in model.model_fields:
        template = expressions.get(field)
        if template is None:
            value: sql.Composable = sql.SQL("{}.{}").format(
                sql.Identifier(alias), sql.Identifier(field)
            )
        else:
            value = sql.SQL(expression(template, alias))  # type: ignore[arg-type]
        items.append(sql.SQL("{} AS {}").format(value, sql.Identifier(field)))
    return sql.SQL(", ").join(items)


def conditions(parts: list[sql.Composable]) -> sql.Composable:
    return sql.SQL(" AND ").join(parts) if parts else sql.SQL("true")


def page_rows(rows: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], bool]:
    """The page, and whether there is a next one (queries fetch one row more)."""
    return rows[:limit], len(rows) > limit
