"""The hosted-runner workflow (.github/workflows/ci.yml), which cannot run here.

actionlint checks it as GitHub would read it; the rest checks that it and .ci/run run
the README's test command, the way the README gives it, with coverage on through the
variable the test task reads.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.support.compose_files import ROOT
from tests.support.compose_stack import tasks

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
CI_RUN = ROOT / ".ci" / "run"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")


def readme_test_command() -> str:
    """The test command of the README's first code block (its line that runs the tests)."""
    block = re.search(r"```\w*\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "README.md has no code block"
    lines = [line.split(" #")[0].strip() for line in block.group(1).splitlines()]
    [command] = [line for line in lines if re.search(r"\binvoke test\b", line)]
    return command


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps() -> list[dict]:
    return [step for job in workflow()["jobs"].values() for step in job["steps"]]


def test_actionlint_accepts_the_workflow():
    actionlint = shutil.which("actionlint", path=os.path.dirname(sys.executable))
    actionlint = actionlint or shutil.which("actionlint")
    if actionlint is None:
        if os.environ.get("CI"):
            pytest.fail("actionlint missing: uv sync installs it (dev group)", pytrace=False)
        pytest.skip("no actionlint wheel for this platform")
    result = subprocess.run(
        [actionlint, "-no-color", str(WORKFLOW)], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflow_runs_the_readme_test_command():
    command = readme_test_command()
    runs = [line.strip() for step in steps() for line in step.get("run", "").splitlines()]
    assert command in runs, f"no step runs {command!r}: {runs}"


def test_ci_run_runs_the_readme_test_command():
    code = [line.strip() for line in CI_RUN.read_text().splitlines()]
    assert any(line.split(" || ")[0] == readme_test_command() for line in code)


def test_coverage_is_on_in_both_ci_paths():
    # The README's command writes the reports there through the variable the task reads.
    variable = tasks.COVERAGE_VARIABLE
    assert workflow()["jobs"]["test"]["env"][variable] == "1"
    assert re.search(rf"^export {variable}=\$\{{{variable}:-1\}}$", CI_RUN.read_text(), re.M)


def test_it_runs_on_push_and_pull_request_on_a_hosted_runner_with_upstream_images():
    flow = workflow()
    # PyYAML reads the bare key `on` as True.
    triggers = flow.get("on", flow.get(True))
    assert {"push", "pull_request"} <= set(triggers)
    [job] = flow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    text = WORKFLOW.read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "airgap" not in code, "stand-ins are for machines that cannot pull"
    assert "_IMAGE" not in code


def test_actions_are_pinned_to_commits():
    uses = [step["uses"] for step in steps() if "uses" in step]
    assert uses
    lines = [line.strip() for line in WORKFLOW.read_text().splitlines()]
    for action in uses:
        [line] = [line for line in lines if line.startswith(f"uses: {action}")]
        assert PINNED.match(line.removeprefix("uses: ")), f"not pinned to a SHA: {line}"


def test_uv_downloads_are_cached_and_reports_kept():
    by_action = {step["uses"].split("@")[0]: step for step in steps() if "uses" in step}
    uv = by_action["astral-sh/setup-uv"]["with"]
    assert uv["enable-cache"] is True
    assert uv["cache-dependency-glob"] == "uv.lock"
    upload = by_action["actions/upload-artifact"]
    assert upload["if"] == "always()"  # failed runs keep theirs too
    assert upload["with"]["path"].rstrip("/") == tasks.REPORTS.relative_to(ROOT).as_posix()
