"""How every service runs (core/lifecycle.py): exit codes and the order of a stop."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from llm_observatory.core.lifecycle import Listener, run


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
