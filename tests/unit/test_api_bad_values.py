"""Every time, cursor and limit a client sends, REST and GraphQL: refused by name, never a 500.

REST answers 422 with a message starting "<parameter>: "; GraphQL an error whose
extensions are {"code": "BAD_USER_INPUT", "argument": <name as written>}. Nothing
reaches the (fake) database.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime

import pytest

from llm_observatory.api.auth import ADMIN_SCOPE, mint_token
from llm_observatory.api.params import Cursor
from llm_observatory.api.values import WHITESPACE
from tests.unit.test_api_app import bearer, make_api


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


BY_TIME = Cursor(datetime(2025, 1, 1, tzinfo=UTC), "t").encode("traces:time:desc")
KINDS = {"traces": "traces:time:desc", "sessions": "sessions", "users": "users", "logs": "logs"}


def _cursor_of(kind: str) -> str:
    return Cursor(datetime(2025, 1, 1, tzinfo=UTC), "(1,2)").encode(KINDS[kind])


OTHER_LISTS = [(mine, other) for mine in KINDS for other in KINDS if other != mine]
NESTED = _b64(b"[" * 5000 + b"]" * 5000)  # json's recursion limit
SURROGATE_ID = _b64(b'["traces:time:desc","2025-01-01T00:00:00+00:00","a\\ud800"]')
NUL_ID = _b64(b'["traces:time:desc","2025-01-01T00:00:00+00:00","a\\u0000"]')
YEAR_ZERO_KEY = _b64(b'["traces:time:desc","0001-01-01T00:00:00+00:01","t"]')

# value -> what makes it bad
BAD_TIMES = {
    "1700000000": "a unix timestamp",
    "1700000000.5": "a unix timestamp with a fraction",
    "yesterday": "words",
    "2025-13-01T00:00:00Z": "month 13",
    "0001-01-01T00:00:00+00:01": "year 0 once in UTC",
    "9999-12-31T23:59:59-01:00": "year 10000 once in UTC",
    "2025-01-01T00:00:00\x00": "NUL",
    "2025-01-01T25:00:00Z": "hour 25",
}
BAD_CURSORS = {
    "x" * 2049: "longer than MAX_CURSOR_LENGTH",
    "!!": "not base64",
    NESTED: "nested deeper than json parses",
    SURROGATE_ID: "a lone surrogate in its id",
    NUL_ID: "NUL in its id",
    YEAR_ZERO_KEY: "its time is in year 0",
}
BAD_LIMITS = ["0", "-1", "501", "ten", "1e3", "9" * 30]


def _rest_refuses(client, settings, path: str, params: dict, name: str) -> None:
    response = client.get(path, headers=bearer(settings), params=params)
    assert response.status_code == 422, (params, response.text)
    assert response.json()["message"].startswith(f"{name}: "), response.json()


@pytest.fixture
def api():
    client, settings, db, _ = make_api(rate_limit_requests=10_000)
    yield client, settings
    assert db.calls == []  # every value was refused before any statement


LISTS = ["/api/v1/traces", "/api/v1/sessions", "/api/v1/users", "/api/v1/logs"]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("name", ["from", "to"])
@pytest.mark.parametrize("value", BAD_TIMES)
def test_rest_list_times(api, path, name, value):
    _rest_refuses(*api, path, {name: value}, name)


@pytest.mark.parametrize("name", ["from", "to"])
@pytest.mark.parametrize("value", BAD_TIMES)
def test_rest_usage_times(api, name, value):
    _rest_refuses(*api, "/api/v1/usage", {name: value}, name)


def test_rest_usage_default_window_cannot_start_before_year_1(api):
    _rest_refuses(*api, "/api/v1/usage", {"to": "0001-01-01T00:00:00Z"}, "to")
    _rest_refuses(*api, "/api/v1/usage", {"to": "0001-01-01T23:59:59Z"}, "to")


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("value", BAD_CURSORS)
def test_rest_cursors(api, path, value):
    _rest_refuses(*api, path, {"cursor": value}, "cursor")


@pytest.mark.parametrize(("mine", "other"), OTHER_LISTS)
def test_rest_a_cursor_of_another_list_is_refused(api, mine, other):
    _rest_refuses(*api, f"/api/v1/{mine}", {"cursor": _cursor_of(other)}, "cursor")


def test_rest_a_cursor_of_another_sort_is_refused(api):
    _rest_refuses(*api, "/api/v1/traces", {"cursor": BY_TIME, "sort": "cost"}, "cursor")
    _rest_refuses(*api, "/api/v1/traces", {"cursor": BY_TIME, "order": "asc"}, "cursor")


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("value", BAD_LIMITS)
def test_rest_limits(api, path, value):
    _rest_refuses(*api, path, {"limit": value}, "limit")


@pytest.mark.parametrize(
    "path", [f"/api/v1/{kind}/a%00b" for kind in ("traces", "sessions", "users")]
)
def test_rest_ids_with_nul(api, path):
    client, settings = api
    response = client.get(path, headers=bearer(settings))
    assert response.status_code == 422, response.text


def test_rest_times_naive_and_aware_are_the_same_instant():
    client, settings, db, _ = make_api(rate_limit_requests=100)
    for value in ("2025-01-01T01:00:00+01:00", "2025-01-01T00:00:00", "2025-01-01 00:00:00Z"):
        response = client.get("/api/v1/logs", headers=bearer(settings), params={"from": value})
        assert response.status_code == 200, response.text
    assert len({str(params) for _, params in db.calls}) == 1
    # Year 1 and year 9999, in range once in UTC, are accepted.
    edges = {"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z"}
    assert client.get("/api/v1/logs", headers=bearer(settings), params=edges).status_code == 200


# --- GraphQL ----------------------------------------------------------------------------


def _graphql_refuses(client, settings, query: str, argument: str, variables=None) -> None:
    # The body as JSON text of our own: lone surrogates travel as \\ud800 escapes.
    body = json.dumps({"query": query, "variables": variables or {}})
    headers = {**bearer(settings), "content-type": "application/json"}
    response = client.post("/graphql", headers=headers, content=body)
    assert response.status_code == 200, response.text
    errors = response.json()["errors"]
    named = [e for e in errors if e.get("extensions", {}).get("argument") == argument]
    assert named, errors
    assert named[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert named[0]["message"].startswith(f"{argument}: ")


PAGES = ["traces", "sessions", "users", "logs"]


@pytest.mark.parametrize("field", PAGES)
@pytest.mark.parametrize("name", ["from", "to"])
@pytest.mark.parametrize("value", [v for v in BAD_TIMES if "\x00" not in v])
def test_graphql_filter_times(api, field, name, value):
    query = f"{{ {field}(filter: {{{name}: {json.dumps(value)}}}) {{ nextCursor }} }}"
    _graphql_refuses(*api, query, f"filter.{name}")


@pytest.mark.parametrize("name", ["from", "to"])
@pytest.mark.parametrize("value", [v for v in BAD_TIMES if "\x00" not in v])
def test_graphql_usage_times(api, name, value):
    _graphql_refuses(*api, f"{{ usage({name}: {json.dumps(value)}) {{ key }} }}", name)


def test_graphql_usage_default_window_cannot_start_before_year_1(api):
    _graphql_refuses(*api, '{ usage(to: "0001-01-01T00:00:00Z") { key } }', "to")


@pytest.mark.parametrize("field", PAGES)
@pytest.mark.parametrize("value", BAD_CURSORS)
def test_graphql_cursors(api, field, value):
    query = f"query($after: String) {{ {field}(after: $after) {{ nextCursor }} }}"
    _graphql_refuses(*api, query, "after", {"after": value})


@pytest.mark.parametrize(("mine", "other"), OTHER_LISTS)
def test_graphql_a_cursor_of_another_list_is_refused(api, mine, other):
    query = f"query($c: String) {{ {mine}(after: $c) {{ nextCursor }} }}"
    _graphql_refuses(*api, query, "after", {"c": _cursor_of(other)})


def test_graphql_a_cursor_of_another_sort_is_refused(api):
    query = 'query($c: String) { traces(sort: "cost", after: $c) { nextCursor } }'
    _graphql_refuses(*api, query, "after", {"c": BY_TIME})


@pytest.mark.parametrize("field", PAGES)
@pytest.mark.parametrize("value", ["0", "-1", "501", '"ten"', "1e3", "9" * 30])
def test_graphql_first(api, field, value):
    _graphql_refuses(*api, f"{{ {field}(first: {value}) {{ nextCursor }} }}", "first")


@pytest.mark.parametrize(
    ("field", "argument"), [("trace", "traceId"), ("session", "sessionId"), ("user", "userId")]
)
@pytest.mark.parametrize("value", ["a\x00b", "a\ud800b", "x" * 257, ""])
def test_graphql_ids(api, field, argument, value):
    query = f"query($v: String!) {{ {field}({argument}: $v) {{ __typename }} }}"
    _graphql_refuses(*api, query, argument, {"v": value})


@pytest.mark.parametrize("value", ["a\x00b", "a\udfffb"])
def test_graphql_filter_text(api, value):
    query = "query($v: String) { traces(filter: {service: $v}) { nextCursor } }"
    _graphql_refuses(*api, query, "filter.service", {"v": value})


def test_a_blank_deletion_value_is_refused_and_the_schema_says_so(api):
    # A deletion of "trace = a blank" selects nothing definite: refused. The schema's
    # pattern (read by clients and fuzzers) must call exactly those values invalid,
    # whatever their regex dialect makes of \s.
    client, settings = api
    admin = {"Authorization": f"Bearer {mint_token('admin', 60, settings, scope=ADMIN_SCOPE)}"}
    operation = client.get("/openapi.json").json()["paths"]["/api/v1/data"]["delete"]
    (trace,) = [p for p in operation["parameters"] if p["name"] == "trace"]
    pattern = re.compile(trace["schema"]["pattern"])
    for space in WHITESPACE:
        blank = space * 2
        assert pattern.fullmatch(blank) is None, repr(blank)
        assert pattern.fullmatch(f"{space}t{space}"), repr(space)
        response = client.delete(
            "/api/v1/data", headers=admin, params={"trace": blank, "dry_run": "true"}
        )
        assert response.status_code == 422, (repr(blank), response.text)
