"""What one GraphQL request may ask (api/graphql_limits.py), in-process with a fake database.

Each limit is a setting: the tests lower or use its default, send the smallest
document past it, and check the refusal names the setting; a document just inside
runs. The body limit is checked on the raw ASGI app: a body over the limit is refused
before it is read.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from graphql import GraphQLError, parse

from llm_observatory.api.graphql import FIELD_COSTS
from llm_observatory.api.graphql_limits import (
    STATEMENT_COST,
    FieldCost,
    StatementBudget,
    measure,
)
from llm_observatory.api.params import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from tests.support.asgi_client import ChunkedReceive, post
from tests.unit.test_api_app import SESSION_ROW, FakeDatabase, bearer, make_api

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _graphql(client, settings, query: str, **variables) -> dict:
    response = client.post(
        "/graphql", headers=bearer(settings), json={"query": query, "variables": variables}
    )
    assert response.status_code == 200, response.text
    return response.json()


def _limit(body: dict) -> str | None:
    """The limit a refused document names (None: it was not refused by a limit)."""
    for error in body.get("errors") or ():
        if error.get("extensions", {}).get("code") == "LIMIT_EXCEEDED":
            return error["extensions"]["limit"]
    return None


# --- the body ---------------------------------------------------------------------------


def _asgi(client):
    """The app as a server calls it (tests.support.asgi_client's scope has no query string)."""

    async def app(scope, receive, send):
        await client.app({"query_string": b"", **scope}, receive, send)

    return app


def _auth_header(settings) -> list[tuple[bytes, bytes]]:
    (value,) = bearer(settings).values()
    return [(b"authorization", value.encode()), (b"content-type", b"application/json")]


def test_a_declared_body_over_the_limit_is_413_and_never_read():
    client, settings, db, _ = make_api(rate_limit_requests=100)
    receive = ChunkedReceive(chunks=100)
    length = str(settings.graphql_max_body_bytes + 1).encode()
    status, body = asyncio.run(
        post(
            _asgi(client),
            "/graphql",
            [*_auth_header(settings), (b"content-length", length)],
            receive,
        )
    )
    assert status == 413, body
    assert b"GRAPHQL_MAX_BODY_BYTES" in body
    assert receive.served == 0
    assert db.calls == []


def test_a_streamed_body_over_the_limit_is_413_after_reading_at_most_the_limit():
    client, settings, *_ = make_api(rate_limit_requests=100)
    receive = ChunkedReceive(chunks=1000, size=4096)  # 4 MB, no content-length
    status, body = asyncio.run(post(_asgi(client), "/graphql", _auth_header(settings), receive))
    assert status == 413, body
    assert receive.served * 4096 <= settings.graphql_max_body_bytes + 4096


def test_a_query_string_over_the_limit_is_414():
    client, settings, *_ = make_api(rate_limit_requests=100)
    query = "{ models { " + "model " * (settings.graphql_max_body_bytes // 6) + "} }"
    response = client.get("/graphql", headers=bearer(settings), params={"query": query})
    assert response.status_code == 414
    assert "GRAPHQL_MAX_BODY_BYTES" in response.text
    # The same document within the limit is answered.
    small = client.get("/graphql", headers=bearer(settings), params={"query": "{ services }"})
    assert small.json() == {"data": {"services": []}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1, 2]", "JSON object"),
        (b'{"query": 5}', "query must be str"),
        (b'{"query": "{ services }", "variables": "x"}', "variables must be dict or null"),
        (b"\xff\xfe", "not JSON"),
        (b"[" * 100_00 + b"]" * 100_00, "GRAPHQL_MAX_BODY_BYTES"),
    ],
)
def test_a_body_that_is_not_a_graphql_request_is_a_4xx_naming_why(body, message):
    client, settings, *_ = make_api(rate_limit_requests=100)
    headers = {**bearer(settings), "content-type": "application/json"}
    response = client.post("/graphql", headers=headers, content=body)
    assert 400 <= response.status_code < 500, response.text
    assert message in response.text


# --- the document -------------------------------------------------------------------------


def test_tokens_over_the_limit_are_refused_before_parsing():
    client, settings, *_ = make_api(rate_limit_requests=100, graphql_max_tokens=100)
    limit = settings.graphql_max_tokens
    # `{ models { model model ... } }`: 5 tokens besides the fields.
    inside = "{ models { " + "model " * (limit - 5) + "} }"
    assert _graphql(client, settings, inside) == {"data": {"models": []}}
    over = "{ models { " + "model " * (limit - 4) + "} }"
    assert _limit(_graphql(client, settings, over)) == "GRAPHQL_MAX_TOKENS"


USER_SESSIONS = 'user(userId: "u") { sessions { items { sessionId } } }'  # depth 3


def test_depth_over_the_limit_is_refused():
    client, settings, db, _ = make_api(rate_limit_requests=100, graphql_max_depth=2)
    body = _graphql(client, settings, "{ " + USER_SESSIONS + " }")
    assert _limit(body) == "GRAPHQL_MAX_DEPTH"
    assert "3 levels deep" in body["errors"][0]["message"]
    assert db.calls == []
    inside = _graphql(client, settings, '{ user(userId: "u") { truncated: __typename } }')
    assert _limit(inside) is None


def test_depth_counts_through_fragments_and_inline_fragments():
    client, settings, db, _ = make_api(rate_limit_requests=100, graphql_max_depth=2)
    spread = """
        { user(userId: "u") { ...Recent } }
        fragment Recent on UserDetail { sessions { ... on SessionList { items { sessionId } } } }
    """
    assert _limit(_graphql(client, settings, spread)) == "GRAPHQL_MAX_DEPTH"
    assert db.calls == []


