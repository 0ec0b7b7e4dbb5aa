"""Shared by the collector's tests: the default limits, decoding shortcuts, a storage
double and an in-process collector (pipeline + exporter) in front of it.

    decode_body("traces", body)        -> Decoded(records, rejected)
    async with running_collector(settings) as (pipeline, storage): ...
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

from llm_observatory.collector import decode
from llm_observatory.collector.exporter import Exporter, StorageUnavailable
from llm_observatory.collector.limits import Limits
from llm_observatory.collector.pipeline import Pipeline
from llm_observatory.core.records import Rejection
from llm_observatory.core.settings import CollectorSettings
from llm_observatory.core.signals import SIGNALS

PROTOBUF = decode.CONTENT_TYPE_PROTOBUF
JSON = decode.CONTENT_TYPE_JSON

# The defaults of CollectorSettings, whatever the environment says.
LIMITS = Limits.from_settings(CollectorSettings.model_construct())


def limits(**overrides: int) -> Limits:
    """The default limits with some changed."""
    return Limits.from_settings(CollectorSettings.model_construct(**overrides))


class Decoded(NamedTuple):
    records: list[Any]
    rejected: Rejection


def parse(signal: str, body: bytes, media_type: str = PROTOBUF, limits: Limits = LIMITS) -> Any:
    return decode.parse(SIGNALS[signal], body, media_type, limits)


def records(signal: str, request: Any, limits: Limits = LIMITS) -> Decoded:
    rejected = Rejection()
    return Decoded(decode.records(SIGNALS[signal], request, limits, rejected), rejected)


def decode_body(
    signal: str, body: bytes, media_type: str = PROTOBUF, limits: Limits = LIMITS
) -> Decoded:
    """An OTLP body through parse and records, as the pipeline decodes it."""
    return records(signal, parse(signal, body, media_type, limits), limits)


def row_fields(signal: str, row: str) -> dict[str, str]:
    """One COPY text row -> {column: field text}."""
    columns = SIGNALS[signal].table.column_names
    return dict(zip(columns, row.split("\t"), strict=True))


class StorageDouble:
    """Stands in for storage's ingest API: keeps the rows, or stalls, breaks, refuses rows.

    `refuse(fields) -> reason or None` refuses single rows, as storage refuses the rows
    PostgreSQL refuses.
    """

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, str]]] = defaultdict(list)
        self.batches: list[int] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.broken = False
        self.refuse: Callable[[dict[str, str]], str | None] | None = None

    async def ingest(self, signal: str, rows: list[str]) -> list[tuple[int, str]]:
        await self.gate.wait()
        if self.broken:
            raise StorageUnavailable("storage unreachable: ConnectError")
        self.batches.append(len(rows))
        refused = []
        for position, row in enumerate(rows):
            fields = row_fields(signal, row)
            reason = self.refuse(fields) if self.refuse is not None else None
            if reason:
                refused.append((position, reason))
            else:
                self.rows[signal].append(fields)
        return refused

    async def health(self) -> None:
        return None

    async def close(self) -> None:
        return None


def collector_settings(**overrides: Any) -> CollectorSettings:
    """Settings for an in-process collector: PII and cost off unless asked for."""
    options: dict[str, Any] = {"enable_pii_detection": False, "enable_cost_calculation": False}
    return CollectorSettings(**(options | overrides))


@contextlib.asynccontextmanager
async def running_collector(
    settings: CollectorSettings | None = None, storage: Any = None
) -> AsyncIterator[tuple[Pipeline, Any]]:
    """A pipeline and its exporter, started, forwarding to `storage` (a StorageDouble)."""
    settings = settings or collector_settings()
    storage = storage if storage is not None else StorageDouble()
    exporter = Exporter(settings, storage)
    pipeline = Pipeline(settings, exporter)
    await exporter.start()
    try:
        yield pipeline, storage
    finally:
        if isinstance(storage, StorageDouble):
            storage.gate.set()
        await exporter.stop()
        pipeline.close()
