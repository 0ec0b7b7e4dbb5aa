"""Ingest benchmark: realistic OTLP/HTTP protobuf traffic against a running stack.

What it measures, from outside the stack (OTLP/HTTP to the collector, SQL to the
database, the containers' cgroup files for CPU and memory):

* **end-to-end spans/s**: from the first request sent to the last row committed (the
  largest `ingested_at` of the run's rows, polled until every acknowledged span is in);
* **export latency** p50/p99 per request, sent to 200;
* **CPU seconds per service** during the run (cgroup counters before and after), the
  sender's own CPU and the whole machine's, with load averages; on a shared machine the
  wall-clock figures drop with the others' load, so a **CPU-bound estimate** is printed
  too: cores / (stack + sender CPU per span), what the run would reach alone;
* **collector resident memory** peak (anonymous memory of its cgroup, sampled every 0.1 s);
* **DB-only ceiling, in the same run**: the run's rows, read back, COPYed in one
  transaction into a fresh hypertable made like `spans` (same columns, indexes and chunk
  interval) with nothing else running, rows/s, and the ratio end-to-end / ceiling;
* with `--rate 0.8`: a second run at 80% of the measured peak (or of `--peak`), sent
  open-loop on a fixed schedule, its p99 latency (counted from the scheduled send time,
  so queueing in the sender counts) and the collector's memory under that load.

Each figure is printed next to its target with ok/MISS; nothing asserts speed. The
workloads (`llm`: chat spans with prompts and completions plus HTTP and database spans;
`bare`: LLM spans with attributes only) are described in llm_workload.py. The request
bodies are built before the clock starts; 512 spans per request; `--senders` concurrent
senders, one connection each. The run's rows are found by their start times (a run's
spans start after every span already stored) and checked: PII kinds found versus planted, and
chat spans priced versus priced models sent.

Run it against the base stack with the database published, under a project of its own
(tests/performance/compose.bench.yml; the test stack's tmpfs database is too small):

    export COMPOSE_PROJECT_NAME=llmo-bench
    docker compose -p llmo-bench -f docker-compose.yml -f tests/performance/compose.bench.yml \\
      up -d --wait --build timescaledb redis storage collector api
    uv run invoke bench-ingest --workload llm --rate 0.8
    uv run invoke bench-ingest --workload bare
    docker compose -p llmo-bench -f docker-compose.yml down -v

or directly: `uv run python -m tests.performance.ingest_benchmark --otlp-url
http://127.0.0.1:PORT --database-url postgresql://postgres:...@127.0.0.1:PORT/llm_observatory
--project llmo-bench`. Without a database URL it counts acknowledged spans only (the
collector answers after storage commits) and skips the ceiling and the row checks.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from psycopg import sql

from tests.performance import llm_workload
from tests.support.container_usage import Container, Usage, load_averages, project_containers

HERE = Path(__file__).resolve().parent

MIB = 1024 * 1024
# Targets on the 2-core reference machine with the whole base stack and the sender on it.
TARGET_SPANS_PER_S = {"llm": 12_000, "bare": 30_000}
TARGET_P99_MS = 500
TARGET_COLLECTOR_RSS_MIB = 300
DEFAULT_REQUESTS = {"llm": 240, "bare": 600}  # ~10 s at the target rate
COMMIT_TIMEOUT_S = 180


# ------------------------------------------------------------------------------ sending


@dataclass(slots=True)
class Sent:
    latencies: list[float] = field(default_factory=list)  # seconds, per request
    failures: dict[str, int] = field(default_factory=dict)
    acked_spans: int = 0
    started: float = 0.0  # wall clock (time.time) of the first send
    last_ack: float = 0.0

    def record(self, latency: float, error: str | None, spans: int) -> None:
        self.latencies.append(latency)
        if error is None:
            self.acked_spans += spans
            self.last_ack = time.time()
        else:
            self.failures[error] = self.failures.get(error, 0) + 1


async def _post(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]
) -> str | None:
    """None on 200, else why not (status code, partial success, or the transport error)."""
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    if response.status_code != 200:
        return str(response.status_code)
    rejected = ExportTraceServiceResponse.FromString(response.content).partial_success
    return f"partial success: {rejected.error_message[:80]}" if rejected.rejected_spans else None


def _headers(compressed: bool) -> dict[str, str]:
    headers = {"content-type": "application/x-protobuf"}
    if compressed:
        headers["content-encoding"] = "gzip"
    return headers


async def send_closed_loop(
    url: str, bodies: list[bytes], spans_per_body: int, senders: int, compressed: bool
) -> Sent:
    """`senders` senders, each sending its next request when the previous one is answered."""
    sent = Sent()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(bodies)):
        queue.put_nowait(index)
    headers = _headers(compressed)

    async def sender(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            index = queue.get_nowait()
            began = time.perf_counter()
            error = await _post(client, url, bodies[index], headers)
            sent.record(time.perf_counter() - began, error, spans_per_body)

    limits = httpx.Limits(max_connections=senders, max_keepalive_connections=senders)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        sent.started = time.time()
        await asyncio.gather(*(sender(client) for _ in range(senders)))
    return sent


async def send_paced(
    url: str,
    bodies: list[bytes],
    spans_per_body: int,
    spans_per_s: float,
    compressed: bool,
    max_in_flight: int = 64,
) -> Sent:
    """Open loop: request k leaves at start + k * interval whatever the answers; latency
    counts from that scheduled time, so a request waiting for a free connection counts."""
    sent = Sent()
    headers = _headers(compressed)
    interval = spans_per_body / spans_per_s
    slots = asyncio.Semaphore(max_in_flight)

    async def one(client: httpx.AsyncClient, index: int, scheduled: float) -> None:
        async with slots:
            error = await _post(client, url, bodies[index], headers)
        sent.record(time.perf_counter() - scheduled, error, spans_per_body)

    limits = httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        tasks = []
        sent.started = time.time()
        origin = time.perf_counter()
        for index in range(len(bodies)):
            scheduled = origin + index * interval
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            tasks.append(asyncio.create_task(one(client, index, scheduled)))
        await asyncio.gather(*tasks)
    return sent


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# ----------------------------------------------------------------------------- database

_IN_WINDOW = (
    "start_time >= to_timestamp(%s::numeric / 1e9) AND start_time < to_timestamp(%s::numeric / 1e9)"
)


def count_in_window(conn: psycopg.Connection, window: tuple[int, int]) -> tuple[int, float | None]:
    """Rows with a start time in the window and the latest ingested_at among them (epoch s)."""
    row = conn.execute(
        f"SELECT count(*), extract(epoch FROM max(ingested_at)) FROM spans WHERE {_IN_WINDOW}",
        window,
    ).fetchone()
    assert row is not None
    return row[0], (float(row[1]) if row[1] is not None else None)


def wait_committed(
    conn: psycopg.Connection, window: tuple[int, int], expected: int, timeout: float
) -> tuple[int, float | None]:
    """Poll until `expected` rows are in the window (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        count, last = count_in_window(conn, window)
        if count >= expected or time.monotonic() > deadline:
            return count, last
        time.sleep(0.05)


def stored_checks(conn: psycopg.Connection, window: tuple[int, int]) -> tuple[dict[str, int], int]:
    """PII kinds found (spans per kind) and priced LLM spans, among the run's rows."""
    kinds = dict(
        conn.execute(
            "SELECT pii_kind, count(*) FROM spans, unnest(pii_types) AS pii_kind "
            f"WHERE {_IN_WINDOW} GROUP BY pii_kind",
            window,
        ).fetchall()
    )
    row = conn.execute(
        f"SELECT count(*) FROM spans WHERE {_IN_WINDOW} AND is_llm AND cost_usd IS NOT NULL",
        window,
    ).fetchone()
    assert row is not None
    return kinds, row[0]


@dataclass(slots=True)
class Ceiling:
    rows: int
    seconds: float
    db_cpu_seconds: float | None
    indexes: tuple[int, int]  # (fresh table, spans)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else float("nan")


def db_ceiling(url: str, window: tuple[int, int], database: list[Container]) -> Ceiling:
    """The window's rows COPYed (text, as the storage writer sends them) in one transaction
    into a fresh hypertable made like `spans`, timed alone."""
    table = f"bench_ceiling_{uuid.uuid4().hex[:8]}"
    ident = sql.Identifier(table)
    with psycopg.connect(url, autocommit=True) as conn:
        columns = [
            name
            for (name,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'spans' "
                "AND table_schema = current_schema() ORDER BY ordinal_position"
            ).fetchall()
            if name != "ingested_at"  # its default, now(), as for the writer's rows
        ]
        column_list = sql.SQL(", ").join(map(sql.Identifier, columns))
        buffer: list[bytes] = []
        with conn.cursor() as cur:
            select = sql.SQL("COPY (SELECT {} FROM spans WHERE {}) TO STDOUT").format(
                column_list,
                sql.SQL(
                    "start_time >= to_timestamp({} / 1e9) AND start_time < to_timestamp({} / 1e9)"
                ).format(sql.Literal(window[0]), sql.Literal(window[1])),
            )
            with cur.copy(select) as copy:
                buffer.extend(bytes(block) for block in copy)
            rows = sum(block.count(b"\n") for block in buffer)
        interval = conn.execute(
            "SELECT time_interval FROM timescaledb_information.dimensions "
            "WHERE hypertable_name = 'spans' AND column_name = 'start_time'"
        ).fetchone()
        conn.execute(sql.SQL("CREATE TABLE {} (LIKE spans INCLUDING ALL)").format(ident))
        try:
            conn.execute(
                "SELECT create_hypertable(%s::regclass, by_range('start_time', %s::interval), "
                "create_default_indexes => false)",
                (table, interval[0] if interval else "1 day"),
            )
            indexes = conn.execute(
                "SELECT (SELECT count(*) FROM pg_indexes WHERE tablename = %s), "
                "(SELECT count(*) FROM pg_indexes WHERE tablename = 'spans')",
                (table,),
            ).fetchone()
            assert indexes is not None
            cpu_before = sum(c.cpu_seconds() or 0.0 for c in database)
            began = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur:
                copy_in = sql.SQL("COPY {} ({}) FROM STDIN").format(ident, column_list)
                with cur.copy(copy_in) as copy:
                    for block in buffer:
                        copy.write(block)
            seconds = time.perf_counter() - began
            cpu = sum(c.cpu_seconds() or 0.0 for c in database) - cpu_before
        finally:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
    return Ceiling(rows, seconds, cpu if database else None, (indexes[0], indexes[1]))


# ------------------------------------------------------------------------------- phases


@dataclass(slots=True)
class Phase:
    name: str
    sent: Sent
    usage: Usage
    sender_cpu: float = 0.0  # CPU seconds of this process while sending
    rate_share: float = 1.0  # the paced rate as a fraction of the peak
    committed: int | None = None  # rows of the run found in the database
    finished: float = 0.0  # wall clock of the last commit (or the last ack without a DB)
    pii_found: dict[str, int] = field(default_factory=dict)
    priced_found: int | None = None

    @property
    def seconds(self) -> float:
        return self.finished - self.sent.started

    @property
    def cpu_bound_estimate(self) -> float:
        """Spans/s if this run's CPU per span were all the machine had to do: on a shared
        machine this says more than the wall clock."""
        cpu = sum(self.usage.cpu.values()) + self.sender_cpu
        spans = self.committed if self.committed is not None else self.sent.acked_spans
        return (os.cpu_count() or 1) * spans / cpu if cpu > 0 and self.usage.cpu else 0.0

    @property
    def spans_per_s(self) -> float:
        spans = self.committed if self.committed is not None else self.sent.acked_spans
        return spans / self.seconds if self.seconds > 0 else float("nan")


def run_phase(
    name: str,
    workload: llm_workload.Workload,
    args: argparse.Namespace,
    containers: list[Container],
    rate: float | None = None,
) -> Phase:
    url = args.otlp_url.rstrip("/") + "/v1/traces"
    spans = workload.total_spans // len(workload.bodies)
    bodies = [gzip.compress(b, 1) for b in workload.bodies] if args.gzip else workload.bodies
    conn = psycopg.connect(args.database_url, autocommit=True) if args.database_url else None
    baseline = count_in_window(conn, workload.window)[0] if conn else 0
    usage = Usage(containers)
    usage.start()
    cpu_before = time.process_time()
    if rate is None:
        sent = asyncio.run(send_closed_loop(url, bodies, spans, args.senders, args.gzip))
    else:
        sent = asyncio.run(send_paced(url, bodies, spans, rate, args.gzip))
    phase = Phase(name, sent, usage, time.process_time() - cpu_before, finished=sent.last_ack)
    if conn is not None:
        with conn:
            count, last = wait_committed(
                conn, workload.window, baseline + sent.acked_spans, COMMIT_TIMEOUT_S
            )
            phase.committed = count - baseline
            phase.finished = last or sent.last_ack
            phase.pii_found, phase.priced_found = stored_checks(conn, workload.window)
    usage.stop()
    return phase


# ----------------------------------------------------------------------------- printing


def row(*cells: object) -> None:
    print("| " + " | ".join(str(cell) for cell in cells) + " |")


def table(*header: str) -> None:
    row(*header)
    row(*("---" for _ in header))


def _verdict(ok: bool) -> str:
    return "ok" if ok else "**MISS**"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def print_phase(phase: Phase, workload: llm_workload.Workload, env: dict[str, str]) -> None:
    sent, usage = phase.sent, phase.usage
    print(f"\n### {phase.name}\n")
    table("figure", "value")
    if phase.committed is not None:
        row("spans committed (acknowledged)", f"{phase.committed:,} ({sent.acked_spans:,})")
    else:
        row("spans acknowledged (no database URL)", f"{sent.acked_spans:,}")
    row("first send -> last commit", f"{phase.seconds:.2f} s")
    row("end-to-end throughput", f"**{phase.spans_per_s:,.0f} spans/s**")
    if sent.last_ack:
        row(
            "acknowledged throughput",
            f"{sent.acked_spans / (sent.last_ack - sent.started):,.0f} spans/s",
        )
    row(
        "export latency p50 / p99 / max",
        f"{_ms(percentile(sent.latencies, 0.5))} / {_ms(percentile(sent.latencies, 0.99))} / "
        f"{_ms(max(sent.latencies, default=0))}",
    )
    row("failed requests", sent.failures or "none")
    for service, seconds in sorted(usage.cpu.items(), key=lambda item: -item[1]):
        per_span = seconds / max(sent.acked_spans, 1) * 1e6
        row(f"CPU {service}", f"{seconds:.1f} s ({per_span:.0f} µs/span)")
    row("CPU sender (this process)", f"{phase.sender_cpu:.1f} s")
    stack = sum(usage.cpu.values())
    if phase.cpu_bound_estimate:
        row(
            "CPU-bound estimate: cores / (stack + sender CPU per span)",
            f"{phase.cpu_bound_estimate:,.0f} spans/s (what a machine to itself could reach)",
        )
    other = max(0.0, usage.host_busy - stack - phase.sender_cpu)
    row(
        "CPU whole machine",
        f"{usage.host_busy:.1f} s busy in {usage.host_wall:.1f} s "
        f"({usage.host_busy / usage.host_wall:.2f} of {os.cpu_count()} cores): stack "
        f"{stack:.1f} s, sender {phase.sender_cpu:.1f} s, everything else {other:.1f} s",
    )
    for service in ("collector", "storage"):
        if service in usage.peak_resident:
            row(f"{service} resident memory peak", f"{usage.peak_resident[service] / MIB:,.0f} MiB")
    if phase.committed is not None:
        planted = workload.stats.pii_spans
        kinds = sorted(set(planted) | set(phase.pii_found))
        found = ", ".join(f"{k} {phase.pii_found.get(k, 0):,}/{planted.get(k, 0):,}" for k in kinds)
        row("PII kinds found/planted (spans)", found or "none planted, none found")
        row(
            "chat spans with a cost / with a priced model",
            f"{phase.priced_found:,} / {workload.stats.priced_chat_spans:,}",
        )
    row(
        "collector settings",
        ", ".join(f"{name}={env.get(name, '(default)')}" for name in COLLECTOR_SETTINGS),
    )


COLLECTOR_SETTINGS = ("ENABLE_PII_DETECTION", "ENABLE_COST_CALCULATION", "COLLECTOR_PROCESSES")


def _enabled(env: dict[str, str], name: str) -> bool:
    return env.get(name, "true").lower() not in ("false", "0", "no", "off")


def print_targets(
    workload: str,
    peak: Phase | None,
    paced: Phase | None,
    ceiling: Ceiling | None,
    env: dict[str, str],
) -> None:
    print("\n### Targets\n")
    table("target", "figure", "goal", "")
    if peak is not None:
        goal = TARGET_SPANS_PER_S[workload]
        ok = peak.spans_per_s >= goal
        condition = ""
        if workload == "llm":
            condition = " with PII and cost on"
            features_on = all(
                _enabled(env, name) for name in ("ENABLE_PII_DETECTION", "ENABLE_COST_CALCULATION")
            )
            if not features_on:
                ok, condition = False, condition + " (**off in this stack**)"
        row(
            f"{workload} end to end",
            f"{peak.spans_per_s:,.0f} spans/s",
            f"≥ {goal:,} spans/s{condition}",
            _verdict(ok),
        )
        if peak.cpu_bound_estimate:
            row(
                f"{workload} CPU-bound estimate (shared machine)",
                f"{peak.cpu_bound_estimate:,.0f} spans/s",
                f"≥ {goal:,} spans/s",
                "(estimate)",
            )
        if ceiling is not None:
            row(
                "end to end / DB-only ceiling",
                f"{peak.spans_per_s / ceiling.rows_per_s:.0%} of {ceiling.rows_per_s:,.0f} rows/s",
                "(none)",
                "",
            )
    if paced is not None:
        p99 = percentile(paced.sent.latencies, 0.99) * 1000
        row(
            f"p99 export latency at {paced.rate_share:.0%} of peak",
            f"{p99:,.0f} ms",
            f"≤ {TARGET_P99_MS} ms at 80%",
            _verdict(p99 <= TARGET_P99_MS),
        )
    else:
        row(
            "p99 export latency at 80% of peak",
            "not measured: --rate 0.8",
            f"≤ {TARGET_P99_MS} ms",
            "",
        )
    loaded = paced or peak
    rss = loaded.usage.peak_resident.get("collector") if loaded else None
    goal_rss = f"≤ {TARGET_COLLECTOR_RSS_MIB} MiB"
    if loaded is None or rss is None:
        row("collector resident memory", "not measured (no cgroup found)", goal_rss, "")
    else:
        where = f"at {loaded.rate_share:.0%} of peak" if paced else "at peak (no --rate)"
        row(
            f"collector resident memory peak {where}",
            f"{rss / MIB:,.0f} MiB",
            goal_rss,
            _verdict(rss / MIB <= TARGET_COLLECTOR_RSS_MIB),
        )


def print_ceiling(ceiling: Ceiling) -> None:
    print("\n### DB-only ceiling: the same rows COPYed into a fresh hypertable like spans\n")
    table("figure", "value")
    row("rows, one COPY in one transaction", f"{ceiling.rows:,} in {ceiling.seconds:.2f} s")
    row("rows/s", f"**{ceiling.rows_per_s:,.0f}**")
    if ceiling.db_cpu_seconds is not None:
        per_row = ceiling.db_cpu_seconds / max(ceiling.rows, 1) * 1e6
        row("CPU timescaledb", f"{ceiling.db_cpu_seconds:.1f} s ({per_row:.0f} µs/row)")
    row("indexes (fresh table / spans)", f"{ceiling.indexes[0]} / {ceiling.indexes[1]}")


# --------------------------------------------------------------------------------- main


def first_free_start_ns(database_url: str) -> int:
    """Now, or just after the latest span start stored if that is later (a previous run's
    spans can start in the future of its build time): the run's window then holds only
    the run's rows."""
    now = time.time_ns()
    if not database_url:
        return now
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT (extract(epoch FROM max(start_time)) * 1e9)::bigint FROM spans"
        ).fetchone()
    latest = row[0] if row and row[0] is not None else 0
    return max(now, latest + 2_000_000)


