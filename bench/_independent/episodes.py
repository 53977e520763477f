"""Each episode kind, placed into the world: what it does to prices, flow, open interest,
liquidations and the chain, and its label.

- whale_cascade: a deposit of $60M-$2.5B (BTC; ETH x0.3) to an exchange; selling starts 0-25 min
  after the block and lasts 5-40 min (0.6-2% drop, sell share 0.60-0.72, volume x1.8-4); the burst
  starts 30-120% of the way through the selling.
- no_whale_cascade: 0-10 min of mild selling, then the burst.
- contagion: a BTC no-whale cascade, then an ETH burst 0-20 min after it began (x0.3-1.5 the size of
  an ETH cascade); the ETH label's window starts at the BTC burst.
- A cascade's burst lasts 10-90 min, its worst hour log-uniform $10M-$500M on BTC (ETH x0.5, SOL
  x0.11); the price falls with the cumulative burst (1.5-3% x (1 + log10(size / $10M))) and then
  retraces 20-50%; open interest flushes 3-12%; a few shorts are liquidated on the bounce.
- Negatives: whale_no_sell (a deposit nobody sells); whale_sell_no_cascade (selling, then recovery
  and buying, few extra liquidations); short_squeeze (up 1.5-5%, a short burst of $8M-$200M on BTC,
  scaled); small_liquidations (2-6 min, $1.5-5M on BTC, scaled, 0.3-0.8% dip); a calm UTC day.
"""

from __future__ import annotations

import math

from _independent.chain import whale_transfer
from _independent.schedule import plan
from _independent.shapes import SHAPES, burst
from _independent.world import ASSETS, DAY, HOUR, MINUTE, SECOND, World

WHALE_KINDS = ("whale_cascade", "whale_no_sell", "whale_sell_no_cascade")


def cascade_size(w: World, asset: str, lo: float = 10e6, hi: float = 500e6) -> float:
    """A worst hour, log-uniform between lo and hi on BTC, scaled to the asset."""
    return math.exp(w.rng.uniform(math.log(lo), math.log(hi))) * ASSETS[asset]["scale"]


