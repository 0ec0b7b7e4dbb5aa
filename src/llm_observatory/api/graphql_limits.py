"""What one GraphQL request may ask: checked before it runs, each limit a setting.

One request is one hit of the rate limit, so it may cost about what one REST request
costs, and the checks that refuse it must be cheaper than what they protect:

    GRAPHQL_MAX_BODY_BYTES   the HTTP body (or GET query string), refused unread: 413
    GRAPHQL_MAX_TOKENS       lexical tokens, counted before the document is parsed
    GRAPHQL_MAX_DEPTH        nesting of selections (fragments expanded; introspection not)
    GRAPHQL_MAX_ALIASES      aliased fields in the document
    GRAPHQL_MAX_COST         the cost model below
    MAX_CURSOR_LENGTH        `after` (api/cursor.py, shared with REST)

Depth, aliases and cost come from one linear walk of the parsed document, before
GraphQL's own validation (some of whose rules are quadratic in the fields).

Cost model: every selected field costs 1; a query field that reads the database
costs STATEMENT_COST for each statement it may run (Query's FIELD_COSTS), and a page
its `first` on top. The answers' own lists (a trace's spans, ...) are bounded by the
API's constants and fetched by their field's statements. So GRAPHQL_MAX_COST / 100
is also the number of statements a request may run, and `StatementBudget` enforces
that while it runs: a field whose work turns out larger (a sessions scan that widens)
gets an error instead of more statements.

A refusal is a GraphQL error with extensions {"code": "LIMIT_EXCEEDED", "limit":
"<SETTING>"} and a message naming the limit and the value found.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException, Request
from graphql import GraphQLError
from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    Lexer,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    TokenKind,
    VariableNode,
)
from strawberry.extensions import SchemaExtension

from llm_observatory.api.params import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from llm_observatory.api.state import api_state
from llm_observatory.core.settings import ApiSettings

STATEMENT_COST = 100
LIMIT_EXCEEDED = "LIMIT_EXCEEDED"


@dataclass(frozen=True, slots=True)
class FieldCost:
    """What a query field costs: the database statements it may run; a page its `first`."""

    statements: int
    page: bool = False


def limit_error(limit: str, message: str) -> GraphQLError:
    return GraphQLError(f"{message} ({limit})", extensions={"code": LIMIT_EXCEEDED, "limit": limit})


# --- the body, before it is read -----------------------------------------------------


async def bounded_body(request: Request) -> None:
    """Refuse a body (or GET query string) over GRAPHQL_MAX_BODY_BYTES without reading it
    whole, and one that is not a GraphQL request (400 naming what is wrong). The body
    read is kept on the request for the GraphQL view."""
    limit = api_state(request).settings.graphql_max_body_bytes
    too_large = f"the request is larger than GRAPHQL_MAX_BODY_BYTES ({limit} bytes)"
    if len(request.scope.get("query_string", b"")) > limit:
        raise HTTPException(414, detail=too_large)
    if request.method != "POST":
        if "variables" in request.query_params:
            _check_request({"variables": _json(request.query_params["variables"])}, "variables")
        return
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, detail=too_large)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, detail=too_large)
        chunks.append(chunk)
    request._body = body = b"".join(chunks)  # what Request.body() returns from now on
    if request.headers.get("content-type", "").startswith("application/json"):
        _check_request(_json(body), "body")


def _json(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise HTTPException(400, detail="not JSON (UTF-8)") from None


# A GraphQL request's members and the types they may have (GraphQL over HTTP).
_MEMBERS: dict[str, tuple[type, ...]] = {
    "query": (str,),
    "variables": (dict, type(None)),
    "operationName": (str, type(None)),
    "extensions": (dict, type(None)),
}


def _check_request(value: Any, what: str) -> None:
    if what == "body" and not isinstance(value, dict):
        raise HTTPException(400, detail="the body must be a JSON object {query, variables}")
    for name, types in _MEMBERS.items():
        if name in value and not isinstance(value[name], types):
            kinds = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise HTTPException(400, detail=f"{name} must be {kinds}")


# --- the document -----------------------------------------------------------------------


def count_tokens(query: str, limit: int) -> int:
    """Tokens of `query`, counting stops past `limit` (a syntax error counts as the end:
    the parser reports it)."""
    lexer = Lexer(Source(query))
    count = 0
    try:
        while lexer.advance().kind is not TokenKind.EOF:
            count += 1
            if count > limit:
                break
    except GraphQLError:
        pass
    return count


@dataclass
class Shape:
    depth: int = 0
    aliases: int = 0
    cost: int = 0


@dataclass
class _Walk:
    """One pass over a document: depth and cost of each operation, aliases overall."""

    fragments: Mapping[str, FragmentDefinitionNode]
    costs: Mapping[str, FieldCost]
    variables: Mapping[str, Any]
    defaults: dict[str, Any] = field(default_factory=dict)
    memo: dict[tuple[str, bool], tuple[int, int]] = field(default_factory=dict)
    active: set[str] = field(default_factory=set)

    def selections(self, node: SelectionSetNode | None, root: bool) -> tuple[int, int]:
        """(depth, cost) of a selection set."""
        depth = cost = 0
        for selection in node.selections if node else ():
            if isinstance(selection, FieldNode):
                d, c = self.field(selection, root)
            elif isinstance(selection, InlineFragmentNode):
                d, c = self.selections(selection.selection_set, root)
            elif isinstance(selection, FragmentSpreadNode):
                d, c = self.spread(selection.name.value, root)
            else:  # pragma: no cover - GraphQL has no other selection
                continue
            depth, cost = max(depth, d), cost + c
        return depth, cost

    def spread(self, name: str, root: bool) -> tuple[int, int]:
        # Each fragment is walked once per position (root or not): a document that
        # spreads one fragment many times costs a lookup per spread. A cycle (which
        # validation refuses) counts nothing more.
        key = (name, root)
        if key in self.memo:
            return self.memo[key]
        fragment = self.fragments.get(name)
        if fragment is None or name in self.active:
            return 0, 0
        self.active.add(name)
        self.memo[key] = found = self.selections(fragment.selection_set, root)
        self.active.discard(name)
        return found

    def field(self, node: FieldNode, root: bool) -> tuple[int, int]:
        if node.name.value.startswith("__"):
            # Introspection: bounded by the schema, not by data; its depth is not ours.
            return 0, 1 + self.selections(node.selection_set, False)[1]
        cost = 1
        if root and (known := self.costs.get(node.name.value)) is not None:
            cost += known.statements * STATEMENT_COST
            if known.page:
                cost += self.first(node)
        if node.selection_set is None:
            return 0, cost
        depth, inner = self.selections(node.selection_set, False)
        return 1 + depth, cost + inner

    def first(self, node: FieldNode) -> int:
        value: Any = DEFAULT_PAGE_SIZE
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                name = argument.value.name.value
                value = self.variables.get(name, self.defaults.get(name, DEFAULT_PAGE_SIZE))
        # Out of range is the field's own error (naming `first`): counted at the bound.
        return min(max(value, 1), MAX_PAGE_SIZE) if isinstance(value, int) else MAX_PAGE_SIZE


def measure(
    document: DocumentNode, costs: Mapping[str, FieldCost], variables: Mapping[str, Any] | None
) -> Shape:
    """Depth and cost of the document's costliest operation, and all its aliases."""
    definitions = document.definitions
    fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
    walk = _Walk(fragments, costs, variables or {})
    shape = Shape(aliases=sum(1 for node in _fields(definitions) if node.alias is not None))
    for operation in definitions:
        if not isinstance(operation, OperationDefinitionNode):
            continue
        walk.defaults = {
            v.variable.name.value: int(v.default_value.value)
            for v in operation.variable_definitions or ()
            if isinstance(v.default_value, IntValueNode)
        }
        depth, cost = walk.selections(operation.selection_set, root=True)
        shape.depth, shape.cost = max(shape.depth, depth), max(shape.cost, cost)
    return shape


