"""Web UI benchmark: p50/p95 of every page (and the list filters it offers) over HTTP.

    uv run python -m tests.performance.page_benchmark --mode test
    uv run python -m tests.performance.page_benchmark --api-url http://127.0.0.1:8080 \\
        --database-url postgresql://postgres:...@127.0.0.1:5432/llm_observatory

Measures the data already in the stack (seed it first: `invoke seed`, or the API
benchmark for a million spans). Signs in once through the login form (the session
cookie, as a browser holds it), takes the ids to open from the database (a recent
trace with an LLM call, a session, a user, a model, a word of a stored prompt), then
GETs each page `--requests` times. Over localhost the client's time is the server's
render time plus a loopback round trip. Target: p95 < 150 ms per page.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from urllib.parse import quote

import httpx
import psycopg

from llm_observatory.core.settings import ApiSettings
from tests.performance.api_benchmark import percentile

TARGET_MS = 150.0

SAMPLES = {
    "trace": "SELECT trace_id FROM spans WHERE is_llm AND start_time > now() - interval '1 day' "
    "ORDER BY start_time DESC LIMIT 1",
    "session": "SELECT conversation_id FROM spans WHERE conversation_id IS NOT NULL "
    "AND start_time > now() - interval '7 days' ORDER BY start_time DESC LIMIT 1",
    "user": "SELECT user_id FROM spans WHERE user_id IS NOT NULL "
    "AND start_time > now() - interval '7 days' ORDER BY start_time DESC LIMIT 1",
    "model": "SELECT model FROM spans WHERE is_llm AND model IS NOT NULL "
    "AND start_time > now() - interval '1 day' ORDER BY start_time DESC LIMIT 1",
    "prompt": "SELECT input_messages::text FROM spans WHERE input_messages IS NOT NULL "
    "AND start_time > now() - interval '1 day' ORDER BY start_time DESC LIMIT 1",
}


def samples(database_url: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    with psycopg.connect(database_url) as conn:
        for name, query in SAMPLES.items():
            row = conn.execute(query).fetchone()
            found[name] = row[0] if row else None
    words = re.findall(r"[A-Za-z]{6,}", found.pop("prompt") or "")
    found["word"] = words[len(words) // 2] if words else None
    return found


def pages(ids: dict[str, str | None]) -> dict[str, str]:
    """Page name -> path; pages whose sample is missing are left out (and said so)."""
    found = {
        "traces": "/traces",
        "traces 24h": "/traces?range=24h",
        "traces status=error": "/traces?status=error",
        "traces by cost": "/traces?sort=cost&range=24h",
        "traces by duration": "/traces?sort=duration&range=24h",
        "sessions": "/sessions",
        "users": "/users",
        "logs": "/logs",
        "logs severity>=error": "/logs?min_severity=error",
        "models 24h": "/models?range=24h&interval=1h",
    }
    optional = {
        "traces model": ("model", "/traces?model={}"),
        "traces model+error": ("model", "/traces?model={}&status=error"),
        "traces search": ("word", "/traces?q={}"),
        "trace": ("trace", "/traces/{}"),
        "session": ("session", "/sessions/{}"),
        "user": ("user", "/users/{}"),
        "logs of a trace": ("trace", "/logs?trace_id={}"),
    }
    for name, (key, template) in optional.items():
        if ids.get(key):
            found[name] = template.format(quote(str(ids[key]), safe=""))
        else:
            print(f"skipped {name}: no {key} in the data", file=sys.stderr)
    return found


def sign_in(client: httpx.Client, user: str, password: str) -> None:
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if not token:
        raise SystemExit(f"GET /login answered {form.status_code} without a form")
    answer = client.post(
        "/login",
        data={"username": user, "password": password, "csrf_token": token[1], "next": "/"},
    )
    if "llmo_session" not in client.cookies:
        raise SystemExit(f"sign-in refused ({answer.status_code}): check UI_ADMIN_PASSWORD")


def measure(client: httpx.Client, paths: dict[str, str], requests: int) -> dict[str, list]:
    results = {}
    for name, path in paths.items():
        client.get(path)  # warm-up: pool connection, plan, template (not counted)
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"GET {path} answered {response.status_code}")
        results[f"{name}  ({path[:40]})"] = times
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api-url", default=os.environ.get("API_URL"))
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL"), help="owner URL"
    )
    parser.add_argument("--mode", default="test", help="tasks.py mode whose stack to find")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page")
    args = parser.parse_args()
    if not (args.api_url and args.database_url):
        from tests.support.compose_stack import Stack

        stack = Stack(args.mode)
        args.api_url = args.api_url or stack.url("api", 8080)
        args.database_url = args.database_url or stack.database_url()

    settings = ApiSettings()  # the credentials compose passes (same env / .env)
    ids = samples(args.database_url)
    with psycopg.connect(args.database_url) as conn:
        total = conn.execute("SELECT count(*) FROM spans").fetchone()[0]
    with httpx.Client(base_url=args.api_url, timeout=60, follow_redirects=False) as client:
        sign_in(client, settings.ui_admin_user, settings.ui_admin_password)
        results = measure(client, pages(ids), args.requests)

    print(f"\nAPI {args.api_url}; spans in the table: {total:,}")
    print(f"{'page':<62} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  < {TARGET_MS:g}")
    failed = False
    for name, values in results.items():
        p95 = percentile(values, 0.95)
        failed |= p95 >= TARGET_MS
        print(
            f"{name:<62} {len(values):>4} {statistics.median(values):>8.1f} {p95:>8.1f} "
            f"{max(values):>8.1f}  {'yes' if p95 < TARGET_MS else 'NO'}"
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
