"""The API's Postman collection (docs/api) under newman against the running test stack.

The stack gets demo data the way `llm-observatory seed` writes it (its seed function,
with services suffixed by a tag of this module, as test_governance does) and one
deletion request that maintenance refuses (a bad signature: nothing is deleted), so
the collection's deletion-audit requests see a deletion. Then newman runs the whole
collection as `invoke api-collection` does, once with tokens the collection mints
and once with tokens pasted from `llm-observatory token`; and once through a proxy
that drops a field from every answer, where the collection's tests must fail.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llm_observatory.cli.demo_data import DemoData
from llm_observatory.cli.seed import seed
from tests.support.compose_stack import tasks
from tests.support.postman_collection import requests

pytestmark = [pytest.mark.docker, pytest.mark.stack]

TAG = uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def newman() -> Path:
    """newman from docs/api's lock: .ci/run installs it; else `npm ci` here, as the task does."""
    if not tasks.NEWMAN.exists() and shutil.which("npm"):
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=tasks.API_DOCS, check=True, timeout=600
        )
    if not tasks.NEWMAN.exists():
        reason = f"newman is not installed and there is no npm to run `npm ci` in {tasks.API_DOCS}"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the API collection, but {reason}", pytrace=False)
        pytest.skip(reason)
    return tasks.NEWMAN


@pytest.fixture(scope="module")
def seeded(stack, db) -> None:
    data = DemoData(seed=31, days=1, service_suffix=f"-{TAG}")
    result = asyncio.run(seed(stack.database_url(), 600, days=1, data=data))
    assert result.rows >= 600 and result.log_records > 0
    # A request no API signed: maintenance marks it refused and deletes nothing.
    db.execute(
        "INSERT INTO deletion_audit (requested_by, selector, nonce, signature) "
        "VALUES (%s, %s, %s, 'not-a-signature')",
        (f"collection-smoke-{TAG}", json.dumps({"user": f"nobody-{TAG}"}), uuid.uuid4().hex),
    )


def run_newman(
    newman: Path, base_url: str, tmp_path: Path, *args: str, **values: str
) -> tuple[subprocess.CompletedProcess, dict]:
    """newman as `invoke api-collection` runs it, plus a JSON report (its `run`)."""
    environment = tmp_path / "environment.json"
    environment.write_text(json.dumps(tasks.collection_environment(base_url, **values)))
    report = tmp_path / "newman.json"
    command = [
        str(newman), "run", str(tasks.API_COLLECTION), "--environment", str(environment),
        "--reporters", "cli,json", "--reporter-json-export", str(report), "--color", "off",
        *args,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    print(result.stdout[-4000:])
    assert report.exists(), result.stdout[-3000:] + result.stderr[-2000:]
    return result, json.loads(report.read_text())["run"]


def failures(run: dict) -> list[str]:
    return [
        f"{e['item']['name']}: {a['assertion']}: {a['error']['message']}"
        for e in run["executions"]
        for a in e.get("assertions", [])
        if a.get("error")
    ]


def by_name(run: dict) -> dict[str, dict]:
    return {e["item"]["name"]: e for e in run["executions"]}


def test_the_collection_passes_against_the_stack(stack, seeded, newman, tmp_path):
    result, run = run_newman(newman, stack.url("api", 8080), tmp_path)
    assert failures(run) == [] and run["failures"] == [], failures(run) or run["failures"]
    assert result.returncode == 0, result.stdout[-3000:]
    # Every request ran once, and the run's tests did assert.
    names = [r.name.rsplit(" / ", 1)[-1] for r in requests()]
    assert sorted(e["item"]["name"] for e in run["executions"]) == sorted(names)
    assert run["stats"]["assertions"]["total"] >= 3 * len(names)
    executions = by_name(run)
    # The seeded deletion request was found, so its detail was asked (200), not a 404.
    assert executions["One deletion (admin)"]["response"]["code"] == 200
    assert executions["Deletion dry run (admin)"]["response"]["code"] == 200
    seconds = (run["timings"]["completed"] - run["timings"]["started"]) / 1000
    print(f"newman: {len(names)} requests, {run['stats']['assertions']['total']} assertions "
          f"in {seconds:.1f}s")  # fmt: skip


def _cli_token(stack, *args: str) -> str:
    # What the docs tell a developer to paste: `llm-observatory token` (invoke token).
    result = subprocess.run(
        [sys.executable, "-m", "llm_observatory.cli.main", "token", "--subject", f"paste-{TAG}",
         *args],
        capture_output=True, text=True, check=True, timeout=60,
        env={**os.environ, "DATABASE_URL": stack.database_url()},
    )  # fmt: skip
    return result.stdout.strip().splitlines()[-1]


def test_the_collection_takes_pasted_tokens(stack, seeded, newman, tmp_path):
    token, admin = _cli_token(stack), _cli_token(stack, "--scope", "admin")
    result, run = run_newman(
        # Governance asks for the trace and the user the Traces and Users lists keep.
        newman, stack.url("api", 8080), tmp_path, "--folder", "Auth and health",
        "--folder", "Traces", "--folder", "Users", "--folder", "Governance",
        apiToken=token, adminApiToken=admin, jwtSecret="",
    )  # fmt: skip
    assert failures(run) == [] and result.returncode == 0, failures(run) or result.stdout[-3000:]
    sent = {
        name: {h["key"]: h["value"] for h in e["request"]["header"]}.get("Authorization")
        for name, e in by_name(run).items()
    }
    assert sent["Token: mint or take"] == f"Bearer {token}"
    assert sent["Deletions (admin)"] == f"Bearer {admin}"
    assert sent["No token: 401"] is None


def _strip(value, field: str):
    if isinstance(value, dict):
        return {k: _strip(v, field) for k, v in value.items() if k != field}
    if isinstance(value, list):
        return [_strip(v, field) for v in value]
    return value


@pytest.fixture
def field_dropping_proxy(stack) -> Iterator[str]:
    """An HTTP proxy to the API that removes `cost_usd` from every JSON answer."""
    upstream = httpx.Client(base_url=stack.url("api", 8080), timeout=30)

    class Handler(http.server.BaseHTTPRequestHandler):
        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            answer = upstream.request(
                self.command,
                self.path,
                content=self.rfile.read(length) if length else None,
                headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
            )
            body = answer.content
            if answer.headers.get("content-type", "").startswith("application/json"):
                body = json.dumps(_strip(answer.json(), "cost_usd")).encode()
            self.send_response(answer.status_code)
            for key, value in answer.headers.items():
                if key.lower() not in {"content-length", "transfer-encoding", "content-encoding"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _forward

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        upstream.close()


def test_the_collection_fails_when_an_answer_lacks_a_field(
    seeded, newman, tmp_path, field_dropping_proxy
):
    started = time.monotonic()
    result, run = run_newman(newman, field_dropping_proxy, tmp_path, "--folder", "Traces")
    assert result.returncode != 0
    failed = failures(run)
    # The requests whose answers carry cost_usd fail on it, each naming the field.
    for name in ("List traces", "One trace"):
        assert any(f.startswith(f"{name}: ") and "cost_usd" in f for f in failed), failed
    # Those whose tests do not look at the field still pass.
    assert not any(f.startswith(("Unknown trace: 404:", "A bad parameter: 422:")) for f in failed)
    assert time.monotonic() - started < 120