def _fields(definitions: Sequence[Any]) -> Iterator[FieldNode]:
    stack = [d.selection_set for d in definitions if getattr(d, "selection_set", None)]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FieldNode):
                yield selection
            if getattr(selection, "selection_set", None) is not None:
                stack.append(selection.selection_set)


class DocumentLimits(SchemaExtension):
    """Tokens before parsing; depth, aliases and cost before validation."""

    def __init__(self, settings: ApiSettings, costs: Mapping[str, FieldCost]) -> None:
        self.settings = settings
        self.costs = costs

    def on_parse(self) -> Iterator[None]:
        query = self.execution_context.query
        limit = self.settings.graphql_max_tokens
        if query and count_tokens(query, limit) > limit:
            raise limit_error("GRAPHQL_MAX_TOKENS", f"the document has more than {limit} tokens")
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None:
            error = self.check(measure(context.graphql_document, self.costs, context.variables))
            if error is not None:
                # Set before validation runs: strawberry then skips it and answers this.
                context.pre_execution_errors = [error]
        yield

    def check(self, shape: Shape) -> GraphQLError | None:
        s = self.settings
        if shape.depth > s.graphql_max_depth:
            return limit_error(
                "GRAPHQL_MAX_DEPTH",
                f"the document nests {shape.depth} levels deep, more than {s.graphql_max_depth}",
            )
        if shape.aliases > s.graphql_max_aliases:
            return limit_error(
                "GRAPHQL_MAX_ALIASES",
                f"the document has {shape.aliases} aliases, more than {s.graphql_max_aliases}",
            )
        if shape.cost > s.graphql_max_cost:
            return limit_error(
                "GRAPHQL_MAX_COST",
                f"the document costs {shape.cost}, more than {s.graphql_max_cost}: each "
                f"database statement costs {STATEMENT_COST}, a page its `first`, a field 1; "
                "ask for fewer fields or smaller pages, or split the request",
            )
        return None


# --- while it runs ----------------------------------------------------------------------


class StatementBudget:
    """The API's database for one GraphQL request: at most `budget` statements."""

    def __init__(self, database: Any, budget: int) -> None:
        self.database = database
        self.budget = budget
        self.used = 0

    def _spend(self, statements: int) -> None:
        if self.used + statements > self.budget:
            raise limit_error(
                "GRAPHQL_MAX_COST",
                f"the request needs more than {self.budget} database statements "
                f"(GRAPHQL_MAX_COST / {STATEMENT_COST}): ask for fewer fields",
            )
        self.used += statements

    async def fetch_all(self, query: Any, params: Any = None) -> list[dict[str, Any]]:
        self._spend(1)
        return await self.database.fetch_all(query, params)

    async def fetch_many(self, statements: Sequence[tuple[Any, Any]]) -> list[Any]:
        self._spend(len(statements))
        return await self.database.fetch_many(statements)

    def __getattr__(self, name: str) -> Any:  # the pool, check(): as the database's
        return getattr(self.database, name)
