"""Calm-day liquidation noise at the scale the feeds deliver: small hours, heavy-tailed spikes."""

from __future__ import annotations

import numpy as np

from pipeline.scenarios.market import DAY
from pipeline.scenarios.noise import hawkes
from tests.scenarios.helpers import hourly_longs


def calm_windows(labels):
    return [(lab.start_ts, lab.end_ts) for lab in labels if lab.kind == "calm_day"]


def test_calm_btc_hours_follow_the_feeds(calm_month):
    cfg, events, labels = calm_month
    hours = np.array(hourly_longs(events, "BTC", calm_windows(labels)))
    assert len(hours) == 19 * 24
    # Feeds: median about $0.1M an hour; calm-day p99 in the single-digit to tens of millions.
    assert np.median(hours) < 1e6
    assert 1e6 <= np.quantile(hours, 0.99) <= 3e7
    assert np.quantile(hours, 0.99) > 10 * np.median(hours)  # heavy-tailed, bursty


def test_other_assets_deliver_less(calm_month):
    cfg, events, labels = calm_month
    p99 = {a: np.quantile(hourly_longs(events, a, calm_windows(labels)), 0.99) for a in ("BTC", "ETH", "SOL", "DOGE")}
    assert 0.2 * p99["BTC"] < p99["ETH"] < 0.9 * p99["BTC"]
    assert p99["SOL"] < 0.3 * p99["BTC"] and p99["DOGE"] < 0.15 * p99["BTC"]


def test_hawkes_clusters():
    rng = np.random.default_rng(5)
    times = hawkes(rng, 0, np.full(24 * 10, 20.0), branching=0.8, decay_ms=20_000)
    assert np.all(np.diff(times) >= 0) and times[-1] < 10 * DAY
    # Mean count: base / (1 - branching); clustered: many more short gaps than a Poisson process has.
    assert 0.8 * 20 * 240 / 0.2 < len(times) < 1.2 * 20 * 240 / 0.2
    gaps = np.diff(times)
    poisson_short = 1 - np.exp(-5_000 * len(times) / (10 * DAY))
    assert np.mean(gaps < 5_000) > 2 * poisson_short
