"""Garbage collection for a process that streams events through a large, long-lived state.

Python collects its youngest generation every 700 net new container objects. The detector keeps hours
of rows per asset and each event makes and drops a few objects, so at the default a collection ran
every few hundred events and walked the young state each time: 13% of parse + detect
(`bench/core.py`, 200,000 events: 373 collections, 0.25 s of 1.98 s). At 50,000 it runs rarely,
and the few reference cycles the pipeline makes are still collected.
"""

from __future__ import annotations

import gc

THRESHOLD = (50_000, 20, 100)


def tune_gc() -> None:
    """Collect what there is, then collect the youngest generation every THRESHOLD[0] net new objects."""
    gc.collect()
    gc.set_threshold(*THRESHOLD)