def cascade(w: World, eid: str, kind: str, asset: str, t: float, worst: float | None = None,
            extra: dict | None = None) -> dict:
    """A long liquidation cascade whose burst starts at t; returns its label."""
    rng = w.rng
    minutes = int(rng.integers(10, 91))
    shape = w.prng.choice(SHAPES)
    worst = worst or cascade_size(w, asset)
    med = ASSETS[asset]["liq_med"] * rng.uniform(4, 12)
    prof = burst(w, asset, "long", t, minutes, worst, shape, eid, med)
    drop = -rng.uniform(1.5, 3.0) * (1 + math.log10(worst / (10e6 * ASSETS[asset]["scale"])))
    w.price_move(asset, t, minutes * MINUTE, drop, prof)
    w.price_move(asset, t + minutes * MINUTE, rng.uniform(20, 60) * MINUTE, -drop * rng.uniform(0.2, 0.5))
    w.flow_effect(asset, t, minutes * MINUTE, rng.uniform(3, 8), rng.uniform(0.65, 0.8))
    m0 = int(t // MINUTE)
    w.oi_flush[asset][m0:m0 + minutes] += -rng.uniform(0.03, 0.12) * prof[: max(0, min(minutes, w.nmin - m0))]
    for _ in range(int(rng.integers(3, 15))):  # shorts liquidated on the bounce
        w.add_liq(t + (minutes + rng.uniform(0, 30)) * MINUTE, asset, "short",
                  rng.lognormal(math.log(ASSETS[asset]["liq_med"] * 3), 1.5), None)
    d = {"episode_id": eid, "kind": kind, "asset": asset, "burst_start_ts": w.t0 + int(t),
         "burst_end_ts": w.t0 + int(t + minutes * MINUTE), "shape": shape,
         "end_ts": w.t0 + int(t + (minutes + 30) * MINUTE),
         "_worst_hour": round(worst), "_minutes": minutes, "_drop": round(drop, 2)}
    if extra:
        d.update(extra)
    d.setdefault("start_ts", w.t0 + int(t) - 5 * MINUTE)
    return w.label(**d)


def contagion(w: World, eid: str, t: float) -> None:
    cascade(w, eid + "b", "no_whale_cascade", "BTC", t)
    eth_t = t + w.rng.uniform(0, 20) * MINUTE
    worst = cascade_size(w, "ETH") * w.rng.uniform(0.3, 1.5)
    cascade(w, eid + "e", "contagion_cascade", "ETH", eth_t, worst=worst,
            extra={"start_ts": w.t0 + int(t), "_src": eid + "b"})


def whale(w: World, eid: str, kind: str, asset: str, t: float) -> None:
    rng = w.rng
    usd = math.exp(rng.uniform(math.log(60e6), math.log(2.5e9))) * (1 if asset == "BTC" else 0.3)
    dep = whale_transfer(w, asset, t, usd)
    t = dep["_rel"]
    base = {"deposit_event_id": dep["event_id"], "deposit_usd": dep["usd_value"], "start_ts": w.t0 + int(t)}
    if kind == "whale_no_sell":
        w.label(episode_id=eid, kind=kind, asset=asset, end_ts=w.t0 + int(t + 180 * MINUTE), **base)
        return
    sell_t = t + rng.uniform(0, 25) * MINUTE
    sell_d = rng.uniform(5, 40) * MINUTE
    sell_drop = -rng.uniform(0.6, 2.0)
    w.price_move(asset, sell_t, sell_d, sell_drop)
    w.flow_effect(asset, sell_t, sell_d, rng.uniform(1.8, 4), rng.uniform(0.6, 0.72))
    base.update(sell_start_ts=w.t0 + int(sell_t), sell_end_ts=w.t0 + int(sell_t + sell_d),
                sell_drop_pct=round(-sell_drop, 3))
    if kind == "whale_sell_no_cascade":
        # dip buyers absorb it: the price recovers, buying follows, liquidations only slightly up
        w.price_move(asset, sell_t + sell_d, rng.uniform(15, 45) * MINUTE, -sell_drop * rng.uniform(0.6, 1.0))
        w.flow_effect(asset, sell_t + sell_d, 20 * MINUTE, 1.8, 0.38)
        for _ in range(int(rng.integers(5, 25))):
            w.add_liq(sell_t + rng.uniform(0, sell_d), asset, "long",
                      rng.lognormal(math.log(ASSETS[asset]["liq_med"] * 2), 1.6), None)
        w.label(episode_id=eid, kind=kind, asset=asset, end_ts=w.t0 + int(sell_t + sell_d + 60 * MINUTE), **base)
        return
    cascade(w, eid, "whale_cascade", asset, sell_t + sell_d * rng.uniform(0.3, 1.2), extra=base)


def no_whale(w: World, eid: str, asset: str, t: float) -> None:
    pre = w.rng.uniform(0, 10) * MINUTE  # some taker selling first, no deposit
    w.flow_effect(asset, t - pre, pre, 1.5, 0.58)
    w.price_move(asset, t - pre, max(pre, SECOND), -w.rng.uniform(0.1, 0.6))
    cascade(w, eid, "no_whale_cascade", asset, t)


def short_squeeze(w: World, eid: str, asset: str, t: float) -> None:
    rng = w.rng
    minutes = int(rng.integers(8, 60))
    shape = w.prng.choice(SHAPES)
    worst = cascade_size(w, asset, 8e6, 200e6)
    prof = burst(w, asset, "short", t, minutes, worst, shape, eid, ASSETS[asset]["liq_med"] * 6)
    w.price_move(asset, t, minutes * MINUTE, rng.uniform(1.5, 5), prof)
    w.flow_effect(asset, t, minutes * MINUTE, rng.uniform(2.5, 6), rng.uniform(0.22, 0.35))
    w.label(episode_id=eid, kind="short_squeeze", asset=asset, start_ts=w.t0 + int(t),
            end_ts=w.t0 + int(t + (minutes + 30) * MINUTE), burst_start_ts=w.t0 + int(t),
            burst_end_ts=w.t0 + int(t + minutes * MINUTE), shape=shape,
            _worst_hour=round(worst), _minutes=minutes, _side="short")


def small_liquidations(w: World, eid: str, asset: str, t: float) -> None:
    rng = w.rng
    minutes = int(rng.integers(2, 7))
    total = rng.uniform(1.5e6, 5e6) * ASSETS[asset]["scale"]
    shape = w.prng.choice(["spike_decay", "double_dip"])
    prof = burst(w, asset, "long", t, minutes, total, shape, eid, ASSETS[asset]["liq_med"] * 5)
    w.price_move(asset, t, minutes * MINUTE, -rng.uniform(0.3, 0.8), prof)
    w.flow_effect(asset, t, minutes * MINUTE, 2.0, 0.62)
    w.label(episode_id=eid, kind="small_liquidations", asset=asset, start_ts=w.t0 + int(t),
            end_ts=w.t0 + int(t + (minutes + 30) * MINUTE), burst_start_ts=w.t0 + int(t),
            burst_end_ts=w.t0 + int(t + minutes * MINUTE), shape=shape,
            _worst_hour=round(total), _minutes=minutes)


def add_episodes(w: World) -> None:
    """Plan and place every episode, then label the calm day."""
    for n, (kind, asset, slot_h) in enumerate(plan(w)):
        eid = f"ix{w.seed:03d}-{n:02d}"
        t = slot_h * HOUR + w.rng.uniform(20, 90) * MINUTE
        if kind == "contagion":
            contagion(w, eid, t)
        elif kind in WHALE_KINDS:
            whale(w, eid, kind, asset, t)
        elif kind == "no_whale_cascade":
            no_whale(w, eid, asset, t)
        elif kind == "short_squeeze":
            short_squeeze(w, eid, asset, t)
        elif kind == "small_liquidations":
            small_liquidations(w, eid, asset, t)
    for d in w.calm_days:
        w.label(episode_id=f"ix{w.seed:03d}-calm{d}", kind="calm_day", asset="*",
                start_ts=w.t0 + d * DAY, end_ts=w.t0 + (d + 1) * DAY)
