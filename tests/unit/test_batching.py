from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from llm_observatory.core.batching import BatchFailed, BatchQueue, QueueFull, row_queue


def make_queue(handler, **overrides) -> BatchQueue:
    options = {
        "batch_size": 100,
        "linger": 0.0,
        "max_items": 1000,
        "workers": 1,
        "timeout": 5.0,
    } | overrides
    return BatchQueue("test", handler, **options)


async def test_submit_returns_after_the_handler_has_the_items():
    seen: list[int] = []

    async def handler(items):
        seen.extend(items)

    queue = make_queue(handler)
    queue.start()
    await queue.submit([1, 2, 3])
    assert seen == [1, 2, 3]
    await queue.stop()


async def test_concurrent_submits_share_batches():
    batches: list[list[int]] = []
    gate = asyncio.Event()

    async def handler(items):
        batches.append(list(items))
        await gate.wait()

    queue = make_queue(handler, batch_size=50)
    queue.start()
    first = asyncio.create_task(queue.submit([0]))
    await asyncio.sleep(0.01)  # the worker is now busy with the first batch
    rest = [asyncio.create_task(queue.submit([i, i])) for i in range(1, 11)]
    await asyncio.sleep(0.01)
    gate.set()
    await asyncio.gather(first, *rest)
    assert batches[0] == [0]
    assert len(batches) == 2 and len(batches[1]) == 20  # ten exports, one transaction
    await queue.stop()


async def test_batches_respect_batch_size_without_splitting_an_export():
    batches: list[int] = []
    gate = asyncio.Event()

    async def handler(items):
        batches.append(len(items))
        await gate.wait()

    queue = make_queue(handler, batch_size=10)
    queue.start()
    blocker = asyncio.create_task(queue.submit([0]))
    await asyncio.sleep(0.01)
    tasks = [asyncio.create_task(queue.submit(list(range(4)))) for _ in range(5)]
    await asyncio.sleep(0.01)
    gate.set()
    await asyncio.gather(blocker, *tasks)
    assert batches == [1, 8, 8, 4]
    await queue.stop()


async def test_a_failed_batch_fails_every_export_in_it():
    async def handler(items):
        raise ConnectionError("database went away")

    queue = make_queue(handler)
    queue.start()
    results = await asyncio.gather(queue.submit([1]), queue.submit([2]), return_exceptions=True)
    assert all(isinstance(result, BatchFailed) for result in results)
    assert "database went away" in str(results[0])
    assert queue.queued == 0
    await queue.stop()


async def test_queue_full_refuses_beyond_max_items_and_recovers():
    gate = asyncio.Event()

    async def handler(items):
        await gate.wait()

    queue = make_queue(handler, max_items=10)
    queue.start()
    pending = [asyncio.create_task(queue.submit([0] * 5)) for _ in range(2)]
    await asyncio.sleep(0.01)
    with pytest.raises(QueueFull, match="10 of 10"):
        await queue.submit([1])
    gate.set()
    await asyncio.gather(*pending)
    await queue.submit([1])  # room again
    await queue.stop()


async def test_linger_waits_for_company_but_not_longer():
    batches: list[int] = []

    async def handler(items):
        batches.append(len(items))

    queue = make_queue(handler, linger=0.05)
    queue.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(queue.submit([1]), queue.submit([2]))
    elapsed = loop.time() - started
    assert batches == [2]
    assert 0.04 <= elapsed < 1.0
    await queue.stop()


async def test_timeout_is_a_retryable_failure():
    async def handler(items):
        await asyncio.sleep(10)

    queue = make_queue(handler, timeout=0.05)
    queue.start()
    with pytest.raises(BatchFailed, match="not committed within"):
        await queue.submit([1])
    await queue.stop(drain_seconds=0)


async def test_stop_drains_what_is_queued():
    seen: list[int] = []

    async def handler(items):
        await asyncio.sleep(0.01)
        seen.extend(items)

    queue = make_queue(handler, batch_size=1)
    queue.start()
    tasks = [asyncio.create_task(queue.submit([i])) for i in range(5)]
    await asyncio.sleep(0)
    await queue.stop()
    await asyncio.gather(*tasks)
    assert sorted(seen) == [0, 1, 2, 3, 4]


