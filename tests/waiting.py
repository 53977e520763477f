"""Waiting for a condition, never for a fixed time: the one way tests here deal with time passing."""

from __future__ import annotations

import time
from collections.abc import Callable

#: generous: a loaded 2-core machine is slow, a correct program still gets there long before this
DEFAULT_TIMEOUT_S = 60.0


def wait_for(cond: Callable[[], object], what: str, timeout: float = DEFAULT_TIMEOUT_S, step: float = 0.02):
    """Poll `cond` until it returns something truthy (returned); AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)
