"""The monitoring configuration as data: Grafana provisioning and dashboards, Prometheus
rules, and the PromQL/SQL queries in them. Shared by the lint and smoke tests."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.support import ROOT

GRAFANA = ROOT / "docker" / "grafana"
PROVISIONING = GRAFANA / "provisioning"
DASHBOARDS = GRAFANA / "dashboards"
PROMETHEUS = ROOT / "docker" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "alerts").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))

# Grafana's stand-ins for the step of a range: any valid duration checks the syntax.
PROMQL_GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}
# Series Prometheus makes itself rather than scraping them.
PROMETHEUS_SYNTHETIC = {"up", "ALERTS", "ALERTS_FOR_STATE"}


@cache
def datasources() -> dict[str, dict]:
    """Provisioned data sources by uid."""
    found: dict[str, dict] = {}
    for path in sorted((PROVISIONING / "datasources").glob("*.y*ml")):
        for source in yaml.safe_load(path.read_text()).get("datasources", []):
            found[source["uid"]] = source
    return found


@cache
def dashboards() -> dict[str, dict]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def panels(board: dict) -> Iterator[dict]:
    """Every panel, rows' nested panels included."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


@dataclass(frozen=True)
class Query:
    dashboard: str
    where: str  # panel title or variable name
    datasource: dict
    target: dict

    @property
    def uid(self) -> str:
        return (self.target.get("datasource") or self.datasource or {}).get("uid", "")

    def __str__(self) -> str:
        return f"{self.dashboard}: {self.where}"


def queries() -> list[Query]:
    """Every panel target and every query variable of every dashboard."""
    found = []
    for name, board in dashboards().items():
        for panel in panels(board):
            for target in panel.get("targets", []):
                found.append(Query(name, panel["title"], panel.get("datasource") or {}, target))
        for variable in board.get("templating", {}).get("list", []):
            if variable.get("type") == "query":
                query = variable["query"]
                target = {"rawSql": query} if isinstance(query, str) else dict(query)
                target["format"] = "table"
                found.append(Query(name, f"${variable['name']}", variable["datasource"], target))
    return found


def sql_queries() -> list[Query]:
    return [q for q in queries() if q.uid == "timescaledb"]


def dashboard_promql() -> list[tuple[str, str]]:
    return [(str(q), q.target["expr"]) for q in queries() if q.uid == "prometheus"]


@cache
def rules() -> list[dict]:
    found = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                found.append({**rule, "file": path.name, "group": group["name"]})
    return found


def rule_promql() -> list[tuple[str, str]]:
    return [
        (f"{rule['file']}: {rule.get('alert') or rule.get('record')}", rule["expr"])
        for rule in rules()
    ]


def all_promql() -> list[tuple[str, str]]:
    return dashboard_promql() + rule_promql()


def promql_for_prometheus(expr: str) -> str:
    for variable, value in PROMQL_GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


_PROMQL_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "and", "or", "unless", "inf", "nan",
}  # fmt: skip


def promql_metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (functions, keywords, labels, numbers left out)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery selectors
    text = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text
    )  # label lists
    names = set()
    for match in re.finditer(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        word, is_call = match.group(1), match.group(2)
        if is_call or word.lower() in _PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names


def exported_metric_names(exposition: str) -> set[str]:
    """Series names a /metrics page yields, from its TYPE lines and samples."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
            elif kind == "summary":
                names |= {f"{name}_count", f"{name}_sum"}
            elif kind == "counter" and not name.endswith("_total"):
                names.add(f"{name}_total")
        elif line and not line.startswith("#"):
            match = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line)
            if match:
                names.add(match.group(0))
    return names


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())
