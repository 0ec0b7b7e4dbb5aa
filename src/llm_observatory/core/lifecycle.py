"""How every service runs: its HTTP listeners, its signals, its graceful stop, its exit code.

One implementation for the collector, storage, maintenance, the API and the
playground, so they cannot drift: uvicorn servers without uvicorn's own signal
handling; SIGTERM/SIGINT start a stop in two phases — the work listeners stop taking
requests and `drain` lets what is in flight finish, then the ops listener (/health,
/metrics) stops, so health keeps answering while a service drains; `close` releases
the rest; self-tracing is flushed last. The exit code is 0 after a signal and 1 when
a listener or the background work stopped by itself (a port in use, a crash):
compose then restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

import uvicorn

from llm_observatory.core import tracing
from llm_observatory.core.logging import get_logger

log = get_logger("llm_observatory.lifecycle")

BACKGROUND_STOP_SECONDS = 10.0

Hook = Callable[[], Awaitable[None]]
Background = Callable[[asyncio.Event], Awaitable[None]]


class Hooks(TypedDict, total=False):
    """What a service does around its listeners; each part is optional."""

    start: Hook  # before the listeners start
    drain: Hook  # after the work listeners stop taking requests
    close: Hook  # after every listener stopped
    background: Background  # runs alongside; told to stop by the event


@dataclass
class Listener:
    """One HTTP server of a service."""

    app: Any
    host: str
    port: int
    ops: bool = False  # the /health + /metrics listener: stops last
    lifespan: str = "off"
    sockets: Sequence[socket.socket] | None = None  # pre-bound (SO_REUSEPORT) sockets
    options: dict[str, Any] = field(default_factory=dict)  # more uvicorn.Config arguments


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service's handler stops every server."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


def _server(listener: Listener) -> _Server:
    config = uvicorn.Config(
        listener.app,
        host=listener.host,
        port=listener.port,
        lifespan=listener.lifespan,
        log_config=None,
        access_log=False,
        **listener.options,
    )
    return _Server(config)


async def _serve(server: _Server, listener: Listener) -> None:
    try:
        await server.serve(sockets=listener.sockets)
    except SystemExit:
        # uvicorn exits the process when it cannot bind; here that ends this listener
        # only, so the service stops the normal way (drain, close) with exit code 1.
        log.error("listener failed to start", host=listener.host, port=listener.port)


async def run(service: str, listeners: Sequence[Listener], **hooks: Unpack[Hooks]) -> int:
    """Serve until a signal (exit code 0) or until a listener stops by itself (1)."""
    start, drain = hooks.get("start"), hooks.get("drain")
    close, background = hooks.get("close"), hooks.get("background")
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    if start is not None:
        await start()
    servers = [(listener, _server(listener)) for listener in listeners]
    tasks = {server: asyncio.create_task(_serve(server, listener)) for listener, server in servers}
    chores = asyncio.create_task(background(stopping)) if background is not None else None
    waiter = asyncio.create_task(stopping.wait())
    watched = [*tasks.values(), waiter, *([chores] if chores is not None else [])]
    await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
    crashed = not stopping.is_set()
    stopping.set()
    if crashed:
        log.error(
            "a listener or the background work stopped by itself: shutting down",
            service=service,
            hint="a port in use, or the error logged above",
        )
    log.info("stopping: finishing the work in flight", service=service)
    work = [(listener, server) for listener, server in servers if not listener.ops]
    for _, server in work:
        server.should_exit = True
    if drain is not None:
        await drain()
    await asyncio.gather(*(tasks[server] for _, server in work), return_exceptions=True)
    for _, server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks.values(), return_exceptions=True)
    if chores is not None:
        try:
            await asyncio.wait_for(chores, BACKGROUND_STOP_SECONDS)
        except TimeoutError:  # a chore must not block the stop
            log.warning("background work did not stop in time", service=service)
        except Exception as exc:
            log.error("background work failed", service=service, exc_info=exc)
    if close is not None:
        await close()
    log.info("stopped", service=service, exit_code=int(crashed))
    return int(crashed)


def serve_until_stopped(service: str, listeners: Sequence[Listener], **hooks: Unpack[Hooks]) -> int:
    """`run` in a fresh event loop, with self-tracing flushed afterwards; the exit code."""
    try:
        return asyncio.run(run(service, listeners, **hooks))
    finally:
        tracing.shutdown()
