"""Structured logging for every service: one JSON object a line, or readable lines in dev.

structlog renders both our own events and the standard library's (uvicorn, alembic,
grpc), so `docker compose logs | jq` works on everything a container prints.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog


def configure_logging(
    level: str = "info", fmt: Literal["json", "pretty"] = "json", service: str | None = None
) -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if service:
        shared.insert(0, _bind_service(service))
    renderer: structlog.types.Processor
    if fmt == "json":
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn installs its own handlers; route them through ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # One line per request at info is noise at 10k spans/s; keep them for debug.
    chatty = "DEBUG" if level == "debug" else "WARNING"
    for name in ("uvicorn.access", "httpx"):
        logging.getLogger(name).setLevel(chatty)
    # Even in debug mode: a dozen lines per HTTP request hide everything else.
    for name in ("httpcore", "grpc._cython.cygrpc", "asyncio"):
        logging.getLogger(name).setLevel("WARNING")


def _bind_service(service: str) -> structlog.types.Processor:
    def processor(_logger, _name, event_dict):  # type: ignore[no-untyped-def]
        event_dict.setdefault("service", service)
        return event_dict

    return processor


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
