"""/graphql as OpenAPI describes it: what the HTTP requests and answers look like.

strawberry's routes say nothing of the request and only "200" of the answers; these
are what the endpoint really does, so clients (and the fuzzing against the OpenAPI
schema, tests/smoke/test_api_fuzz.py) can rely on them. The documents themselves are
described by the GraphQL schema (introspection, with GRAPHQL_PLAYGROUND on).
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from fastapi.routing import APIRoute
from strawberry.fastapi import GraphQLRouter

from llm_observatory.core.settings import ApiSettings

_JSON_ERROR = {"application/json": {"schema": {"type": "object"}}}
_TEXT = {"text/plain": {"schema": {"type": "string"}}}
# {"data": ..., "errors": [...]}: 200 also when the document is refused or a field failed.
_RESULT = {
    "type": "object",
    "properties": {
        "data": {"anyOf": [{"type": "object"}, {"type": "null"}]},
        "errors": {"type": "array", "items": {"type": "object"}},
        "extensions": {"type": "object"},
    },
}


def _responses(settings: ApiSettings, method: str) -> dict[int | str, dict[str, Any]]:
    ok: dict[str, Any] = {"application/json": {"schema": _RESULT}}
    if method == "GET" and settings.graphql_playground:
        ok["text/html"] = {"schema": {"type": "string"}}
    limit = f"larger than GRAPHQL_MAX_BODY_BYTES ({settings.graphql_max_body_bytes} bytes)"
    responses: dict[int | str, dict[str, Any]] = {
        200: {
            "description": "The result: `data`, and `errors` for a refused document or a "
            "failed field"
            + (" (or the GraphiQL page, for a browser)" if "text/html" in ok else ""),
            "content": ok,
        },
        400: {
            "description": "No query, a body that is not a GraphQL request, or a "
            "malformed HTTP request",
            "content": {**_TEXT, **_JSON_ERROR},
        },
        401: {"description": "Missing or invalid token", "content": _JSON_ERROR},
        404: {"description": "GraphiQL asked for with the playground off", "content": _TEXT},
        405: {"description": "A mutation over GET", "content": _TEXT},
        429: {"description": "Rate limit exceeded; see Retry-After", "content": _JSON_ERROR},
    }
    if method == "GET":
        responses[414] = {"description": f"A query string {limit}", "content": _JSON_ERROR}
    else:
        responses[413] = {"description": f"A body {limit}", "content": _JSON_ERROR}
        responses[415] = {"description": "A body that is not JSON", "content": _TEXT}
    return responses


def _request_body(settings: ApiSettings) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["query"],
                    "properties": {
                        "query": {"type": "string", "minLength": 1},
                        "variables": {"anyOf": [{"type": "object"}, {"type": "null"}]},
                        "operationName": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                        "extensions": {"anyOf": [{"type": "object"}, {"type": "null"}]},
                    },
                }
            }
        },
    }


def _get_parameters(settings: ApiSettings) -> list[dict[str, Any]]:
    return [
        {
            "name": "query",
            "in": "query",
            # Without one, a GET is the GraphiQL page (with the playground on).
            "required": not settings.graphql_playground,
            "schema": {"type": "string", "minLength": 1},
        },
        {
            "name": "variables",
            "in": "query",
            "required": False,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        {"name": "operationName", "in": "query", "required": False, "schema": {"type": "string"}},
    ]


_METHODS = ("GET", "POST")


async def _method_not_allowed() -> None:
    raise HTTPException(405, headers={"Allow": ", ".join(_METHODS)})


def describe_routes(router: GraphQLRouter, settings: ApiSettings) -> None:
    """Give the router's routes their real requests and answers (before it is included)."""
    # GET and POST are two routes, and a 405 would list the first one's method only.
    path = next(r.path for r in router.routes if isinstance(r, APIRoute))
    router.add_api_route(
        path,
        _method_not_allowed,
        methods=["PUT", "PATCH", "DELETE", "OPTIONS"],
        include_in_schema=False,
    )
    for route in router.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        method = "POST" if "POST" in route.methods else "GET"
        route.responses = {**route.responses, **_responses(settings, method)}
        route.summary = "GraphQL query over " + method
        if method == "POST":
            route.openapi_extra = {"requestBody": _request_body(settings)}
        else:
            route.openapi_extra = {"parameters": _get_parameters(settings)}
