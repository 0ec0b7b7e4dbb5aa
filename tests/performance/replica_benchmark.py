"""API read latency with the API on the primary and on a read replica, under ingest load.

What a replica is for: reads that do not compete with the writes. This measures the
API's p50/p95 per query (over HTTP, auth included) twice: reading from the primary,
then from timescaledb-replica, each time while senders push the `llm` workload through
the collector at a fixed rate (so the primary does the same writes both times), and
once more without load for the baseline. It also prints the replica's lag during the
loaded run (llmo-style: bytes not yet replayed, from pg_stat_replication).

Run it against the benchmark stack with the replica (docs/SCALING.md has the figures):

    export COMPOSE_PROJECT_NAME=llmo-bench
    F="-f docker-compose.yml -f tests/performance/compose.bench.yml"
    docker compose -p llmo-bench $F --profile replica up -d --wait --build \\
      timescaledb timescaledb-replica redis storage collector api
    uv run python -m tests.performance.replica_benchmark --project llmo-bench

It recreates the api container twice (DATABASE_READONLY_URL on the primary, then on the
replica first; its rate limit lifted) and leaves it on the primary with its defaults.
Speed targets are not asserted: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import threading
import time

import httpx
import psycopg

from llm_observatory.api.auth import mint_token
from llm_observatory.core.settings import ApiSettings
from tests.performance import llm_workload
from tests.support import ROOT

FILES = "-f docker-compose.yml -f tests/performance/compose.bench.yml"
QUERIES = {
    "trace list (50, newest)": "/api/v1/traces?limit=50",
    "trace list, one model": "/api/v1/traces?limit=50&model=gpt-4o-mini",
    "models with totals": "/api/v1/models",
    "services": "/api/v1/services",
}


def compose(project: str, args: str, env: dict[str, str] | None = None) -> str:
    command = f"docker compose -p {project} {FILES} --profile replica {args}"
    print(f"+ {command}", file=sys.stderr, flush=True)
    result = subprocess.run(
        shlex.split(command),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return result.stdout.strip()


def local(address: str) -> str:
    return address.replace("0.0.0.0", "127.0.0.1")  # noqa: S104 - what compose printed


def readonly_url(hosts: str, extra: str = "") -> str:
    user = os.environ.get("DB_READONLY_USER", "llm_observatory_readonly")
    password = os.environ.get("DB_READONLY_PASSWORD", "readonly_dev_password")
    name = os.environ.get("DB_NAME", "llm_observatory")
    return f"postgresql://{user}:{password}@{hosts}/{name}{extra}"


def load(otlp: str, bodies: list[bytes], rate: float, stop: threading.Event) -> list[int]:
    """Send requests at `rate` per second until stopped; their statuses."""
    statuses: list[int] = []
    with httpx.Client(timeout=60) as client:
        for body in iter(lambda: bodies[len(statuses) % len(bodies)], None):
            if stop.is_set():
                break
            started = time.monotonic()
            response = client.post(
                f"{otlp}/v1/traces",
                content=body,
                headers={"content-type": "application/x-protobuf"},
            )
            statuses.append(response.status_code)
            time.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))
    return statuses


def measure(api: httpx.Client, repeat: int) -> dict[str, tuple[float, float]]:
    result = {}
    for name, path in QUERIES.items():
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            response = api.get(path)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path, response.text[:200])
        times.sort()
        result[name] = (statistics.median(times), times[int(0.95 * (len(times) - 1))])
    return result


def lag_bytes(database_url: str) -> float:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)) FROM pg_stat_replication"
        ).fetchone()
    return float(row[0] or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", default=os.environ.get("COMPOSE_PROJECT_NAME", "llmo-bench"))
    parser.add_argument("--rate", type=float, default=2.0, help="ingest requests/s (512 spans)")
    parser.add_argument("--repeat", type=int, default=40, help="requests per query")
    args = parser.parse_args()
    project = args.project
    port = os.environ.get("DB_PORT", "5432")
    otlp = "http://" + local(compose(project, "port collector 4318"))
    db = local(compose(project, f"port timescaledb {port}"))
    owner = (
        f"postgresql://{os.environ.get('DB_USER', 'postgres')}:"
        f"{os.environ.get('DB_PASSWORD', 'postgres_dev_password')}@{db}/"
        f"{os.environ.get('DB_NAME', 'llm_observatory')}"
    )
    bodies = llm_workload.build("llm", 40).bodies
    token = mint_token("replica-benchmark", 3600, ApiSettings())
    print(f"## Replica benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(
        f"{os.cpu_count()} CPUs; load averages {os.getloadavg()}; ingest {args.rate:g} "
        f"requests/s of 512 llm spans; {args.repeat} requests per query\n"
    )
    targets = {
        "primary": readonly_url(f"timescaledb:{port}"),
        "replica": readonly_url(
            f"timescaledb-replica:{port},timescaledb:{port}",
            "?target_session_attrs=prefer-standby&connect_timeout=3",
        ),
    }
    rows = []
    for where, url in targets.items():
        compose(
            project,
            "up -d --wait --no-deps --force-recreate api",
            env={"DATABASE_READONLY_URL": url, "RATE_LIMIT_REQUESTS": "1000000"},
        )
        api_port = compose(project, "port api 8080").rsplit(":", 1)[1]
        with httpx.Client(
            base_url=f"http://127.0.0.1:{api_port}",
            timeout=30,
            headers={"Authorization": f"Bearer {token}"},
        ) as api:
            measure(api, 3)  # warm the pool and the caches
            idle = measure(api, args.repeat)
            stop = threading.Event()
            statuses: list[int] = []
            sender = threading.Thread(
                target=lambda out=statuses, done=stop: out.extend(
                    load(otlp, bodies, args.rate, done)
                )
            )
            sender.start()
            time.sleep(3)
            lags = []
            loaded = measure(api, args.repeat)
            lags.append(lag_bytes(owner))
            stop.set()
            sender.join()
        ok = sum(1 for s in statuses if s == 200)
        for name in QUERIES:
            rows.append((where, name, *idle[name], *loaded[name]))
        print(
            f"{where}: {ok}/{len(statuses)} ingest requests ok during the loaded run; "
            f"replica lag at its end {max(lags) / 1024:,.0f} KiB"
        )
    compose(project, "up -d --wait --no-deps --force-recreate api")
    print(
        "\n| API reads from | query | idle p50 ms | idle p95 ms | under ingest p50 ms "
        "| under ingest p95 ms |\n| --- | --- | ---: | ---: | ---: | ---: |"
    )
    for where, name, p50, p95, lp50, lp95 in rows:
        print(f"| {where} | {name} | {p50:.1f} | {p95:.1f} | {lp50:.1f} | {lp95:.1f} |")


if __name__ == "__main__":
    main()
