"""The API's Postman collection (docs/api) is complete and true to the API, without a stack.

The API is built in-process (`create_app`) for its OpenAPI document and GraphQL schema:
a route added to the API and not to the collection fails here, as does a request for
a route the API no longer has, a parameter listed without its description, a GraphQL
document the schema refuses, or a DELETE that is not a dry run.
"""

from __future__ import annotations

import json
import re
from functools import cache

import pytest
from graphql import OperationDefinitionNode, parse, validate
from graphql.execution.values import get_variable_values

from llm_observatory.api.app import create_app
from llm_observatory.api.graphql import make_schema
from llm_observatory.core.settings import DEVELOPMENT_SECRETS, ApiSettings, JwtSettings
from tests.support.compose_stack import tasks
from tests.support.postman_collection import VARIABLE, collection, environment, requests, script

# graphql-core's schema, which strawberry executes.
GRAPHQL = make_schema(ApiSettings(graphql_enabled=True))._schema


@cache
def openapi() -> dict:
    return create_app(ApiSettings(graphql_enabled=True)).openapi()


def operations() -> dict[tuple[str, str], dict]:
    return {
        (method.upper(), path): operation
        for path, methods in openapi()["paths"].items()
        for method, operation in methods.items()
    }


def test_every_route_of_the_api_has_a_request():
    requested = {(r.method, r.path) for r in requests()}
    missing = sorted(set(operations()) - requested)
    assert not missing, f"routes of /openapi.json without a request in the collection: {missing}"


def test_every_request_is_a_route_of_the_api():
    known = operations()
    unknown = [(r.name, r.method, r.path) for r in requests() if (r.method, r.path) not in known]
    assert not unknown, f"requests for routes the API does not have: {unknown}"


def test_each_url_says_the_same_in_raw_and_in_parts():
    # Clients differ in which they read: the raw URL must be its parts.
    for request in requests():
        path = re.sub(r"\{(\w+)\}", r":\1", request.path)
        enabled = [f"{q['key']}={q['value']}" for q in request.query if not q.get("disabled")]
        raw = "{{baseUrl}}" + path + ("?" + "&".join(enabled) if enabled else "")
        assert request.raw == raw, request.name


def _enum_values(schema_part: dict) -> list[str]:
    found = [str(value) for value in schema_part.get("enum", [])]
    for key in ("anyOf", "oneOf", "allOf"):
        for part in schema_part.get(key, []):
            found += _enum_values(part)
    return found


def test_each_parameter_is_listed_with_its_description():
    problems = []
    for request in requests():
        operation = operations().get((request.method, request.path))
        if operation is None:
            continue
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        for parameter in operation.get("parameters", []):
            where = f"{request.name}: {parameter['name']}"
            listed = (
                next((v for v in request.path_variables if v["key"] == parameter["name"]), None)
                if parameter["in"] == "path"
                else request.parameter(parameter["name"])
            )
            if listed is None:
                problems.append(f"{where} is not listed")
                continue
            text = listed.get("description") or ""
            if not text.strip():
                problems.append(f"{where} has no description")
            described = parameter.get("description")
            if described and described not in text:
                problems.append(f"{where}: lacks the API's description {described!r}")
            for value in _enum_values(parameter.get("schema", {})):
                if value not in text:
                    problems.append(f"{where}: description does not name the value {value!r}")
            if parameter.get("required") and listed.get("disabled"):
                problems.append(f"{where} is required but disabled")
        extra = {q["key"] for q in request.query} - declared
        if extra:
            problems.append(f"{request.name}: parameters the route does not take: {extra}")
    assert not problems, "\n".join(problems)


def test_each_request_tests_its_status_and_its_answer():
    for request in requests():
        assert re.search(r"pm\.response\.to\.have\.status\(\d{3}\)", request.tests), request.name
        # The status and at least one test of what the answer holds.
        assert len(re.findall(r"\bpm\.test\(", request.tests)) >= 2, request.name


def test_deletions_are_dry_runs():
    deletes = [r for r in requests() if r.method == "DELETE"]
    assert deletes, "the collection has no deletion request"
    for request in deletes:
        dry_run = request.parameter("dry_run")
        assert dry_run is not None and not dry_run.get("disabled"), request.name
        assert dry_run["value"] == "true", request.name
        assert "dry_run=true" in request.raw, request.name