async def test_refusals_come_back_to_each_submitter_at_its_own_positions():
    gate = asyncio.Event()
    batches: list[list[str]] = []

    async def handler(items):
        await gate.wait()
        batches.append(list(items))
        return [(i, f"bad {item}") for i, item in enumerate(items) if item.startswith("bad")]

    queue = make_queue(handler)
    queue.start()
    blocker = asyncio.create_task(queue.submit(["first"]))
    await asyncio.sleep(0.01)  # the next three share one batch
    a = asyncio.create_task(queue.submit(["a0", "bad-a1", "a2"]))
    b = asyncio.create_task(queue.submit(["b0", "b1"]))
    c = asyncio.create_task(queue.submit(["bad-c0", "c1", "bad-c2"]))
    await asyncio.sleep(0.01)
    gate.set()
    assert await blocker == []
    assert await a == [(1, "bad bad-a1")]
    assert await b == []
    assert await c == [(0, "bad bad-c0"), (2, "bad bad-c2")]
    assert len(batches) == 2 and len(batches[1]) == 8  # one batch, positions 0..7 in it
    await queue.stop()


async def test_max_bytes_refuses_beyond_the_queued_size_and_recovers():
    gate = asyncio.Event()

    async def handler(items):
        await gate.wait()

    queue = make_queue(handler, size=len, max_bytes=100)
    queue.start()
    for _ in range(2):  # the second round sees the bytes of the first released
        gate.clear()
        pending = asyncio.create_task(queue.submit(["x" * 60]))
        await asyncio.sleep(0.01)
        with pytest.raises(QueueFull, match="60 of 100 bytes"):
            await queue.submit(["y" * 41])
        fits = asyncio.create_task(queue.submit(["y" * 40]))
        await asyncio.sleep(0.01)
        gate.set()
        await asyncio.gather(pending, fits)
    await queue.stop()


async def test_one_entry_larger_than_max_bytes_passes_alone():
    seen: list[int] = []

    async def handler(items):
        seen.append(sum(map(len, items)))

    queue = make_queue(handler, size=len, max_bytes=100)
    queue.start()
    await queue.submit(["x" * 500])  # the request limits admitted it; the queue was empty
    assert seen == [500]
    await queue.stop()


async def test_batch_bytes_ends_a_batch_without_splitting_an_export():
    batches: list[list[int]] = []
    gate = asyncio.Event()

    async def handler(items):
        batches.append([len(item) for item in items])
        await gate.wait()

    queue = make_queue(handler, size=len, batch_bytes=100)
    queue.start()
    blocker = asyncio.create_task(queue.submit(["b"]))
    await asyncio.sleep(0.01)
    tasks = [asyncio.create_task(queue.submit(["x" * 30, "x" * 10])) for _ in range(5)]
    tasks.append(asyncio.create_task(queue.submit(["x" * 150])))  # alone over the limit
    await asyncio.sleep(0.01)
    gate.set()
    await asyncio.gather(blocker, *tasks)
    # 40 bytes per export: two fit in 100, a third would not; the 150-byte one goes alone
    assert batches == [[1], [30, 10, 30, 10], [30, 10, 30, 10], [30, 10], [150]]
    await queue.stop()


async def test_row_queue_takes_its_limits_from_the_settings_and_sizes_rows_by_length():
    gate = asyncio.Event()
    batches: list[list[str]] = []

    async def handler(rows):
        batches.append(list(rows))
        await gate.wait()

    settings = SimpleNamespace(
        batch_size=2, max_queue_size=5, max_queue_bytes=100, batch_max_bytes=50
    )
    failures: list[int] = []
    queue = row_queue(
        "rows",
        handler,
        settings,
        linger=0.0,
        workers=1,
        timeout=5.0,
        on_depth=lambda depth: None,
        on_failure=lambda size, error: failures.append(size),
    )
    assert (queue.batch_size, queue.max_items) == (2, 5)
    queue.start()
    blocker = asyncio.create_task(queue.submit(["b"]))
    await asyncio.sleep(0.01)
    with pytest.raises(QueueFull, match="1 of 100 bytes"):  # rows count their length
        await queue.submit(["x" * 100])
    with pytest.raises(QueueFull, match="items in flight"):  # max_queue_size
        await queue.submit(["r"] * 5)
    waiting = [asyncio.create_task(queue.submit(["y" * 30])) for _ in range(3)]
    await asyncio.sleep(0.01)
    gate.set()
    await asyncio.gather(blocker, *waiting)
    # batch_max_bytes (50) keeps two 30-character rows apart
    assert batches == [["b"], ["y" * 30], ["y" * 30], ["y" * 30]]
    assert failures == []
    await queue.stop()
