"""`health`: every service of the stack, as a table; exit 1 when a required one is down."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import psycopg
import redis

from llm_observatory.cli.errors import redact_url
from llm_observatory.core.settings import CliSettings


@dataclass
class Check:
    name: str
    target: str
    ok: bool
    detail: str
    required: bool
    ms: float


def _database(url: str, timeout: float) -> str:
    with psycopg.connect(url, connect_timeout=max(int(timeout), 1)) as conn:
        version = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone()
    return f"timescaledb {version[0]}" if version else "up (no timescaledb extension)"


def _redis(url: str, timeout: float) -> str:
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
        return "PONG"
    finally:
        client.close()


def _http(url: str, timeout: float) -> str:
    response = httpx.get(url, timeout=timeout)
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:120].strip()}")
    return f"HTTP {response.status_code}"


def run_checks(settings: CliSettings) -> list[Check]:
    probes: list[tuple[str, str, Callable[[str, float], str]]] = [
        ("database", settings.database_url, _database),
        ("redis", settings.redis_url, _redis),
        ("collector", settings.collector_health_url, _http),
        ("storage", settings.storage_health_url, _http),
        ("api", settings.api_health_url, _http),
        ("grafana", settings.grafana_health_url, _http),
        ("prometheus", settings.prometheus_health_url, _http),
        ("jaeger", settings.jaeger_health_url, _http),
    ]
    required = settings.required_checks
    checks = []
    for name, target, probe in probes:
        started = time.perf_counter()
        try:
            detail, ok = probe(target, settings.health_timeout), True
        except Exception as exc:  # any failure is "down", with its reason
            detail, ok = " ".join(f"{type(exc).__name__}: {exc}".split())[:160], False
        elapsed = (time.perf_counter() - started) * 1000
        checks.append(Check(name, redact_url(target), ok, detail, name in required, elapsed))
    return checks


def render(checks: list[Check]) -> str:
    rows = [("SERVICE", "STATUS", "REQUIRED", "MS", "TARGET", "DETAIL")]
    for c in checks:
        status = "up" if c.ok else "DOWN"
        rows.append(
            (c.name, status, "yes" if c.required else "no", f"{c.ms:.0f}", c.target, c.detail)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5]
        for row in rows
    )
