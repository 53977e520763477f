"""The external sort: event-time order, input order kept for equal times, nothing lost, bounded runs."""

from __future__ import annotations

import random

from pipeline.backtest.sort import ExternalSorter


def test_many_runs_merge_in_time_order_and_stable(tmp_path):
    rnd = random.Random(7)
    items = [(rnd.randrange(0, 500), f"e{i}".encode()) for i in range(5_000)]
    sorter = ExternalSorter(run_size=300, tmp_dir=tmp_path)
    sorter.extend(items)
    assert sorter.runs == 17
    got = list(sorter.sorted())
    want = [line for _, line in sorted(items, key=lambda x: x[0])]  # Python's sort is stable
    assert got == want
    assert not any(p.name.startswith("cascadewatch-sort-") for p in tmp_path.iterdir())


def test_small_input_stays_in_memory(tmp_path):
    sorter = ExternalSorter(run_size=10, tmp_dir=tmp_path)
    sorter.extend([(3, b"c"), (1, b"a"), (2, b"b")])
    assert sorter.runs == 1 and list(sorter.sorted()) == [b"a", b"b", b"c"]
