"""The LLM alerts reach their own Alertmanager receiver, the pipeline's the default one
(amtool from the stand-in image); the budget alerts read what maintenance exports."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support import monitoring_config as config

ALERTMANAGER_IMAGE = os.environ.get("ALERTMANAGER_IMAGE", "prom/alertmanager:v0.28.1")
LLM_RULES = [rule for rule in config.rules() if rule["file"] == "llm_alerts.yml"]


def test_every_llm_alert_carries_the_llm_category_and_no_other_alert_does():
    assert {rule["alert"] for rule in LLM_RULES} == {
        "LLMOBudgetNearLimit",
        "LLMOBudgetExceeded",
        "LLMOSpendSpike",
        "LLMOProviderErrorRate",
        "LLMOModelLatencyHigh",
    }
    for rule in config.rules():
        in_llm_file = rule["file"] == "llm_alerts.yml"
        assert (rule["labels"].get("category") == "llm") == in_llm_file, rule["alert"]


def test_budget_alerts_read_the_maintenance_gauges():
    from llm_observatory.storage import budgets

    exported = {budgets.SPEND._name, budgets.LIMIT._name}
    for rule in LLM_RULES:
        if rule["alert"].startswith("LLMOBudget"):
            assert config.promql_metric_names(rule["expr"]) == exported


def route(*labels: str) -> str:
    result = subprocess.run(
        [
            "docker", "run", "--rm", "--network", "none", "--entrypoint", "amtool",
            "-v", f"{config.PROMETHEUS}:/etc/prometheus:ro", ALERTMANAGER_IMAGE,
            "config", "routes", "test", "--config.file=/etc/prometheus/alertmanager.yml", *labels,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def alertmanager_image(docker):
    probe = subprocess.run(["docker", "image", "inspect", ALERTMANAGER_IMAGE], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"{ALERTMANAGER_IMAGE} not present (bash .ci/airgap-images.sh builds it)")


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (("alertname=LLMOBudgetExceeded", "category=llm", "severity=critical"), "llm"),
        (("alertname=LLMOSpendSpike", "category=llm", "severity=warning"), "llm"),
        (("alertname=LLMOTargetDown", "severity=critical", "job=api"), "null"),
        (("alertname=LLMOCollectorQueueNearFull", "severity=warning"), "null"),
    ],
)
def test_alertmanager_routes_llm_alerts_apart(alertmanager_image, labels, receiver):
    assert route(*labels) == receiver
