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


def interrupt_when(cond: Callable[[], object], what: str, timeout: float = DEFAULT_TIMEOUT_S):
    """A started thread that sends this process SIGINT (Ctrl-C) once `cond` holds, or after `timeout`.

    For a command run in-process (typer's CliRunner, in the main thread) that runs until stopped:
    asyncio.run turns the signal into a cancellation, so the command stops as it does for a user.
    The thread's `.met` says whether the condition held; join it after the command returned."""
    import os
    import signal
    import threading

    def target():
        try:
            wait_for(cond, what, timeout)
            th.met = True
        except AssertionError:
            th.met = False
        os.kill(os.getpid(), signal.SIGINT)

    th = threading.Thread(target=target, daemon=True, name="interrupt-when")
    th.met = None
    th.start()
    return th