def test_admin_routes_are_asked_with_the_admin_token():
    admin = {
        (method, path)
        for (method, path), operation in operations().items()
        if "403" in operation.get("responses", {})
    }
    assert admin, "no admin route found in /openapi.json (403 responses)"
    for request in requests():
        if (request.method, request.path) in admin and "403" not in request.name:
            bearer = {b["key"]: b["value"] for b in (request.auth or {}).get("bearer", [])}
            assert bearer.get("token") == "{{adminToken}}", request.name


def _graphql_documents() -> list[tuple[str, str, dict]]:
    found = []
    for request in requests():
        if request.body and request.body.get("mode") == "graphql":
            body = request.body["graphql"]
            found.append((request.name, body["query"], json.loads(body.get("variables") or "{}")))
        elif request.path == "/graphql" and request.method == "GET":
            query = request.parameter("query")
            assert query is not None, request.name
            found.append((request.name, query["value"], {}))
    return found


def test_graphql_documents_validate_against_the_schema():
    documents = _graphql_documents()
    assert documents
    for name, source, variables in documents:
        document = parse(source)
        # A bad argument's value is the API's to refuse: its document is still valid.
        assert not validate(GRAPHQL, document), (name, validate(GRAPHQL, document))
        operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        coerced = get_variable_values(GRAPHQL, operation.variable_definitions or [], variables)
        assert not isinstance(coerced, list), (name, coerced)  # a list: the errors


def test_every_graphql_query_is_asked():
    asked = set()
    for _, source, _ in _graphql_documents():
        for definition in parse(source).definitions:
            if isinstance(definition, OperationDefinitionNode):
                asked |= {s.name.value for s in definition.selection_set.selections}
    missing = sorted(set(GRAPHQL.query_type.fields) - asked)
    assert not missing, f"GraphQL queries the collection does not ask: {missing}"


def _set_by_scripts() -> set[str]:
    sources = [script(collection(), "prerequest"), script(collection(), "test")]
    sources += [r.prerequest for r in requests()] + [r.tests for r in requests()]
    return {
        name
        for source in sources
        for name in re.findall(r"pm\.(?:variables|collectionVariables)\.set\('(\w+)'", source)
    }


def test_every_variable_is_defined_somewhere():
    defined = set(environment()) | {v["key"] for v in collection()["variable"]}
    used = set(VARIABLE.findall(json.dumps(collection())))
    undefined = sorted(used - defined - _set_by_scripts())
    assert not undefined, f"variables neither in the environment nor set by a script: {undefined}"


def test_the_environment_signs_as_the_development_stack():
    values = environment()
    assert values["jwtSecret"] == DEVELOPMENT_SECRETS["JWT_SECRET"]
    assert values["jwtAlgorithm"] == JwtSettings.model_fields["jwt_algorithm"].default
    assert values["jwtAudience"] == JwtSettings.model_fields["jwt_audience"].default
    assert values["jwtIssuer"] == JwtSettings.model_fields["jwt_issuer"].default
    assert values["baseUrl"] == f"http://127.0.0.1:{tasks.PLAN_PORTS['API_PORT']}"
    # The token lifetime the script mints must be one the API accepts.
    assert 0 < int(values["tokenTtl"]) <= JwtSettings.model_fields["jwt_max_lifetime"].default


@pytest.mark.parametrize("key", ["apiToken", "adminApiToken"])
def test_no_token_is_committed(key):
    assert environment()[key] == ""
    assert all(v["value"] == "" for v in collection()["variable"]), "collection variables"


def test_collection_environment_takes_the_stacks_jwt_settings(monkeypatch):
    monkeypatch.setenv("JWT_SECRET", "s" * 40)
    monkeypatch.setenv("JWT_AUDIENCE", "")  # empty: compose's `:-` keeps the default
    monkeypatch.delenv("JWT_ISSUER", raising=False)
    values = {
        e["key"]: e["value"]
        for e in tasks.collection_environment("http://127.0.0.1:1", apiToken="t")["values"]
    }
    assert values["baseUrl"] == "http://127.0.0.1:1"
    assert values["jwtSecret"] == "s" * 40
    assert values["jwtAudience"] == environment()["jwtAudience"]
    assert values["apiToken"] == "t"
