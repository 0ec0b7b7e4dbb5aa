"""ENABLE_TEXT_SEARCH=false: every front end refuses a search, naming it, and runs no SQL.

Without its index a search would read every stored message (maintenance drops the
indexes, storage/search_indexes.py); the other filters keep working.
"""

from __future__ import annotations

import pytest

from llm_observatory.api.queries.common import LOG_SEARCH_VECTOR, MESSAGE_SEARCH_VECTOR, expression
from llm_observatory.storage.search_indexes import SEARCH_INDEXES
from tests.unit.test_api_app import bearer, make_api
from tests.unit.test_ui_pages import make_ui, sign_in

OFF = "text search is off on this stack (ENABLE_TEXT_SEARCH=false)"


@pytest.mark.parametrize("path", ["/api/v1/traces", "/api/v1/logs"])
def test_rest_refuses_a_search_with_a_422_naming_q(path):
    client, settings, db, _ = make_api(enable_text_search=False)
    response = client.get(path, params={"q": "refund"}, headers=bearer(settings))
    assert response.status_code == 422
    assert response.json()["message"] == f"q: {OFF}"
    assert db.calls == []
    # The same list without a search is answered.
    assert client.get(path, headers=bearer(settings)).status_code == 200
    assert db.calls


@pytest.mark.parametrize("enabled", [True, False])
def test_rest_search_runs_only_when_enabled(enabled):
    client, settings, db, _ = make_api(enable_text_search=enabled, rate_limit_requests=100)
    response = client.get("/api/v1/traces", params={"q": "refund"}, headers=bearer(settings))
    assert response.status_code == (200 if enabled else 422)
    assert bool(db.calls) is enabled


@pytest.mark.parametrize("field", ["traces", "logs"])
def test_graphql_refuses_a_search_naming_filter_q(field):
    client, settings, db, _ = make_api(enable_text_search=False)
    query = "{ " + field + '(filter: {q: "refund"}) { nextCursor } }'
    body = client.post("/graphql", headers=bearer(settings), json={"query": query}).json()
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "filter.q"}
    assert error["message"] == f"filter.q: {OFF}"
    assert db.calls == []


def test_the_ui_answers_a_search_with_a_422_page():
    client, *_ = make_ui(enable_text_search=False)
    assert sign_in(client).status_code == 303
    page = client.get("/traces", params={"q": "refund"})
    assert page.status_code == 422
    assert "ENABLE_TEXT_SEARCH=false" in page.text
    assert client.get("/traces").status_code == 200


def test_the_indexes_are_those_the_api_searches_with():
    (spans, spans_rows), (logs, _) = SEARCH_INDEXES.values()
    # The API's expressions with their table alias dropped are the indexed ones.
    assert expression(MESSAGE_SEARCH_VECTOR, "x").replace("x.", "") in spans
    assert expression(LOG_SEARCH_VECTOR, "l").replace("l.", "") in logs
    assert spans_rows == "WHERE is_llm"
