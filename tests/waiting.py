"""Waiting for a condition, never for a fixed time: the one way tests here deal with time passing."""

from __future__ import annotations

import os
import signal
import threading
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


class _Interrupter(threading.Thread):
    """See `interrupt_when`."""

    def __init__(self, cond: Callable[[], object], what: str, timeout: float, again_s: float):
        super().__init__(daemon=True, name="interrupt-when")
        self.cond, self.what, self.timeout, self.again_s = cond, what, timeout, again_s
        self.met: bool | None = None
        self.returned = threading.Event()

    def run(self) -> None:
        try:
            wait_for(self.cond, self.what, self.timeout)
            self.met = True
        except AssertionError:
            self.met = False
        os.kill(os.getpid(), signal.SIGINT)
        # A user whose first Ctrl-C went unanswered presses it again (asyncio.run then raises
        # KeyboardInterrupt); a test never hangs on one lost cancellation.
        for _ in range(3):
            if self.returned.wait(self.again_s):
                return
            os.kill(os.getpid(), signal.SIGINT)

    def join(self, timeout: float | None = None) -> None:
        """Call once the command returned: no further Ctrl-C is sent."""
        self.returned.set()
        super().join(timeout)


def interrupt_when(cond: Callable[[], object], what: str, timeout: float = DEFAULT_TIMEOUT_S,
                   again_s: float = 30.0) -> _Interrupter:
    """A started thread that sends this process SIGINT (Ctrl-C) once `cond` holds, or after `timeout`,
    and again every `again_s` until joined.

    For a command run in-process (typer's CliRunner, in the main thread) that runs until stopped:
    asyncio.run turns the signal into a cancellation, so the command stops as it does for a user.
    The thread's `.met` says whether the condition held; join it after the command returned."""
    # asyncio.run turns SIGINT into a cancellation only where SIGINT has Python's default handler; one
    # left behind by an earlier event loop in this process would take the signal instead.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    th = _Interrupter(cond, what, timeout, again_s)
    th.start()
    return th
