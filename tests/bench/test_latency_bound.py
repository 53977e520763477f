"""The hindsight oracle of bench/latency_bound.py: when a burst's windows first outgrow the ordinary ones."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from latency_bound import oracle_latencies  # noqa: E402

STEP_MS = 5_000
PER_MIN = 12  # steps per minute


def test_a_steady_burst_is_called_when_its_one_minute_sum_passes_the_largest_ordinary_one():
    series = np.zeros(PER_MIN * 300)
    series[PER_MIN * 50] = 1_000.0  # the largest ordinary print: any window holding it sums to 1,000
    start = PER_MIN * 200
    series[start:start + PER_MIN * 30] = 100.0  # 100 per step: 1,200 per minute
    [latency] = oracle_latencies(series, [(start, start + PER_MIN * 30 - 1)], STEP_MS, PER_MIN * 240)
    # The 1-minute window passes 1,000 at its 11th step (1,100), 55 s after the start.
    assert latency == pytest.approx(55.0)


def test_ordinary_windows_beyond_the_horizon_do_not_hold_the_bar_up():
    series = np.zeros(PER_MIN * 600)
    series[PER_MIN * 10] = 50_000.0  # far before the burst
    start = PER_MIN * 500
    series[start:start + PER_MIN * 10] = 100.0
    near, far = (oracle_latencies(series, [(start, start + PER_MIN * 10 - 1)], STEP_MS, PER_MIN * h)[0]
                 for h in (60, 600))
    assert near == pytest.approx(5.0)
    assert far is None  # 12,000 in the burst's hour never passes the 50,000 print: not separable


def test_a_windows_overlap_with_the_burst_is_not_ordinary():
    series = np.zeros(PER_MIN * 300)
    start = PER_MIN * 100
    series[start:start + PER_MIN * 20] = 10.0
    series[start + PER_MIN * 20] = 0.0
    [latency] = oracle_latencies(series, [(start, start + PER_MIN * 20 - 1)], STEP_MS, PER_MIN * 100)
    assert latency == pytest.approx(5.0)  # nothing ordinary at all: the first step of the burst passes
