"""Grafana and Jaeger, tested without running them (no image on air-gapped machines):
provisioning parses, dashboards reference provisioned data sources by uid, and the
compose services are wired the way the provisioning expects."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.support import monitoring_config as config
from tests.support.compose_files import raw, resolved

ROOT = config.ROOT
BASE = ("docker-compose.yml",)
TEST = ("docker-compose.yml", "docker-compose.test-stack.yml")
PROVISIONED_UIDS = {"timescaledb", "prometheus", "jaeger"}
PROVISIONING_FILES = sorted(config.PROVISIONING.rglob("*.y*ml"))
DASHBOARD_FILES = sorted(config.DASHBOARDS.glob("*.json"))


@pytest.mark.parametrize("path", PROVISIONING_FILES, ids=lambda p: p.name)
def test_provisioning_files_parse(path):
    document = yaml.safe_load(path.read_text())
    assert document["apiVersion"] == 1
    assert document.get("datasources") or document.get("providers")


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboards_parse_and_have_unique_ids(path):
    board = json.loads(path.read_text())
    assert board["uid"] and board["title"]
    assert "__inputs" not in board, "an exported dashboard with inputs: provisioning has none"
    ids = [panel["id"] for panel in config.panels(board)]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {path.name}"
    for panel in config.panels(board):
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, f"{panel['title']} is wider than the grid"


def test_the_three_dashboards_exist_with_distinct_uids():
    boards = config.dashboards()
    assert {b["title"] for b in boards.values()} == {"LLM Overview", "Pipeline Health", "Database"}
    assert len({b["uid"] for b in boards.values()}) == len(boards)


def test_datasources_have_the_fixed_uids():
    sources = config.datasources()
    assert set(sources) == PROVISIONED_UIDS
    assert sources["prometheus"]["type"] == "prometheus"
    assert sources["prometheus"]["url"] == "http://prometheus:9090"
    assert sources["jaeger"]["type"] == "jaeger"
    assert sources["jaeger"]["url"] == "http://jaeger:16686"


def test_timescaledb_datasource_reads_as_the_readonly_role():
    source = config.datasources()["timescaledb"]
    # The PostgreSQL plugin's id in Grafana >= 10.3; "postgres" is only its alias.
    assert source["type"] == "grafana-postgresql-datasource"
    assert source["user"] == "${DB_READONLY_USER}"
    assert source["secureJsonData"]["password"] == "${DB_READONLY_PASSWORD}"
    assert source["jsonData"]["database"] == "${DB_NAME}"
    assert source["jsonData"]["timescaledb"] is True
    assert source["jsonData"]["postgresVersion"] >= 1500
    assert source["isDefault"] is True


def test_every_variable_the_provisioning_reads_is_set_on_grafana():
    environment = resolved(BASE)["services"]["grafana"]["environment"]
    lines = (config.PROVISIONING / "datasources" / "datasources.yml").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    used = set(re.findall(r"\$\{([A-Z0-9_]+)\}", text))
    assert used, "the data sources read no settings from the environment"
    assert used <= set(environment), f"not set on grafana: {sorted(used - set(environment))}"
    assert environment["DB_READONLY_USER"] == "llm_observatory_readonly"


def _references(node, path="") -> list[tuple[str, object]]:
    """Every `datasource` value anywhere in a dashboard, with where it is."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                found.append((f"{path}.{key}", value))
            found += _references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _references(value, f"{path}[{index}]")
    return found


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_every_datasource_reference_is_a_provisioned_uid(path):
    text = path.read_text()
    assert "${DS_" not in text, "exported-dashboard inputs do not resolve when provisioned"
    sources = config.datasources()
    references = _references(json.loads(text))
    assert references
    for where, reference in references:
        assert isinstance(reference, dict), f"{where}: {reference!r} is a name, not a uid"
        assert reference.get("uid") in sources, f"{where}: unknown uid {reference}"
        assert reference.get("type") == sources[reference["uid"]]["type"], where


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_every_panel_and_query_variable_names_a_datasource(path):
    board = json.loads(path.read_text())
    for panel in config.panels(board):
        if panel["type"] == "row":
            continue
        assert panel.get("datasource", {}).get("uid") in PROVISIONED_UIDS, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == panel["datasource"]["uid"], panel["title"]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] in PROVISIONED_UIDS, variable["name"]


