"""Request metrics as plain ASGI middleware (no per-request task or body copy)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llm_observatory.api import metrics


class RequestMetrics:
    def __init__(self, app: ASGIApp, static_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        # Paths without parameters served outside the API router (/docs, /openapi.json):
        # labelled as themselves. Anything else unmatched is "unmatched".
        self.static_paths = static_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            # The router puts the matched route in the scope; its template keeps the
            # label set small whatever paths clients send.
            route = getattr(scope.get("route"), "path", None)
            if not route:
                path = scope.get("path", "")
                route = path if path in self.static_paths else "unmatched"
            labels = (route, scope["method"], str(status))
            metrics.REQUEST_DURATION.labels(*labels).observe(time.perf_counter() - started)
            metrics.REQUESTS.labels(*labels).inc()
