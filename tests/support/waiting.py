"""Waiting for a running stack to reach a state, with a failure that says what it waited for."""

from __future__ import annotations

import time


def wait_for(what: str, probe, timeout: float, interval: float = 1.0):
    """Poll `probe` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:g}s (last: {last!r})")
