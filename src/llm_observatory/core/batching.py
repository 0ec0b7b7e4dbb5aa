"""Group commit: many concurrent callers, few large batches, each caller told when its items landed.

The collector uses it to forward exports to storage, storage to write them to the
database. A caller's `submit()` returns only after the handler has succeeded for a
batch holding all of the caller's items, and raises otherwise; that is what lets
the collector acknowledge an export only once it is committed.

Batching costs no latency at low load: an idle worker sends what is queued at once
(after at most `linger` seconds of waiting for company). Under load, items queue while
the workers are busy and the next batch takes them all, up to `batch_size`.
Memory is bounded: past `max_items` queued items (or `max_bytes`, when items have a
size), `submit()` refuses with QueueFull; a batch stops growing at `batch_size` items
or `batch_bytes`.

A handler may refuse single items and still commit the rest: it returns the refused
items' positions in the batch with a reason each, and each caller's `submit()` returns
the refusals among its own items (positions in the list it submitted). One bad item
never fails the other callers' items.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from llm_observatory.core import tracing
from llm_observatory.core.logging import get_logger

T = TypeVar("T")
log = get_logger(__name__)

# (position of an item in a list, why it was refused)
Refusal = tuple[int, str]

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
    future: asyncio.Future[list[Refusal]]
    nbytes: int = 0
    enqueued_at: float = field(default_factory=time.monotonic)
    captured: Any = None


class BatchQueue(Generic[T]):
    def __init__(
        self,
        name: str,
        handler: Callable[[list[T]], Awaitable[list[Refusal] | None]],
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
        size: Callable[[T], int] | None = None,
        max_bytes: int | None = None,
        batch_bytes: int | None = None,
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
        self._size = size
        self.max_bytes = max_bytes
        self.batch_bytes = batch_bytes
        self._queued_bytes = 0
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

    async def submit(self, items: list[T]) -> list[Refusal]:
        """Return once the handler committed `items`, with the ones it refused; raise
        Backpressure when nothing was committed."""
        if not items:
            return []
        count = len(items)
        if self._queued + count > self.max_items:
            raise QueueFull(
                f"{self.name} queue full: {self._queued} of {self.max_items} items in flight"
            )
        nbytes = sum(map(self._size, items)) if self._size is not None else 0
        # One entry may exceed max_bytes alone (it was admitted by the request limits);
        # it just cannot join a queue that holds others.
        if (
            self.max_bytes is not None
            and self._queued
            and self._queued_bytes + nbytes > self.max_bytes
        ):
            raise QueueFull(
                f"{self.name} queue full: {self._queued_bytes} of {self.max_bytes} bytes in flight"
            )
        if not self._tasks:
            raise BatchFailed(f"{self.name}: not running")
        entry: _Entry[T] = _Entry(items, asyncio.get_running_loop().create_future(), nbytes)
        if self._capture is not None:
            entry.captured = self._capture()
        self._entries.append(entry)
        self._waiting += count
        self._queued += count
        self._queued_bytes += nbytes
        self._on_depth(self._queued)
        self._ready.set()
        try:
            # shield: a caller that gives up must not cancel a batch shared with others.
            return await asyncio.wait_for(asyncio.shield(entry.future), self.timeout)
        except TimeoutError as exc:
            raise BatchFailed(f"{self.name}: not committed within {self.timeout:g}s") from exc

    def _take(self) -> list[_Entry[T]]:
        batch: list[_Entry[T]] = []
        size = 0
        nbytes = 0
        batch_bytes = self.batch_bytes
        entries = self._entries
        while entries:
            count = len(entries[0].items)
            if batch and size + count > self.batch_size:
                break
            if batch and batch_bytes is not None and nbytes + entries[0].nbytes > batch_bytes:
                break
            entry = entries.popleft()
            batch.append(entry)
            size += count
            nbytes += entry.nbytes
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
            refused = await self.handler(items)
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
            per_entry: list[list[Refusal]] = [[] for _ in batch]
            if refused:
                starts = []
                offset = 0
                for entry in batch:
                    starts.append(offset)
                    offset += len(entry.items)
                for position, reason in refused:
                    index = bisect.bisect_right(starts, position) - 1
                    per_entry[index].append((position - starts[index], reason))
            for entry, own in zip(batch, per_entry, strict=True):
                if not entry.future.done():
                    entry.future.set_result(own)
        finally:
            self._queued -= len(items)
            self._queued_bytes -= sum(entry.nbytes for entry in batch)
            self._on_depth(self._queued)


class RowQueueSettings(Protocol):
    """The queue limits the collector's and storage's settings both spell this way."""

    batch_size: int
    max_queue_size: int
    max_queue_bytes: int
    batch_max_bytes: int


def row_queue(
    name: str,
    handler: Callable[[list[Any]], Awaitable[list[Refusal] | None]],
    settings: RowQueueSettings,
    *,
    linger: float,
    workers: int,
    timeout: float,
    on_depth: Callable[[int], None],
    on_failure: Callable[[int, BaseException], None],
    on_batch: Callable[[int, float], None] | None = None,
) -> BatchQueue[Any]:
    """A queue of encoded rows (str or bytes), bounded by count and by length, that hands
    its handler the submitters' span contexts when self-tracing is on."""
    return BatchQueue(
        name,
        handler,
        batch_size=settings.batch_size,
        linger=linger,
        max_items=settings.max_queue_size,
        workers=workers,
        timeout=timeout,
        on_depth=on_depth,
        on_batch=on_batch,
        on_failure=on_failure,
        capture=tracing.current_context if tracing.enabled() else None,
        size=len,
        max_bytes=settings.max_queue_bytes,
        batch_bytes=settings.batch_max_bytes,
    )
