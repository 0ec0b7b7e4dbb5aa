"""A batch deadlocked with another writer is tried again, a bounded number of times."""

from __future__ import annotations

import psycopg
import pytest

from llm_observatory.core.signals import TRACES
from llm_observatory.storage import writer as writer_module
from llm_observatory.storage.writer import TableWriter


def _writer(monkeypatch, failures: list[Exception]) -> tuple[TableWriter, list[int]]:
    writer = TableWriter(None, TRACES)  # type: ignore[arg-type]
    attempts: list[int] = []

    async def attempt(rows: list[bytes]) -> int:
        attempts.append(len(rows))
        if failures:
            raise failures.pop(0)
        return len(rows)

    async def no_wait(_: float) -> None:
        return None

    monkeypatch.setattr(writer, "_attempt", attempt)
    monkeypatch.setattr(writer_module.asyncio, "sleep", no_wait)
    return writer, attempts


async def test_a_deadlocked_batch_is_written_on_a_later_try(monkeypatch):
    failures: list[Exception] = [
        psycopg.errors.DeadlockDetected("deadlock detected"),
        psycopg.errors.SerializationFailure("could not serialize access"),
    ]
    writer, attempts = _writer(monkeypatch, failures)
    result = await writer.write_rows([b"a", b"b"])
    assert result.inserted == 2 and not result.refused
    assert attempts == [2, 2, 2]


async def test_a_batch_that_keeps_deadlocking_fails_after_the_retries(monkeypatch):
    failures: list[Exception] = [
        psycopg.errors.DeadlockDetected("deadlock detected")
        for _ in range(writer_module.TRANSIENT_RETRIES + 5)
    ]
    writer, attempts = _writer(monkeypatch, failures)
    with pytest.raises(psycopg.errors.DeadlockDetected):
        await writer.write_rows([b"a"])
    assert len(attempts) == writer_module.TRANSIENT_RETRIES + 1


async def test_other_errors_are_not_retried(monkeypatch):
    writer, attempts = _writer(monkeypatch, [psycopg.OperationalError("connection lost")])
    with pytest.raises(psycopg.OperationalError):
        await writer.write_rows([b"a"])
    assert attempts == [1]
