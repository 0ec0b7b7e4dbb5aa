"""What the SDK's distribution may bring with it, for the unit and smoke tests of it."""

from __future__ import annotations

import tomllib

from tests.support import ROOT

# The server's dependencies (and the playground's): none may come with the SDK.
SERVER_ONLY = frozenset(
    {
        "alembic",
        "boto3",
        "botocore",
        "fastapi",
        "genai-prices",
        "google-re2",
        "httpx",
        "jinja2",
        "llm-observatory",
        "openai",
        "orjson",
        "prometheus-client",
        "psycopg",
        "psycopg-binary",
        "psycopg-pool",
        "pydantic",
        "pydantic-settings",
        "pyjwt",
        "pyyaml",
        "redis",
        "sqlalchemy",
        "starlette",
        "strawberry-graphql",
        "structlog",
        "uvicorn",
    }
)


def locked_packages() -> dict[str, dict]:
    return {p["name"]: p for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}


def locked_closure(name: str) -> set[str]:
    """Every package installing `name` installs, from uv.lock (markers ignored: a superset)."""
    packages = locked_packages()
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(dep["name"] for dep in packages[current].get("dependencies", ()))
    return seen - {name}
