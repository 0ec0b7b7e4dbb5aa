"""/docs (Swagger UI) and the GraphiQL page at /graphql, from files the stack serves.

FastAPI's and strawberry's defaults load both from public CDNs, so without internet
they stay blank. These pages load the same tools from /ui/vendor (npm, at build time).
Swagger UI's spec validator (an online service) is switched off.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from strawberry.fastapi import GraphQLRouter

from llm_observatory.api.ui import vendor
from llm_observatory.api.ui.render import ENVIRONMENT, static


def add_offline_docs(app: FastAPI, path: str = "/docs") -> None:
    """Swagger UI at `path` (create the app with docs_url=None)."""

    @app.get(path, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=vendor.url("swagger-ui-dist/swagger-ui-bundle.js"),
            swagger_css_url=vendor.url("swagger-ui-dist/swagger-ui.css"),
            swagger_favicon_url=vendor.url("swagger-ui-dist/favicon-32x32.png"),
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        )


def graphiql_html() -> str:
    return ENVIRONMENT.get_template("graphiql.html").render(
        vendor=vendor.url, static=static, title="LLM Observatory GraphQL"
    )


class OfflineGraphQLRouter(GraphQLRouter):
    """strawberry's router with its GraphiQL page served from local files."""

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(graphiql_html())
