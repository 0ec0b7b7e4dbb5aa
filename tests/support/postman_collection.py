"""The API's Postman collection (docs/api) read as data, for its lint and smoke tests."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from tests.support.compose_stack import tasks

VARIABLE = re.compile(r"\{\{([A-Za-z0-9_]+)\}\}")


@dataclass(frozen=True)
class Request:
    name: str  # "Folder / Request", as newman names it in its report
    method: str
    path: str  # the OpenAPI template: /api/v1/traces/{trace_id}
    raw: str
    query: tuple[dict, ...]
    path_variables: tuple[dict, ...]
    body: dict | None
    tests: str
    prerequest: str
    auth: dict | None

    def parameter(self, key: str) -> dict | None:
        return next((item for item in self.query if item["key"] == key), None)


@cache
def collection() -> dict:
    return json.loads(tasks.API_COLLECTION.read_text())


@cache
def environment() -> dict[str, str]:
    document = json.loads(tasks.API_ENVIRONMENT.read_text())
    return {entry["key"]: entry["value"] for entry in document["values"]}


def script(item: dict, listen: str) -> str:
    return "\n".join(
        "\n".join(event["script"]["exec"])
        for event in item.get("event", [])
        if event["listen"] == listen
    )


def _template(parts: list[str]) -> str:
    return "/" + "/".join(f"{{{p[1:]}}}" if p.startswith(":") else p for p in parts)


def requests(items: list[dict] | None = None, folder: str = "") -> Iterator[Request]:
    for item in collection()["item"] if items is None else items:
        if "item" in item:
            yield from requests(item["item"], item["name"])
            continue
        request, url = item["request"], item["request"]["url"]
        yield Request(
            name=f"{folder} / {item['name']}" if folder else item["name"],
            method=request["method"],
            path=_template(url["path"]),
            raw=url["raw"],
            query=tuple(url.get("query", [])),
            path_variables=tuple(url.get("variable", [])),
            body=request.get("body"),
            tests=script(item, "test"),
            prerequest=script(item, "prerequest"),
            auth=request.get("auth"),
        )
