"""Prometheus and Alertmanager configuration, checked by their own tools (promtool,
amtool from the stand-in images) and against the conventions the rules keep."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support import monitoring_config as config

ROOT = config.ROOT
PROMETHEUS_IMAGE = os.environ.get("PROMETHEUS_IMAGE", "prom/prometheus:v2.53.3")
ALERTMANAGER_IMAGE = os.environ.get("ALERTMANAGER_IMAGE", "prom/alertmanager:v0.28.1")


def tool(image: str, entrypoint: str, *args: str) -> subprocess.CompletedProcess:
    """Run promtool/amtool with docker/prometheus mounted where compose mounts it."""
    return subprocess.run(
        [
            "docker", "run", "--rm", "--network", "none", "--entrypoint", entrypoint,
            "-v", f"{config.PROMETHEUS}:/etc/prometheus:ro",
            image, *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="module")
def images(docker):
    for image in (PROMETHEUS_IMAGE, ALERTMANAGER_IMAGE):
        probe = subprocess.run(["docker", "image", "inspect", image], capture_output=True)
        if probe.returncode != 0:
            pytest.skip(f"{image} not present (bash .ci/airgap-images.sh builds a stand-in)")


@pytest.mark.parametrize("name", ["prometheus.yml", "prometheus.test.yml"])
def test_promtool_check_config(images, name):
    # check config also checks every rule file the configuration loads.
    result = tool(PROMETHEUS_IMAGE, "promtool", "check", "config", f"/etc/prometheus/{name}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(config.RULE_FILES)} rule files found" in result.stdout


def test_promtool_check_rules(images):
    paths = [f"/etc/prometheus/alerts/{path.name}" for path in config.RULE_FILES]
    result = tool(PROMETHEUS_IMAGE, "promtool", "check", "rules", *paths)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules(images):
    paths = [f"/etc/prometheus/tests/{path.name}" for path in config.RULE_TESTS]
    assert paths, "no rule unit tests in docker/prometheus/tests"
    result = tool(PROMETHEUS_IMAGE, "promtool", "test", "rules", *paths)
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_check_config(images):
    result = tool(ALERTMANAGER_IMAGE, "amtool", "check-config", "/etc/prometheus/alertmanager.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test():
    tested = set()
    for path in config.RULE_TESTS:
        for case in config.load_yaml(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                if check.get("exp_alerts"):
                    tested.add(check["alertname"])
    untested = sorted({rule["alert"] for rule in config.rules()} - tested)
    assert not untested, f"alerts no promtool test sees firing: {untested}"


def test_every_rule_file_is_loaded_by_its_tests():
    loaded = set()
    for path in config.RULE_TESTS:
        loaded |= {Path(name).name for name in config.load_yaml(path)["rule_files"]}
    assert loaded == {path.name for path in config.RULE_FILES}


def test_the_plan_names_storage_layer_alerts():
    assert "storage_layer_alerts.yml" in {path.name for path in config.RULE_FILES}


@pytest.mark.parametrize("rule", config.rules(), ids=lambda rule: rule["alert"])
def test_alerts_have_severity_summary_and_a_wait(rule):
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    # Without `for:` one bad scrape pages someone.
    assert rule.get("for"), f"{rule['alert']} fires on a single evaluation"


def test_test_config_differs_from_the_shipped_one_only_in_intervals():
    shipped = config.load_yaml(config.PROMETHEUS / "prometheus.yml")
    test = config.load_yaml(config.PROMETHEUS / "prometheus.test.yml")
    for key in ("scrape_interval", "scrape_timeout", "evaluation_interval"):
        shipped["global"].pop(key)
        test["global"].pop(key)
    assert test == shipped


def test_prometheus_scrapes_each_service_and_alertmanager():
    shipped = config.load_yaml(config.PROMETHEUS / "prometheus.yml")
    targets = {
        job["job_name"]: [t for c in job["static_configs"] for t in c["targets"]]
        for job in shipped["scrape_configs"]
    }
    assert targets == {
        "prometheus": ["localhost:9090"],
        "alertmanager": ["alertmanager:9093"],
        "collector": ["collector:9090"],
        "storage": ["storage:9090"],
        "api": ["api:9090"],
        "maintenance": ["maintenance:9090"],
    }
    assert shipped["rule_files"] == ["/etc/prometheus/alerts/*.yml"]
    managers = shipped["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert managers == ["alertmanager:9093"]


def test_alertmanager_sends_nowhere_by_default():
    # A webhook to an address nobody listens on fails every notification; the
    # shipped receiver keeps alerts in Alertmanager until someone configures one.
    am = config.load_yaml(config.PROMETHEUS / "alertmanager.yml")
    receivers = {r["name"]: r for r in am["receivers"]}
    assert am["route"]["receiver"] in receivers
    default = receivers[am["route"]["receiver"]]
    assert set(default) == {"name"}, f"the default receiver sends somewhere: {default}"
    assert am["route"]["group_by"] and am["inhibit_rules"]


def test_promql_metric_name_extraction():
    # The smoke tests trust this to find every metric an expression names.
    expr = (
        'sum by (le) (rate(llmo_a_bucket{job="x", le=~"1|2"}[$__rate_interval])) '
        "/ ignoring (table) group_left llmo_b > 1e-9 and on(job) up offset 5m"
    )
    assert config.promql_metric_names(expr) == {"llmo_a_bucket", "llmo_b", "up"}


def test_exported_metric_names_expand_families():
    page = (
        "# TYPE llmo_x_total counter\nllmo_x_total 1\n"
        "# TYPE llmo_h histogram\n# TYPE llmo_g gauge\n"
    )
    assert config.exported_metric_names(page) == {
        "llmo_x_total",
        "llmo_h",
        "llmo_h_bucket",
        "llmo_h_count",
        "llmo_h_sum",
        "llmo_g",
    }
