"""`invoke test --coverage`: a real run of the task on a small selection writes the
coverage (HTML, XML) and JUnit reports and prints the total they hold.

The run goes to a directory of its own (LLMO_TEST_REPORTS, COVERAGE_FILE), so it never
touches the reports of the run it is part of.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from xml.etree import ElementTree

from tests.support.compose_stack import ROOT, tasks

# Small, and it runs code under src/ (core.ops).
SELECTION = ["--selection", "unit", "-k", "test_ops"]


def run_task(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "LLMO_TEST_REPORTS": str(tmp_path / "reports"),
        "COVERAGE_FILE": str(tmp_path / ".coverage"),
    }
    env.pop(tasks.COVERAGE_VARIABLE, None)
    return subprocess.run(
        [sys.executable, "-m", "invoke", "test", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_coverage_run_writes_both_reports_and_prints_the_total(tmp_path):
    result = run_task(tmp_path, *SELECTION, "--coverage")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    reports = tmp_path / "reports"
    assert (reports / "coverage" / "index.html").is_file()
    junit = ElementTree.parse(reports / "junit-unit.xml").getroot()  # noqa: S314 - ours
    suite = junit if junit.tag == "testsuite" else junit.find("testsuite")
    assert int(suite.get("tests")) > 0 and int(suite.get("failures")) == 0
    total = tasks.coverage_total(reports / "coverage.xml")
    assert 0 < total < 100
    printed = re.search(r"Coverage of src/llm_observatory: ([\d.]+)%", result.stdout)
    assert printed and float(printed.group(1)) == round(total, 1), result.stdout[-2000:]
    # The same total as coverage.py's own report of the run's data.
    own = subprocess.run(
        [sys.executable, "-m", "coverage", "report", "--format=total", "--precision=1"],
        cwd=ROOT,
        env={**os.environ, "COVERAGE_FILE": str(tmp_path / ".coverage")},
        capture_output=True,
        text=True,
    )
    assert own.returncode == 0, own.stderr
    assert float(own.stdout) == float(printed.group(1))
    # The XML covers src/: the package's modules, by their path in the checkout.
    classes = ElementTree.parse(reports / "coverage.xml").iter("class")  # noqa: S314
    files = {c.get("filename") for c in classes}
    assert any(name.endswith("core/ops.py") for name in files), sorted(files)[:10]


def test_a_run_that_writes_no_report_shows_none_and_keeps_its_exit_code(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "coverage.xml").write_text("<coverage/>")  # a previous run's
    # pytest refuses the option before running anything: exit 4, no report written.
    result = run_task(tmp_path, *SELECTION, "--extra", "--no-such-option", "--coverage")
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    assert not (reports / "coverage.xml").exists()
    assert "No coverage report was written" in result.stdout
    assert "Coverage of src/" not in result.stdout
