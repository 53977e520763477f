"""The Ctrl-C helper the command tests stop in-process commands with: it stops them even where a handler
left behind by an earlier event loop would take SIGINT, or where the first cancellation is lost."""

from __future__ import annotations

import asyncio
import signal
import threading

import pytest

from tests.waiting import interrupt_when


def run_until_interrupted(main) -> str:
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        return "interrupted"
    return "returned"


RUNNING = threading.Event()  # set once the command's loop runs: the condition the Ctrl-C waits for


async def forever():
    RUNNING.set()
    await asyncio.sleep(3600)


async def deaf_to_the_first_cancel():
    RUNNING.set()
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        pass  # a lost cancellation (as a wait_for racing its inner future can lose it)
    await asyncio.sleep(3600)


@pytest.mark.timeout(120)
def test_a_handler_left_behind_does_not_swallow_the_ctrl_c():
    taken = []
    signal.signal(signal.SIGINT, lambda *_: taken.append(1))  # what a loop never closed leaves installed
    RUNNING.clear()
    stopper = interrupt_when(RUNNING.is_set, "the command to run", again_s=60)
    assert run_until_interrupted(forever) == "interrupted"
    stopper.join(10)
    assert stopper.met and not taken


@pytest.mark.timeout(120)
def test_a_lost_cancellation_gets_a_second_ctrl_c():
    RUNNING.clear()
    stopper = interrupt_when(RUNNING.is_set, "the command to run", again_s=2)
    assert run_until_interrupted(deaf_to_the_first_cancel) == "interrupted"
    stopper.join(10)
    assert stopper.met
