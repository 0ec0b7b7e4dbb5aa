"""A TCP stand-in for Swarm's routing mesh, for kernels without IPVS (deploy/swarm/nomesh.yml).

Runs on every node (a global service with host-mode ports) and forwards each TCP
connection it accepts on a port to the next task of a service, round robin over the
addresses `tasks.<service>` resolves to on the overlay; a task that refuses or does not
answer within CONNECT_TIMEOUT seconds is skipped. Like the mesh, any node's address
reaches the replicas on any node and balances per connection. Unlike the mesh it has no
virtual IP and no kernel NAT: it finds the tasks again for every connection.

    EDGE_ROUTES="4317=collector:4317,4318=collector:4318,8080=api:8080" python edge.py
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket

CONNECT_TIMEOUT = float(os.environ.get("EDGE_CONNECT_TIMEOUT", "2"))
CHUNK = 65536


def routes(text: str) -> dict[int, tuple[str, int]]:
    """'4318=collector:4318,...' -> {4318: ('collector', 4318)}."""
    table = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        listen, _, target = item.partition("=")
        service, _, port = target.rpartition(":")
        if not (listen.isdigit() and service and port.isdigit()):
            raise SystemExit(f"EDGE_ROUTES: {item!r} is not PORT=SERVICE:PORT")
        table[int(listen)] = (service, int(port))
    if not table:
        raise SystemExit("EDGE_ROUTES names no route")
    return table


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


def handler(service: str, port: int):  # type: ignore[no-untyped-def]
    turn = itertools.count()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(f"tasks.{service}", port, type=socket.SOCK_STREAM)
        except OSError:
            client_w.close()
            return
        addresses = sorted({info[4][0] for info in infos})
        start = next(turn)
        for i in range(len(addresses)):
            address = addresses[(start + i) % len(addresses)]
            try:
                upstream_r, upstream_w = await asyncio.wait_for(
                    asyncio.open_connection(address, port), CONNECT_TIMEOUT
                )
            except (OSError, TimeoutError):
                continue
            await asyncio.gather(pipe(client_r, upstream_w), pipe(upstream_r, client_w))
            return
        client_w.close()

    return handle


async def main() -> None:
    table = routes(os.environ.get("EDGE_ROUTES", ""))
    servers = [
        await asyncio.start_server(handler(service, port), "0.0.0.0", listen)  # noqa: S104
        for listen, (service, port) in table.items()
    ]
    print(f"edge: {', '.join(f'{k} -> tasks.{s}:{p}' for k, (s, p) in table.items())}", flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    asyncio.run(main())
