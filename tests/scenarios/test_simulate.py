"""The simulator's episodes, measured in the events it writes."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.contracts.models import event_from_dict
from pipeline.scenarios.market import ASSETS, CASCADE_USD, MINUTE, WHALE_ASSETS
from pipeline.scenarios.simulate import KINDS, SimConfig, simulate
from tests.scenarios.helpers import by_episode, liquidations, per_minute, unique

runner = CliRunner()


def by_kind(labels, kind):
    return [lab for lab in labels if lab.kind == kind]


def test_same_seed_same_files_other_seed_other_files():
    a, la = simulate(SimConfig(days=4, per_kind=2, seed=3))
    b, lb = simulate(SimConfig(days=4, per_kind=2, seed=3))
    c, lc = simulate(SimConfig(days=4, per_kind=2, seed=4))
    assert a == b and la == lb
    assert la != lc and a[:1000] != c[:1000]


def test_every_kind_every_asset_and_valid_events(month):
    cfg, events, labels = month
    counts = Counter(lab.kind for lab in labels)
    assert counts == {**{k: cfg.per_kind for k in KINDS}, "calm_day": cfg.calm}
    for kind in ("whale_cascade", "whale_no_sell", "whale_sell_no_cascade", "internal_transfer"):
        assert {lab.asset for lab in by_kind(labels, kind)} <= set(WHALE_ASSETS)
    # Cascades without a whale on ETH and on the small assets too; contagion bursts on ETH.
    assert {lab.asset for lab in by_kind(labels, "no_whale_cascade")} == set(ASSETS)
    assert {lab.asset for lab in by_kind(labels, "contagion_cascade")} == {"ETH"}
    types = Counter((e["type"], e.get("asset")) for e in events)
    for asset in ASSETS:
        assert types[("trade_flow", asset)] > 0 and types[("liquidation", asset)] > 0
    assert {e["asset"] for e in events if e["type"] == "whale_transfer"} == set(WHALE_ASSETS)
    for e in events[::97]:  # every event type, through the strict contract models
        event_from_dict(e)


def test_calm_days_hold_no_episode(month):
    cfg, events, labels = month
    calm = by_kind(labels, "calm_day")
    assert all(lab.end_ts - lab.start_ts == 86_400_000 and lab.asset == "*" for lab in calm)
    for lab in labels:
        if lab.kind != "calm_day":
            assert not any(c.start_ts < lab.end_ts and lab.start_ts < c.end_ts for c in calm), lab
    deposits = [e["block_time"] for e in events if e["type"] == "whale_transfer"]
    assert not any(c.start_ts <= t < c.end_ts for c in calm for t in deposits)


def test_bursts_vary_in_size_duration_and_shape(month):
    cfg, events, labels = month
    bursts = by_kind(labels, "whale_cascade") + by_kind(labels, "no_whale_cascade")
    minutes = [(lab.burst_end_ts - lab.burst_start_ts) // MINUTE for lab in bursts]
    assert min(minutes) >= 10 and max(minutes) <= 90 and min(minutes) <= 20 and max(minutes) >= 75
    assert {lab.shape for lab in bursts} == {"front_loaded", "back_loaded", "waves", "plateau"}
    btc = [lab.burst_long_usd for lab in bursts if lab.asset == "BTC"]
    # Delivered (after Binance's sampling) from tens of millions to hundreds of millions and more.
    assert min(btc) < 60e6 and max(btc) > 300e6
    small = [lab.burst_long_usd for lab in bursts if lab.asset in ("SOL", "XRP", "DOGE")]
    assert small and max(small) < CASCADE_USD[1] * 0.15
    # The labelled totals are what the events carry, inside the burst window.
    lab = max(bursts, key=lambda x: x.burst_long_usd)
    own = [e for e in by_episode(events)[lab.episode_id] if e["side"] == "long"]
    assert sum(e["notional_usd"] for e in own) == pytest.approx(lab.burst_long_usd, rel=1e-6)
    assert all(lab.burst_start_ts <= e["ts"] < lab.burst_end_ts for e in own)


def _thirds(events, lab):
    own = [e for e in by_episode(events)[lab.episode_id] if e["side"] == "long"]
    m = per_minute(own, lab.burst_start_ts, (lab.burst_end_ts - lab.burst_start_ts) // MINUTE)
    k = len(m) // 3
    return m, sum(m[:k]), sum(m[-k:])


def test_shapes_show_in_the_liquidations(month):
    cfg, events, labels = month
    bursts = [lab for lab in labels if lab.shape and lab.kind in ("whale_cascade", "no_whale_cascade",
                                                                  "contagion_cascade")]
    front = [_thirds(events, lab) for lab in bursts if lab.shape == "front_loaded"]
    back = [_thirds(events, lab) for lab in bursts if lab.shape == "back_loaded"]
    assert front and back
    assert sum(first > last for _, first, last in front) >= 0.9 * len(front)
    assert sum(last > first for _, first, last in back) >= 0.9 * len(back)
    # Front-loaded: the first minutes are the largest (price gaps through support).
    assert np.median([int(np.argmax(m)) for m, _, _ in front]) <= 2


def test_whale_selling_starts_anywhere_in_the_window_and_moves_the_price(month):
    cfg, events, labels = month
    sells = by_kind(labels, "whale_cascade") + by_kind(labels, "whale_sell_no_cascade")
    starts = [(lab.sell_start_ts - lab.start_ts) // MINUTE for lab in sells]
    lengths = [(lab.sell_end_ts - lab.sell_start_ts) // MINUTE for lab in sells]
    assert min(starts) >= 0 and max(starts) <= 28 and min(starts) <= 4 and max(starts) >= 22
    assert min(lengths) >= 5 and max(lengths) <= 40 and min(lengths) <= 10 and max(lengths) >= 32
    closes = {(e["asset"], e["ts"]): e["close"] for e in unique(events)
              if e["type"] == "trade_flow" and e["venue"] == "bybit"}
    ratios = []
    for lab in sells:
        before = closes.get((lab.asset, lab.start_ts - MINUTE))
        low = min(closes.get((lab.asset, t), np.inf) for t in range(lab.sell_start_ts, lab.sell_end_ts, MINUTE))
        if before is None or low == np.inf:
            continue  # a venue gap
        noise = 100 * ASSETS[lab.asset].sigma * np.sqrt((lab.sell_end_ts - lab.start_ts) / MINUTE)
        ratios.append((before - low) / before * 100 / noise)
    assert len(ratios) > 0.8 * len(sells)
    assert np.mean(np.array(ratios) > 2) >= 0.9 and np.median(ratios) > 4
    for lab in by_kind(labels, "whale_cascade"):  # the cascade begins during or up to 30 min after the selling
        assert lab.sell_start_ts < lab.burst_start_ts <= lab.sell_end_ts + 30 * MINUTE
    late = [lab for lab in by_kind(labels, "whale_cascade") if lab.burst_start_ts > lab.sell_end_ts]
    assert late and len(late) < len(by_kind(labels, "whale_cascade"))


def test_contagion_follows_a_btc_cascade(month):
    cfg, events, labels = month
    btc = [lab for lab in labels if lab.asset == "BTC" and lab.kind in ("whale_cascade", "no_whale_cascade")]
    eth_floor = CASCADE_USD[0] * ASSETS["ETH"].scale
    smaller = 0
    for lab in by_kind(labels, "contagion_cascade"):
        offsets = [(lab.burst_start_ts - b.burst_start_ts) // MINUTE for b in btc]
        assert any(-3 <= o <= 20 for o in offsets), lab
        smaller += lab.burst_long_usd < eth_floor
    assert smaller >= len(by_kind(labels, "contagion_cascade")) // 3


def test_negatives(month):
    cfg, events, labels = month
    for lab in by_kind(labels, "short_squeeze"):
        assert lab.burst_usd > 5 * lab.burst_long_usd and lab.burst_long_usd < lab.burst_usd
    cascades = [lab for lab in labels if lab.kind in ("whale_cascade", "no_whale_cascade")]
    for lab in by_kind(labels, "small_liquidations"):
        floor = CASCADE_USD[0] * ASSETS[lab.asset].scale
        assert 0 < lab.burst_long_usd < floor / 2
        assert (lab.burst_end_ts - lab.burst_start_ts) // MINUTE <= 6
    assert all(lab.burst_long_usd > 0 for lab in cascades)
    for kind in ("whale_no_sell", "internal_transfer"):
        assert all(lab.deposit_usd and lab.burst_start_ts is None and lab.sell_start_ts is None
                   for lab in by_kind(labels, kind))
    internal = {lab.deposit_event_id for lab in by_kind(labels, "internal_transfer")}
    directions = {e["event_id"]: e["direction"] for e in events if e["type"] == "whale_transfer"}
    assert {directions[i] for i in internal} == {"exchange_internal"}


def test_too_many_episodes_is_a_clear_error(tmp_path):
    res = runner.invoke(app, ["simulate", "--days", "2", "--per-kind", "5", "--out", str(tmp_path / "e"),
                              "--labels", str(tmp_path / "l")])
    assert res.exit_code == 1 and "add days" in res.output


def test_every_cascade_stands_out_over_an_hour(month):
    """Harder, not impossible: over a 60-minute window every cascade's long liquidations are at least twice
    the most that any calm day or flurry on the same asset reaches (over 5 minutes they may not be)."""
    cfg, events, labels = month
    minutes = cfg.days * 1440
    per = {a: np.zeros(minutes) for a in ASSETS}
    for e in liquidations(events, side="long"):
        per[e["asset"]][(e["ts"] - cfg.start_ms) // MINUTE] += e["notional_usd"]
    hour = {a: np.convolve(v, np.ones(60))[:minutes] for a, v in per.items()}  # sum of the 60 minutes ending at i

    def peak(asset, t0, t1):
        return hour[asset][(t0 - cfg.start_ms) // MINUTE:(t1 - cfg.start_ms) // MINUTE + 60].max()

    calm = by_kind(labels, "calm_day")
    for asset in ASSETS:
        quiet = max([peak(asset, c.start_ts + 60 * MINUTE, c.end_ts - 60 * MINUTE) for c in calm] +
                    [peak(asset, f.burst_start_ts, f.burst_end_ts) for f in by_kind(labels, "small_liquidations")
                     if f.asset == asset])
        cascades = [peak(asset, c.burst_start_ts, c.burst_end_ts) for c in labels
                    if c.asset == asset and c.kind in ("whale_cascade", "no_whale_cascade")]
        assert cascades and min(cascades) > 2 * quiet, asset
