"""Group commit: many concurrent callers, few large batches, each caller told when its items landed.

The collector uses it to forward exports to storage, storage to write them to the
database. A caller's `submit()` returns only after the handler has succeeded for a
batch holding all of the caller's items, and raises otherwise; that is what lets
the collector acknowledge an export only once it is committed.

Batching costs no latency at low load: an idle worker sends what is queued at once
(after at most `linger` seconds of waiting for company). Under load, items queue while
the workers are busy and the next batch takes them all, up to `batch_size`.
Memory is bounded: past `max_items` queued items, `submit()` refuses with QueueFull.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from llm_observatory.core.logging import get_logger

T = TypeVar("T")
log = get_logger(__name__)

# What `capture` returned at each submit of the batch the handler is running now
# (tracing: the exports' span contexts). Set inside the worker task, so each batch
# sees its own.
BATCH_CONTEXTS: ContextVar[tuple[Any, ...]] = ContextVar("batch_contexts", default=())


class Backpressure(Exception):
    """Items not stored now; the caller should retry after `retry_after` seconds."""

    retry_after: int = 1


class QueueFull(Backpressure):
    pass


class BatchFailed(Backpressure):
    retry_after = 2


@dataclass(slots=True)
class _Entry(Generic[T]):
    items: list[T]
    future: asyncio.Future[None]
    enqueued_at: float = field(default_factory=time.monotonic)
    captured: Any = None


class BatchQueue(Generic[T]):
    def __init__(
        self,
        name: str,
        handler: Callable[[list[T]], Awaitable[Any]],
        *,
        batch_size: int,
        linger: float,
        max_items: int,
        workers: int,
        timeout: float,
        on_depth: Callable[[int], None] | None = None,
        on_batch: Callable[[int, float], None] | None = None,
        on_failure: Callable[[int, BaseException], None] | None = None,
        capture: Callable[[], Any] | None = None,
    ) -> None:
        self.name = name
        self.handler = handler
        self.batch_size = batch_size
        self.linger = linger
        self.max_items = max_items
        self.workers = workers
        self.timeout = timeout
        self._on_depth = on_depth or (lambda depth: None)
        self._on_batch = on_batch or (lambda size, seconds: None)
        self._on_failure = on_failure or (lambda size, error: None)
        self._capture = capture
        self._entries: deque[_Entry[T]] = deque()
        self._waiting = 0  # items in _entries
        self._queued = 0  # items submitted and not yet resolved (waiting + in flight)
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def queued(self) -> int:
        return self._queued

    def start(self) -> None:
        for index in range(self.workers):
            self._tasks.append(asyncio.create_task(self._work(), name=f"{self.name}-{index}"))

    async def stop(self, drain_seconds: float = 10.0) -> None:
        """Finish what is queued (up to `drain_seconds`), then fail the rest as retryable."""
        deadline = time.monotonic() + drain_seconds
        while self._queued and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        while self._entries:
            entry = self._entries.popleft()
            if not entry.future.done():
                entry.future.set_exception(BatchFailed(f"{self.name}: shutting down"))

    async def submit(self, items: list[T]) -> None:
        if not items:
            return
        count = len(items)
        if self._queued + count > self.max_items:
            raise QueueFull(
                f"{self.name} queue full: {self._queued} of {self.max_items} items in flight"
            )
        if not self._tasks:
            raise BatchFailed(f"{self.name}: not running")
        entry: _Entry[T] = _Entry(items, asyncio.get_running_loop().create_future())
        if self._capture is not None:
            entry.captured = self._capture()
        self._entries.append(entry)
        self._waiting += count
        self._queued += count
        self._on_depth(self._queued)
        self._ready.set()
        try:
            # shield: a caller that gives up must not cancel a batch shared with others.
            await asyncio.wait_for(asyncio.shield(entry.future), self.timeout)
        except TimeoutError as exc:
            raise BatchFailed(f"{self.name}: not committed within {self.timeout:g}s") from exc

    def _take(self) -> list[_Entry[T]]:
        batch: list[_Entry[T]] = []
        size = 0
        entries = self._entries
        while entries:
            count = len(entries[0].items)
            if batch and size + count > self.batch_size:
                break
            batch.append(entries.popleft())
            size += count
        self._waiting -= size
        if not entries:
            self._ready.clear()
        return batch

    async def _work(self) -> None:
        while True:
            await self._ready.wait()
            if self.linger > 0 and self._waiting < self.batch_size and self._entries:
                delay = self._entries[0].enqueued_at + self.linger - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            batch = self._take()
            if batch:
                await self._run(batch)

    async def _run(self, batch: list[_Entry[T]]) -> None:
        items = [item for entry in batch for item in entry.items]
        started = time.perf_counter()
        if self._capture is not None:
            BATCH_CONTEXTS.set(tuple(entry.captured for entry in batch))
        try:
            await self.handler(items)
        except Exception as exc:
            self._on_failure(len(items), exc)
            log.warning("batch failed", queue=self.name, items=len(items), error=str(exc))
            error = exc if isinstance(exc, Backpressure) else BatchFailed(f"{self.name}: {exc}")
            for entry in batch:
                if not entry.future.done():
                    entry.future.set_exception(error)
                    # Retrieved here so a caller that timed out leaves no asyncio warning.
                    entry.future.exception()
        else:
            self._on_batch(len(items), time.perf_counter() - started)
            for entry in batch:
                if not entry.future.done():
                    entry.future.set_result(None)
        finally:
            self._queued -= len(items)
            self._on_depth(self._queued)