def build(workload: str, requests: int, seed: int, database_url: str) -> llm_workload.Workload:
    began = time.perf_counter()
    start_ns = first_free_start_ns(database_url)
    built = llm_workload.build(workload, requests, seed=seed, start_ns=start_ns)
    print(f"\nbuilt in {time.perf_counter() - began:.1f} s (not measured)")
    print(llm_workload.describe(built))
    return built


def run(args: argparse.Namespace) -> int:
    containers = project_containers(args.project)
    env = next((c.env for c in containers if c.service == "collector"), {})
    database = [c for c in containers if c.service == "timescaledb"]
    print(
        f"## Ingest benchmark: workload {args.workload}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
    )
    services = ", ".join(sorted({c.service for c in containers}))
    print(f"{os.cpu_count()} CPUs; project {args.project}: {services or 'no containers found'}")
    print(f"load averages before: {load_averages()}")
    requests = args.requests or DEFAULT_REQUESTS[args.workload]
    workload: llm_workload.Workload | None = build(
        args.workload, requests, args.seed, args.database_url
    )
    assert workload is not None

    peak: Phase | None = None
    ceiling: Ceiling | None = None
    peak_rate = args.peak
    if not peak_rate:
        name = f"peak: {args.senders} senders, closed loop"
        peak = run_phase(name, workload, args, containers)
        print_phase(peak, workload, env)
        peak_rate = peak.spans_per_s
        if args.database_url and not args.no_ceiling:
            ceiling = db_ceiling(args.database_url, workload.window, database)
            print_ceiling(ceiling)

    paced: Phase | None = None
    if args.rate:
        workload = None  # free the peak run's bodies before building the next ones
        target = args.rate * peak_rate
        workload = build(args.workload, requests, args.seed + 1, args.database_url)
        name = f"paced: open loop at {target:,.0f} spans/s = {args.rate:.0%} of peak"
        paced = run_phase(name, workload, args, containers, rate=target)
        paced.rate_share = args.rate
        print_phase(paced, workload, env)

    print_targets(args.workload, peak, paced, ceiling, env)
    restarts = {c.service: c.restarts for c in project_containers(args.project)}
    before = {c.service: c.restarts for c in containers}
    changed = {s: n - before.get(s, 0) for s, n in restarts.items() if n != before.get(s, 0)}
    print(f"\nload averages after: {load_averages()}; container restarts: {changed or 'none'}")

    status = 0
    for phase in (peak, paced):
        if phase is None:
            continue
        if phase.sent.failures:
            print(f"ERROR: {phase.name}: failed requests {phase.sent.failures}")
            status = 1
        if phase.committed is not None and phase.committed < phase.sent.acked_spans:
            missing = phase.sent.acked_spans - phase.committed
            print(f"ERROR: {phase.name}: {missing:,} acknowledged spans are not in the database")
            status = 1
    return status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=llm_workload.WORKLOADS, default="llm")
    parser.add_argument("--otlp-url", default=os.environ.get("OTLP_URL", "http://127.0.0.1:4318"))
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", ""),
        help="superuser URL of the stack's database (row checks and the DB-only ceiling)",
    )
    parser.add_argument(
        "--project",
        default=os.environ.get("COMPOSE_PROJECT_NAME", "llm-observatory"),
        help="compose project whose containers' CPU and memory are read",
    )
    parser.add_argument("--senders", type=int, default=4, help="concurrent senders (closed loop)")
    parser.add_argument(
        "--requests",
        type=int,
        default=0,
        help=f"requests of {llm_workload.SPANS_PER_REQUEST} spans per run "
        f"(default: {DEFAULT_REQUESTS})",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="also run open loop at this fraction of the peak (e.g. 0.8)",
    )
    parser.add_argument(
        "--peak", type=float, default=0.0, help="peak spans/s for --rate (skips the peak run)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--gzip", action="store_true", help="gzip the bodies (built in advance)")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the DB-only ceiling")
    args = parser.parse_args()
    if args.senders < 1 or args.requests < 0:
        parser.error("--senders must be at least 1 and --requests positive")
    if not 0 <= args.rate <= 1.5:
        parser.error("--rate is a fraction of the peak, e.g. 0.8")
    if args.peak and not args.rate:
        parser.error("--peak only makes sense with --rate")
    sys.exit(run(args))


if __name__ == "__main__":
    main()
