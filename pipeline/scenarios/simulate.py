"""A market simulator: labelled scenario files for backtesting the detector, at the scale feeds deliver.

It writes interchange events for five assets (BTC, ETH, SOL, XRP, DOGE; one-minute taker-flow bars
on three venues, heavy-tailed self-exciting background liquidations, Binance's sampled to one per
symbol per second, whale transfers for BTC and ETH, ETF flows) and, separately, one label per
episode with its ground truth. Episode kinds:

- whale_cascade: exchange inflow, then taker selling (starting 0-28 min after the deposit, lasting
  5-40 min) with a clear price drop, then a long-liquidation burst during or up to 30 min after it
- whale_no_sell: a large inflow that nobody sells
- whale_sell_no_cascade: inflow and selling, but dip buyers absorb it (no burst)
- no_whale_cascade: a long-liquidation burst with no deposit before it, on any asset
- short_squeeze: a price spike and a burst of SHORT liquidations
- internal_transfer: a large exchange-internal transfer (cold -> hot), which must never alert
- small_liquidations: a flurry clearly above the noise but far below a cascade, which must not alert
- contagion_cascade: an ETH long-liquidation burst from 3 min before to 20 min after a BTC cascade,
  often smaller than an ETH cascade of its own would need
- calm_day: a whole day with noise and no episode on any asset (asset "*", one label per day)

Open interest and funding (`leverage` events, pipeline/scenarios/leverage.py) build up before most
cascades and fall during them; some look-alikes and quiet days build up too.

Cascade bursts are 10-90 minutes long, log-uniform in size per hour from about ten times a calm day's
hourly p99 to over a billion USD for BTC (scaled down per asset), shaped front-loaded, back-loaded, in waves
or as a plateau. Arrival order is perturbed (exchange events by up to a few seconds, chain events by
up to ten minutes), a fraction of events is duplicated, and venues drop out for short gaps.
Same seed, same files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

import heapq

from pipeline.scenarios import feeds, leverage, noise
from pipeline.scenarios.episodes import KINDS, CapacityError, Placement, calm_days, place
from pipeline.scenarios.market import ASSETS, CASCADE_USD, DAY, FLURRY_USD, MINUTE, VENUES
from pipeline.scenarios.shapes import SHAPES, burst, profile

__all__ = ["KINDS", "CapacityError", "Label", "SimConfig", "label_dicts", "simulate"]


@dataclass
class SimConfig:
    days: int = 30
    per_kind: int = 30
    seed: int = 1
    calm_days: int | None = None  # default: a fifth of the days
    start_ms: int = 1_735_689_600_000  # 2025-01-01 00:00 UTC
    duplicate_rate: float = 0.003
    gap_rate_per_day: float = 2.0  # venue outages (5-15 min, one venue) per day per asset
    jitter_ms: int = 3_000  # how late an exchange event may arrive
    leverage: bool = True  # open interest and funding paths (leverage events)
    open_interest_usd: float = 30e9  # BTC's open interest across the venues; other assets by their scale

    @property
    def calm(self) -> int:
        return self.days // 5 if self.calm_days is None else self.calm_days


@dataclass
class Label:
    episode_id: str
    kind: str
    asset: str
    start_ts: int
    end_ts: int
    deposit_event_id: str | None = None
    deposit_usd: float | None = None
    burst_start_ts: int | None = None
    peak_ts: int | None = None
    burst_long_usd: float = 0.0
    burst_end_ts: int | None = None
    burst_usd: float = 0.0  # delivered liquidations of the burst's own side (longs; shorts for a squeeze)
    shape: str | None = None
    burst_minutes_usd: list[float] | None = None  # the burst's own side, delivered, per minute from burst_start_ts
    sell_start_ts: int | None = None
    sell_end_ts: int | None = None
    sell_drop_pct: float | None = None


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


class _Builder:
    """Turns placed episodes into labels, per-asset price moves and taker flow, and raw burst liquidations."""

    def __init__(self, cfg: SimConfig, rng: np.random.Generator) -> None:
        self.cfg, self.rng = cfg, rng
        self.minutes = cfg.days * 1440
        self.paths = {a: feeds.Moves(self.minutes) for a in ASSETS}
        self.bursts: dict[str, list[tuple[str, list]]] = {a: [] for a in ASSETS}  # asset -> (tag, raw)
        self.transfers: list[dict] = []
        self.source_burst: dict[int, int] = {}  # slot -> start of the BTC cascade burst in it

    def minute(self, ts: int) -> int:
        return (ts - self.cfg.start_ms) // MINUTE

    def hourly_total(self, scale: float, length: int) -> float:
        """A burst's total: log-uniform per hour (CASCADE_USD, scaled), all of it in one hour when shorter."""
        return _log_uniform(self.rng, *CASCADE_USD) * scale * max(1.0, length / 60)

    def add_burst(self, lab: Label, b0: int, length: int, total: float, side: str, shape: str, move_pct: float,
                  flow_share: float = 0.8) -> None:
        rng, spec = self.rng, ASSETS[lab.asset]
        w = profile(rng, shape, length)
        m = self.minute(b0)
        path = self.paths[lab.asset]
        path.drift(m, w, move_pct)
        end = min(self.minutes, m + length)
        arr = path.extra_sell if side == "long" else path.extra_buy
        arr[m:end] += total * flow_share * w[: end - m]
        raw = burst(rng, b0, w, total, side, min_mean_usd=30_000 * spec.scale)
        self.bursts[lab.asset].append((f"{lab.episode_id}-", raw))
        lab.burst_start_ts, lab.burst_end_ts, lab.shape = b0, b0 + length * MINUTE, shape
        lab.peak_ts = b0 + int(np.argmax(w)) * MINUTE + MINUTE // 2

    def episode(self, n: int, p: Placement) -> Label:
        rng, spec = self.rng, ASSETS[p.asset]
        lab = Label(episode_id=f"ep{n:04d}", kind=p.kind, asset=p.asset, start_ts=p.start_ms, end_ts=p.start_ms)
        path = self.paths[p.asset]
        end = p.start_ms + 60 * MINUTE
        if p.kind in ("whale_cascade", "whale_no_sell", "whale_sell_no_cascade", "internal_transfer"):
            usd = _log_uniform(rng, *spec.deposit)
            direction = "exchange_internal" if p.kind == "internal_transfer" else "exchange_inflow"
            tr = feeds.transfer(rng, p.asset, p.start_ms, usd, direction, n)
            self.transfers.append(tr)
            lab.deposit_event_id, lab.deposit_usd = tr["event_id"], tr["usd_value"]
            end = p.start_ms + 2 * 60 * MINUTE
        if p.kind in ("whale_cascade", "whale_sell_no_cascade"):
            s0 = p.start_ms + int(rng.integers(0, 29)) * MINUTE
            length = int(rng.integers(5, 41))
            # Clearly more than the noise since the deposit (the drop is measured from the close before it).
            noise_pct = 100 * spec.sigma * float(np.sqrt((s0 - p.start_ms) // MINUTE + length))
            drop = max(1.0, 4 * noise_pct) * float(rng.uniform(1.0, 2.5))
            path.flow(self.minute(s0), length, lab.deposit_usd * float(rng.uniform(0.3, 0.9)), "sell")
            path.drift(self.minute(s0), np.full(length, 1 / length), -drop)
            lab.sell_start_ts, lab.sell_end_ts, lab.sell_drop_pct = s0, s0 + length * MINUTE, round(float(drop), 3)
            end = lab.sell_end_ts + 60 * MINUTE
            if p.kind == "whale_sell_no_cascade":  # dip buyers absorb it
                path.flow(self.minute(lab.sell_end_ts), 30, lab.deposit_usd * 0.3, "buy")
                path.drift(self.minute(lab.sell_end_ts), np.full(30, 1 / 30), drop * 0.6)
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        if p.kind in ("whale_cascade", "no_whale_cascade"):
            if p.kind == "whale_cascade":
                sell_len = (lab.sell_end_ts - lab.sell_start_ts) // MINUTE
                b0 = lab.sell_start_ts + int(rng.integers(1, sell_len + 31)) * MINUTE
            else:
                b0 = p.start_ms
                lab.start_ts = b0 - 5 * MINUTE
            if p.asset == "BTC":
                self.source_burst[p.slot] = b0
            length = int(rng.integers(10, 91))
            self.add_burst(lab, b0, length, self.hourly_total(spec.scale, length), "long", shape,
                           -float(rng.uniform(2.0, 6.0)))
        elif p.kind == "contagion_cascade":
            b0 = self.source_burst[p.slot] + int(rng.integers(-3, 21)) * MINUTE
            total = _log_uniform(rng, 0.25, 2.0) * CASCADE_USD[0] * spec.scale
            self.add_burst(lab, b0, int(rng.integers(10, 41)), total, "long", shape, -float(rng.uniform(1.0, 3.0)))
            lab.start_ts = b0 - 5 * MINUTE
        elif p.kind == "short_squeeze":
            length = int(rng.integers(10, 61))
            self.add_burst(lab, p.start_ms, length, self.hourly_total(spec.scale, length), "short", shape,
                           float(rng.uniform(2.0, 6.0)))
        elif p.kind == "small_liquidations":
            total = _log_uniform(rng, *FLURRY_USD) * spec.scale
            self.add_burst(lab, p.start_ms, int(rng.integers(2, 7)), total, "long", shape,
                           -float(rng.uniform(0.3, 0.8)), flow_share=0.3)
        if lab.burst_end_ts is not None:
            end = lab.burst_end_ts + 30 * MINUTE
        lab.end_ts = end
        return lab


def simulate(cfg: SimConfig) -> tuple[list[dict], list[Label]]:
    """Events (in arrival order) and labels for `cfg`; raises CapacityError if the days cannot hold the episodes."""
    rng = np.random.default_rng(cfg.seed)
    calm = calm_days(rng, cfg.days, cfg.calm)
    placements = place(rng, cfg.start_ms, cfg.days, calm, cfg.per_kind)
    b = _Builder(cfg, rng)
    labels = [b.episode(n, p) for n, p in enumerate(placements)]
    labels += [Label(episode_id=f"calm{d:03d}", kind="calm_day", asset="*", start_ts=cfg.start_ms + d * DAY,
                     end_ts=cfg.start_ms + (d + 1) * DAY) for d in calm]
    gaps = feeds.gaps(rng, cfg.start_ms, b.minutes, cfg.gap_rate_per_day)
    events: list[dict] = []
    delivered: dict[str, list[float]] = {}  # episode tag -> [long usd, short usd]
    delivered_at: dict[tuple[str, str], list[tuple[int, float]]] = {}  # (episode tag, side) -> [(ts, usd)]
    hours = cfg.days * 24
    lev_rng = np.random.default_rng([cfg.seed, 14])  # its own stream: the other events stay as they were
    lev_events: list[dict] = []
    for asset in ASSETS:
        activity = noise.regime(rng, hours)
        bars, close = feeds.bars(rng, asset, b.paths[asset], cfg.start_ms, activity, gaps)
        events.extend(bars)
        if cfg.leverage:
            spec = ASSETS[asset]
            lev_events += leverage.for_asset(lev_rng, asset, labels, close, cfg.start_ms,
                                             [(v, spec.symbol(asset, v)) for v in VENUES[:2]],
                                             cfg.open_interest_usd * spec.scale)
        raw = noise.background(rng, asset, cfg.start_ms, hours, activity)
        liqs = feeds.liquidations(rng, asset, raw, close, cfg.start_ms, gaps, "n")
        for tag, burst_raw in b.bursts[asset]:
            liqs.extend(feeds.liquidations(rng, asset, burst_raw, close, cfg.start_ms, gaps, tag))
        for ev in feeds.sample_binance(liqs):
            tag = ev["event_id"].rsplit(":", 1)[1]
            if tag.startswith("ep"):
                sums = delivered.setdefault(tag.split("-", 1)[0], [0.0, 0.0])
                sums[ev["side"] == "short"] += ev["notional_usd"]
                delivered_at.setdefault((tag.split("-", 1)[0], ev["side"]), []).append((ev["ts"], ev["notional_usd"]))
            events.append(ev)
    for lab in labels:
        if lab.burst_start_ts is not None:
            longs, shorts = delivered.get(lab.episode_id, [0.0, 0.0])
            lab.burst_long_usd = round(longs, 2)
            lab.burst_usd = round(shorts if lab.kind == "short_squeeze" else longs, 2)
            per_minute = [0.0] * ((lab.burst_end_ts - lab.burst_start_ts) // MINUTE)
            for ts, usd in delivered_at.get((lab.episode_id, "short" if lab.kind == "short_squeeze" else "long"), ()):
                per_minute[min(len(per_minute) - 1, max(0, (ts - lab.burst_start_ts) // MINUTE))] += usd
            lab.burst_minutes_usd = [round(usd, 2) for usd in per_minute]
    events.extend(b.transfers)
    events.extend(feeds.etf_flows(rng, cfg.start_ms, cfg.days))
    labels.sort(key=lambda lab: (lab.start_ts, lab.episode_id))
    delivered_events = feeds.deliver(rng, events, cfg.duplicate_rate, cfg.jitter_ms)
    if lev_events:
        lev_events.sort(key=lambda e: e["received_ts"])
        delivered_events = list(heapq.merge(delivered_events, lev_events, key=_arrival))
    return delivered_events, labels


def _arrival(e: dict) -> int:
    return e.get("observed_ts") or e.get("published_ts") or e.get("received_ts") or e["ts"] + e.get("interval_ms", 0)


def label_dicts(labels: list[Label]) -> list[dict]:
    return [asdict(lab) for lab in labels]