def test_introspection_depth_is_not_counted():
    client, settings, *_ = make_api(graphql_playground=True, graphql_max_depth=2)
    deep = "{ __schema { types { fields { type { ofType { name } } } } } }"
    body = _graphql(client, settings, deep)
    assert "errors" not in body, body


def test_aliases_over_the_limit_are_refused():
    client, settings, *_ = make_api(rate_limit_requests=100)
    limit = settings.graphql_max_aliases

    def document(count: int) -> str:
        return "{ models { " + " ".join(f"a{i}: model" for i in range(count)) + " } }"

    assert _graphql(client, settings, document(limit)) == {"data": {"models": []}}
    body = _graphql(client, settings, document(limit + 1))
    assert _limit(body) == "GRAPHQL_MAX_ALIASES"
    assert f"{limit + 1} aliases" in body["errors"][0]["message"]


def test_ten_root_fields_of_statements_cost_more_than_one_request_may():
    client, settings, db, _ = make_api(rate_limit_requests=100)
    # One REST request's worth of database work per GraphQL request.
    many = "{ " + " ".join(f"s{i}: services" for i in range(10)) + " }"
    assert _limit(_graphql(client, settings, many)) == "GRAPHQL_MAX_COST"
    assert db.calls == []


TWO_PAGES = "{ traces(first: %s) { nextCursor } logs(first: %s) { nextCursor } }"


def _cost(document: str, variables: dict | None = None) -> int:
    return measure(parse(document), FIELD_COSTS, variables).cost


def test_a_page_costs_its_first_whether_literal_variable_or_default():
    base = _cost(TWO_PAGES % (1, 1)) - 2
    assert _cost(TWO_PAGES % (400, 300)) == base + 700
    by_variable = (
        "query($n: Int!) { traces(first: $n) { nextCursor } logs(first: $n) { nextCursor } }"
    )
    assert _cost(by_variable, {"n": 400}) == base + 800
    by_default = (
        "query($n: Int! = 300) { traces(first: $n) { nextCursor } logs(first: $n) { nextCursor } }"
    )
    assert _cost(by_default) == base + 600
    assert _cost(by_default, {"n": 5}) == base + 10  # the variable over its default
    # No `first`: the default page; out of range: counted at the bound (the field refuses it).
    assert _cost("{ traces { nextCursor } logs { nextCursor } }") == base + 2 * DEFAULT_PAGE_SIZE
    assert _cost(TWO_PAGES % (10**6, 0)) == base + MAX_PAGE_SIZE + 1


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        (TWO_PAGES % (500, 300), {}),
        ("query($n: Int!) { traces(first: $n) { nextCursor } logs(first: $n) { nextCursor } }",
         {"n": 400}),
        ("query($n: Int = 400) { traces(first: $n) { nextCursor } logs(first: $n) { nextCursor } }",
         {}),
    ],
)  # fmt: skip
def test_pages_over_the_cost_limit_are_refused_before_any_statement(document, variables):
    client, settings, db, _ = make_api(rate_limit_requests=100)
    assert _cost(document, variables) > settings.graphql_max_cost
    assert _limit(_graphql(client, settings, document, **variables)) == "GRAPHQL_MAX_COST"
    assert db.calls == []


def test_small_pages_of_the_same_document_run():
    client, settings, db, _ = make_api(rate_limit_requests=100)
    document = "query($n: Int!) { traces(first: $n) { nextCursor } logs(first: $n) { nextCursor } }"
    assert _cost(document, {"n": 10}) <= settings.graphql_max_cost
    body = _graphql(client, settings, document, n=10)
    assert "errors" not in body, body
    assert db.calls


# --- while it runs -------------------------------------------------------------------------


def test_the_statement_budget_refuses_the_statement_past_it():
    database = FakeDatabase()
    budget = StatementBudget(database, 3)
    asyncio.run(budget.fetch_all("SELECT 1"))
    asyncio.run(budget.fetch_many([("SELECT 2", None), ("SELECT 3", None)]))
    with pytest.raises(GraphQLError) as refused:
        asyncio.run(budget.fetch_all("SELECT 4"))
    assert refused.value.extensions == {"code": "LIMIT_EXCEEDED", "limit": "GRAPHQL_MAX_COST"}
    with pytest.raises(GraphQLError):
        asyncio.run(budget.fetch_many([("SELECT 5", None)]))
    assert [query for query, _ in database.calls] == ["SELECT 1", "SELECT 2", "SELECT 3"]


def test_a_field_that_needs_more_statements_than_its_request_may_run_stops(monkeypatch):
    # A user's answer runs several statements; declared as one, the document passes
    # the cost check and the budget stops it while it runs.
    monkeypatch.setitem(FIELD_COSTS, "user", FieldCost(statements=1))
    client, settings, db, _ = make_api(rate_limit_requests=100, graphql_max_cost=2 * STATEMENT_COST)
    db.rows = [{**SESSION_ROW, "user_id": "u"}]
    body = _graphql(client, settings, '{ user(userId: "u") { user { userId } } }')
    assert _limit(body) == "GRAPHQL_MAX_COST", body
    assert body["errors"][0]["path"] == ["user"]
    assert len(db.calls) == settings.graphql_max_cost // STATEMENT_COST


# --- introspection ------------------------------------------------------------------------

INTROSPECTION = "{ __schema { queryType { name } } }"


def test_introspection_is_off_without_the_playground():
    client, settings, *_ = make_api(graphql_playground=False)
    body = _graphql(client, settings, INTROSPECTION)
    assert body.get("data") is None
    assert "introspection" in json.dumps(body["errors"]).lower()


def test_introspection_is_on_with_the_playground():
    client, settings, *_ = make_api(graphql_playground=True)
    assert _graphql(client, settings, INTROSPECTION) == {
        "data": {"__schema": {"queryType": {"name": "Query"}}}
    }
