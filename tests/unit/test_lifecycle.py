"""How every service runs (core/lifecycle.py): exit codes and the order of a stop."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_observatory.core import tracing
from llm_observatory.core.lifecycle import Listener, run, serve_until_stopped


async def hello(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def listener(sock: socket.socket, ops: bool = False) -> Listener:
    return Listener(hello, "127.0.0.1", sock.getsockname()[1], ops=ops, sockets=[sock])


async def answers(port: int) -> bool:
    try:
        async with httpx.AsyncClient(timeout=1) as client:
            return (await client.get(f"http://127.0.0.1:{port}/")).status_code == 200
    except httpx.HTTPError:
        return False


async def wait_until_up(port: int) -> None:
    for _ in range(200):
        if await answers(port):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"port {port} never answered")


async def test_a_stop_exits_0_after_start_drain_and_close_in_order():
    work, ops = bound_socket(), bound_socket()
    work_port, ops_port = work.getsockname()[1], ops.getsockname()[1]
    events: list[str] = []
    during_drain: dict[str, bool] = {}

    async def start() -> None:
        events.append("start")

    async def background(stopping: asyncio.Event) -> None:
        await wait_until_up(work_port)
        await wait_until_up(ops_port)
        events.append("serving")
        stopping.set()  # what SIGTERM and SIGINT do
        await asyncio.sleep(0)

    async def drain() -> None:
        events.append("drain")
        await asyncio.sleep(0.3)  # long enough for a stopped server to close its port
        during_drain["ops"] = await answers(ops_port)

    async def close() -> None:
        events.append("close")

    code = await run(
        "test",
        [listener(work), listener(ops, ops=True)],
        start=start,
        drain=drain,
        close=close,
        background=background,
    )
    assert code == 0
    assert events == ["start", "serving", "drain", "close"]
    assert during_drain == {"ops": True}  # health still answers while the service drains
    assert not await answers(ops_port)
    assert not await answers(work_port)


async def test_a_listener_that_cannot_bind_exits_1():
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    closed: list[bool] = []

    async def close() -> None:
        closed.append(True)

    ops = bound_socket()
    try:
        code = await asyncio.wait_for(
            run(
                "test",
                [Listener(hello, "127.0.0.1", port), listener(ops, ops=True)],
                close=close,
            ),
            timeout=20,
        )
    finally:
        busy.close()
    assert code == 1
    assert closed == [True]  # stopped the normal way, not by an exception


@pytest.mark.parametrize("ops_first", [True, False])
async def test_a_background_task_that_fails_does_not_block_the_stop(ops_first):
    work, ops = bound_socket(), bound_socket()

    async def background(stopping: asyncio.Event) -> None:
        await wait_until_up(work.getsockname()[1])
        stopping.set()
        raise RuntimeError("chore failed")

    listeners = [listener(ops, ops=True), listener(work)]
    if not ops_first:
        listeners.reverse()
    assert await run("test", listeners, background=background) == 0


async def test_background_work_that_ends_by_itself_exits_1():
    """A service whose work loop died must not look healthy: compose restarts it."""
    ops = bound_socket()
    closed: list[bool] = []

    async def background(stopping: asyncio.Event) -> None:
        await wait_until_up(ops.getsockname()[1])
        raise RuntimeError("the work loop died")

    async def close() -> None:
        closed.append(True)

    code = await asyncio.wait_for(
        run("test", [listener(ops, ops=True)], background=background, close=close), timeout=20
    )
    assert code == 1
    assert closed == [True]


def test_a_stop_flushes_and_ends_self_tracing():
    exporter = InMemorySpanExporter()
    tracing.setup_tracing("test", "http://jaeger:4317", exporter=exporter)

    async def background(stopping: asyncio.Event) -> None:
        with tracing.span("last words"):
            pass
        stopping.set()

    assert (
        serve_until_stopped("test", [listener(bound_socket(), ops=True)], background=background)
        == 0
    )
    assert not tracing.enabled()
    assert [span.name for span in exporter.get_finished_spans()] == ["last words"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# (command module, its settings naming the port taken, the other ports it needs)
SERVICES = {
    "api": (
        "llm_observatory.api.main",
        lambda taken: {"PORT": taken, "METRICS_PORT": _free_port()},
    ),
    # Its workers share the port (SO_REUSEPORT); one process serves it alone.
    **{
        name: (
            "llm_observatory.collector.main",
            lambda taken, processes=processes: {
                "COLLECTOR_PROCESSES": processes,
                "OTLP_HTTP_ENDPOINT": f"0.0.0.0:{taken}",
                "OTLP_GRPC_ENDPOINT": f"127.0.0.1:{_free_port()}",
                "METRICS_ENDPOINT": f"127.0.0.1:{_free_port()}",
            },
        )
        for name, processes in (("collector", 2), ("collector-one-process", 1))
    },
    "playground": (
        "llm_observatory.playground.main",
        lambda taken: {
            "METRICS_PORT": taken,
            # Nobody listens there: the SDK's last flush gives up after a second.
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{_free_port()}",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
            "OPENAI_API_KEY": "",
        },
    ),
}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_service_exits_1_when_its_port_is_in_use(service):
    module, ports = SERVICES[service]
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))  # noqa: S104 - the services bind all interfaces
        taken.listen()
        env = {**os.environ, **{k: str(v) for k, v in ports(taken.getsockname()[1]).items()}}
        result = subprocess.run(
            [sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1, result.stderr[-3000:]
    assert "stopped by itself" in result.stderr
