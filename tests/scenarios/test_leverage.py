"""Simulated open interest and funding: built up before most cascades, flushed during them, drifting in
calm; the bundled scenario builds up the day before the deposit and flushes during the cascade."""

from __future__ import annotations

import numpy as np

from pipeline.contracts.models import Leverage
from pipeline.detect.config import DetectorConfig
from pipeline.detect.leverage import LeverageBook
from pipeline.scenarios import aug2025
from pipeline.scenarios.leverage import Episode, path
from pipeline.scenarios.market import MINUTE

CASCADES = ("whale_cascade", "no_whale_cascade", "contagion_cascade")


def total_oi(events: list[dict], asset: str) -> dict[int, float]:
    """Open interest across the venues per minute (each venue's last figure of the minute)."""
    last: dict[str, float] = {}
    out: dict[int, float] = {}
    for e in sorted((e for e in events if e["type"] == "leverage" and e["asset"] == asset), key=lambda e: e["ts"]):
        last[e["venue"]] = e["open_interest_usd"]
        out[e["ts"] // MINUTE] = sum(last.values())
    return out


def near(series: dict[int, float], minute: int) -> float:
    keys = [k for k in series if k <= minute]
    return series[max(keys)]


def test_cascades_flush_open_interest_and_most_were_built_up(month):
    cfg, events, labels = month
    lev = [e for e in events if e["type"] == "leverage"]
    assert lev and {e["asset"] for e in lev} == {"BTC", "ETH", "SOL", "XRP", "DOGE"}
    flushes, builds = [], []
    series = {a: total_oi(events, a) for a in ("BTC", "ETH")}
    for lab in labels:
        if lab.kind not in CASCADES or lab.asset not in series:
            continue
        s, b0, b1 = series[lab.asset], lab.burst_start_ts // MINUTE, lab.burst_end_ts // MINUTE
        if b0 - 24 * 60 < min(s):
            continue
        flushes.append(near(s, b1) / near(s, b0) - 1)
        builds.append(near(s, b0) / near(s, b0 - 24 * 60) - 1)
    assert len(flushes) >= 20
    assert np.mean(np.array(flushes) < -0.01) > 0.8  # open interest falls during the burst
    assert 0.4 < np.mean(np.array(builds) > 0.03) < 0.95  # most, not all, come after a build-up


def test_calm_days_drift_without_cascade_sized_moves(calm_month):
    _, events, _ = calm_month
    s = total_oi(events, "BTC")
    minutes = sorted(s)
    day = [s[m] for m in minutes if m - minutes[0] < 24 * 60 * 19]
    hourly = np.array(day[:: 6])
    assert np.max(np.abs(np.diff(np.log(hourly)))) < 0.03  # no hour moves 3%


def test_path_shapes():
    rng = np.random.default_rng(3)
    flat, _ = path(rng, 3 * 1440, [])
    assert np.all(np.abs(np.log(flat)) < 0.1)
    rel, funding = path(np.random.default_rng(3), 3 * 1440, [Episode(2 * 1440, 10.0, 8.0, 30)])
    assert rel[2 * 1440 - 1] / rel[1440 - 1] > 1.07  # +10% built over the day before
    assert rel[2 * 1440 + 30] / rel[2 * 1440] < 0.94  # -8% in the 30 minutes of the burst
    assert funding[2 * 1440 - 1] > 3 * funding[1440 - 1] and funding[2 * 1440 + 10] < 0


def test_bundled_scenario_builds_up_then_flushes():
    events = aug2025.generate()
    book, cfg = LeverageBook(), DetectorConfig()
    for e in sorted((e for e in events if e["type"] == "leverage" and e["asset"] == "BTC"), key=lambda e: e["ts"]):
        book.add(Leverage.model_validate(e))
    before = book.context(cfg, aug2025.WHALE_DEPOSIT_AT)
    assert before["building"] and before["oi_percentile_30d"] >= 0.99 and before["funding_zscore"] > 3
    flush = book.flush(aug2025.CASCADE_FROM - MINUTE, aug2025.CASCADE_TO)
    assert 7 < flush["drop_pct"] < 9 and flush["drop_usd"] > 2e9
