"""Scenarios run round-robin at a steady rate, with a health check that they keep finishing."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter

from llm_observatory.core.logging import get_logger
from llm_observatory.playground.scenarios import Outcome

log = get_logger("llm_observatory.playground")


class Runner(Protocol):
    def run(self, name: str) -> Outcome: ...


class Stalled(RuntimeError):
    """No scenario finished for a while: the provider or the collector hangs."""


class Pacer:
    """Round-robin scenarios at `rate` per second, at most `workers` in flight."""

    def __init__(self, playground: Runner, scenarios: list[str], rate: float, workers: int):
        self.playground = playground
        self.scenarios = scenarios
        self.rate = rate
        self.workers = workers
        self.stop = threading.Event()
        self.registry = CollectorRegistry()
        self.traces = Counter(
            "playground_traces",
            "Scenario runs (one trace each) by outcome: ok, error (failure scenarios "
            "end in error on purpose)",
            ["scenario", "outcome"],
            registry=self.registry,
        )
        self.skipped = Counter(
            "playground_skipped_ticks",
            "Ticks skipped because every worker was busy (the rate is not reached)",
            registry=self.registry,
        )
        self.last_finished = time.monotonic()
        self._in_flight = threading.Semaphore(workers)

    @property
    def stale_after(self) -> float:
        # Healthy while something finished recently: a few intervals, never under 30 s.
        return max(30.0, 5.0 / self.rate)

    async def check(self) -> None:
        """The health check (core/ops.py): raises when no scenario finished lately."""
        idle = time.monotonic() - self.last_finished
        if idle >= self.stale_after:
            raise Stalled(f"no scenario finished for {idle:.0f}s")

    def _run(self, name: str) -> None:
        try:
            outcome = self.playground.run(name)
            self.traces.labels(name, "ok" if outcome.ok else "error").inc()
            log.debug(
                "trace",
                scenario=name,
                trace_id=outcome.trace_id,
                ok=outcome.ok,
                error=outcome.error,
                ms=round(outcome.seconds * 1000, 1),
            )
        except Exception:  # a bug in a scenario must not stop the others
            self.traces.labels(name, "crash").inc()
            log.exception("scenario crashed", scenario=name)
        finally:
            self.last_finished = time.monotonic()
            self._in_flight.release()

    def run_forever(self) -> None:
        """Until `stop` is set; waits for the scenarios in flight."""
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        index = 0
        with ThreadPoolExecutor(self.workers, thread_name_prefix="scenario") as pool:
            while not self.stop.is_set():
                delay = next_at - time.monotonic()
                if delay > 0:
                    self.stop.wait(delay)
                    continue
                if self._in_flight.acquire(blocking=False):
                    pool.submit(self._run, self.scenarios[index % len(self.scenarios)])
                    index += 1
                else:
                    self.skipped.inc()
                next_at += interval
                # After a stall (a suspended laptop), resume the pace instead of bursting.
                if time.monotonic() - next_at > 5 * interval:
                    next_at = time.monotonic()