def test_llm_overview_has_service_provider_model_variables_on_timescaledb():
    board = config.dashboards()["llm-overview.json"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    for name in ("service", "provider", "model"):
        variable = variables[name]
        assert variable["type"] == "query"
        assert variable["datasource"]["uid"] == "timescaledb"
        assert variable["multi"] and variable["includeAll"]
    # Panels filter by all three: a variable nothing uses filters nothing.
    for query in config.sql_queries():
        if query.dashboard == "llm-overview.json" and not query.where.startswith("$"):
            for name in ("service", "provider", "model"):
                assert f"IN (${name})" in query.target["rawSql"], f"{query} ignores ${name}"


def test_sql_targets_are_raw_sql_with_a_known_format():
    for query in config.sql_queries():
        assert query.target["rawSql"].strip(), str(query)
        assert query.target.get("format") in {"time_series", "table"}, str(query)


def test_dashboard_provider_reads_where_compose_mounts_the_dashboards():
    provider = yaml.safe_load((config.PROVISIONING / "dashboards" / "dashboards.yml").read_text())[
        "providers"
    ][0]
    grafana = raw(ROOT / "docker-compose.yml")["services"]["grafana"]
    mounts = dict(volume.rsplit(":", 2)[:2] for volume in grafana["volumes"] if ":ro" in volume)
    assert mounts["./docker/grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./docker/grafana/provisioning"] == "/etc/grafana/provisioning"


# ---------------------------------------------------------------------------
# Compose wiring of Grafana and Jaeger
# ---------------------------------------------------------------------------


def test_grafana_keeps_its_data_in_the_grafana_database():
    service = resolved(BASE)["services"]["grafana"]
    env = service["environment"]
    assert env["GF_DATABASE_TYPE"] == "postgres"
    assert env["GF_DATABASE_NAME"] == "grafana"
    assert env["GF_DATABASE_USER"] == "grafana"
    assert env["GF_SECURITY_ADMIN_USER"] == "admin"
    assert service["depends_on"]["timescaledb"]["condition"] == "service_healthy"
    assert {"frontend", "backend"} <= set(service["networks"])
    # The init script creates the role and database Grafana logs in with.
    init = (ROOT / "docker" / "init" / "01-init-timescaledb.sql").read_text()
    assert "GRAFANA_DB_USER" in init and "CREATE DATABASE grafana" in init


def test_jaeger_publishes_only_its_ui():
    service = resolved(BASE)["services"]["jaeger"]
    published = {int(port["target"]) for port in service.get("ports", [])}
    assert published == {16686}, "4317/4318 on the host belong to the collector"
    assert service["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"


def test_services_trace_to_jaeger_and_never_to_the_collector():
    services = resolved(BASE)["services"]
    for name in ("collector", "storage", "api"):
        endpoint = services[name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
        assert endpoint == "http://jaeger:4317", f"{name}: {endpoint}"


def test_test_stack_starts_neither_grafana_nor_jaeger_nor_needs_them():
    overlay = raw(ROOT / "docker-compose.test-stack.yml")["services"]
    for name in ("grafana", "jaeger", "jaeger-init"):
        assert overlay[name]["profiles"] == ["ui"], f"{name} would start in the test stack"
    services = resolved(TEST)["services"]
    for name, service in services.items():
        if name in {"grafana", "jaeger", "jaeger-init"}:
            continue
        assert not {"grafana", "jaeger"} & set(service.get("depends_on") or {}), name
    # The services that export their own spans (core/tracing.py) must not try to.
    for name in ("collector", "storage", "api"):
        endpoint = services[name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
        assert endpoint == "", f"{name} traces to a Jaeger the test stack does not run"


def test_prometheus_and_alertmanager_run_in_the_test_stack_only_by_profile_elsewhere():
    base = raw(ROOT / "docker-compose.yml")["services"]
    assert base["prometheus"]["profiles"] == ["monitoring"]
    assert base["alertmanager"]["profiles"] == ["monitoring"]
    overlay = raw(ROOT / "docker-compose.test-stack.yml")["services"]
    assert overlay["prometheus"]["profiles"] == []
    assert overlay["alertmanager"]["profiles"] == []


# ---------------------------------------------------------------------------
# Links into the web UI
# ---------------------------------------------------------------------------


def _ui_variable(board: dict) -> dict:
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert "ui_url" in variables, f"{board['title']} has no ui_url variable"
    return variables["ui_url"]


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_every_dashboard_links_to_the_ui(path):
    board = json.loads(path.read_text())
    variable = _ui_variable(board)
    assert variable["type"] == "textbox"
    # The default is where the stack publishes the API (and so the UI) by default.
    api = resolved(BASE)["services"]["api"]
    published = next(int(p["published"]) for p in api["ports"] if int(p["target"]) == 8080)
    assert variable["query"] == variable["current"]["value"] == f"http://localhost:{published}"
    links = [link for link in board["links"] if link.get("url", "").startswith("${ui_url}")]
    assert links and links[0]["type"] == "link", "no dashboard link to the UI"
    assert links[0]["url"] == "${ui_url}/traces"


def _trace_tables(board: dict) -> list[dict]:
    return [
        panel
        for panel in config.panels(board)
        if panel["type"] == "table"
        and any(
            re.search(r"\bSELECT\s+trace_id\b", t.get("rawSql", ""), re.I) for t in panel["targets"]
        )
    ]


def test_trace_ids_in_tables_open_the_uis_trace_page():
    from llm_observatory.api.ui.pages import router

    assert "/traces/{trace_id}" in {route.path for route in router.routes}
    tables = [panel for board in config.dashboards().values() for panel in _trace_tables(board)]
    assert tables, "no dashboard table lists trace ids"
    for panel in tables:
        overrides = panel["fieldConfig"]["overrides"]
        links = [
            prop["value"]
            for o in overrides
            if o["matcher"] == {"id": "byName", "options": "trace_id"}
            for prop in o["properties"]
            if prop["id"] == "links"
        ]
        assert links, f"{panel['title']}: trace_id has no data link"
        assert links[0][0]["url"] == "${ui_url}/traces/${__value.raw}", panel["title"]
