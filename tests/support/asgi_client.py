"""Calling a plain ASGI app directly, for tests of what it reads and when it stops."""

from __future__ import annotations

from typing import Any


class ChunkedReceive:
    """An ASGI receive() serving `chunks` chunks of `size` bytes; counts what it served."""

    def __init__(self, chunks: int, size: int = 4096) -> None:
        self.left = chunks
        self.size = size
        self.served = 0

    async def __call__(self) -> dict[str, Any]:
        self.left -= 1
        self.served += 1
        return {"type": "http.request", "body": b"\0" * self.size, "more_body": self.left > 0}


async def post(
    app: Any, path: str, headers: list[tuple[bytes, bytes]], receive: Any
) -> tuple[int, bytes]:
    """POST to the app; (status, body) of its answer."""
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body
