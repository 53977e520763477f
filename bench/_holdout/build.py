"""One hold-out file: build a family's world from a seed, deliver it through the feeds, label it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from _holdout.families import FAMILIES, SMALL
from _holdout.feeds import arrange, deliver_liqs
from _holdout.market import MINUTE
from _holdout.world import World

DAY = 86_400_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z: the first file's day
WINDOWS_MIN = (5, 15, 60)


@dataclass
class FileCase:
    name: str
    family: str
    start: int
    end: int
    events: list[dict]
    labels: list[dict]
    notes: dict[str, dict]  # episode id -> what diagnosis needs
    gaps: list[tuple[int, int, int]]


def file_start(seed: int, slot: int, rng: np.random.Generator, whole_days: bool) -> int:
    day = T0 + (seed * 1000 + slot * 4) * DAY
    return day if whole_days else day + int(rng.integers(0, 24 * 60)) * MINUTE


def build(family: str, seed: int, slot: int, index: int) -> FileCase:
    rng = np.random.default_rng([seed, slot, 9_091])
    is_calm = family == "calm"
    minutes = int(rng.integers(1, 4)) * 1440 if is_calm else int(np.exp(rng.uniform(np.log(6), np.log(72))) * 60)
    start = file_start(seed, slot, rng, is_calm)
    small = str(rng.choice(SMALL))
    w = World(family, start, minutes, rng, ("BTC", "ETH", small))
    FAMILIES[family](w)
    delivered: list[tuple[dict, str | None]] = []
    events: list[dict] = list(w.whales)
    for m in w.markets.values():
        m.add_noise()
        events.extend(m.bars(w.gaps))
        got = deliver_liqs(m, w.gaps, rng)
        delivered.extend(got)
        events.extend(ev for ev, _ in got)
    labels, notes = _labels(w, delivered)
    for ep in w.episodes:
        if ep.deposit:  # the receiving venue's taker volume in the hour before (the deposit test's yardstick)
            venue = {"binance": "binance-usdm"}.get(ep.meta["to_entity"], ep.meta["to_entity"])
            t = ep.deposit["block_time"]
            notes[ep.id]["venue_hour_taker_usd"] = round(sum(
                ev["buy_volume_usd"] + ev["sell_volume_usd"] for ev in events if ev["type"] == "trade_flow"
                and ev["asset"] == ep.asset and ev["venue"] == venue and t - 3_600_000 <= ev["ts"] < t))
    if is_calm:
        labels += [{"episode_id": f"calm-{d // DAY}", "kind": "calm_day", "asset": "*", "start_ts": d,
                    "end_ts": d + DAY} for d in range(start, w.end, DAY)]
    return FileCase(f"{family}-{index}", family, start, w.end, arrange(events, rng), labels, notes, w.gaps)


def long_sums(delivered: list[tuple[dict, str | None]], asset: str, start: int, minutes: int) -> np.ndarray:
    per_min = np.zeros(minutes)
    for ev, _ in delivered:
        if ev["asset"] == asset and ev["side"] == "long":
            i = (ev["ts"] - start) // MINUTE
            if 0 <= i < minutes:
                per_min[i] += ev["notional_usd"]
    return per_min


def window_max(per_min: np.ndarray, lo: int, hi: int, k: int) -> float:
    """Largest k-minute sum of per_min among windows ending in [lo, hi)."""
    c = np.concatenate(([0.0], np.cumsum(per_min)))
    ends = np.arange(max(lo, 1), min(hi, len(per_min)) + 1)
    if not len(ends):
        return 0.0
    return float((c[ends] - c[np.maximum(ends - k, 0)]).max())


def _labels(w: World, delivered: list[tuple[dict, str | None]]) -> tuple[list[dict], dict[str, dict]]:
    labels, notes = [], {}
    for ep in w.episodes:
        lab = {"episode_id": ep.id, "kind": ep.kind, "asset": ep.asset}
        note = {"family": ep.family, "asset": ep.asset, "kind": ep.kind, **ep.meta}
        if ep.deposit:
            lab.update(deposit_event_id=ep.deposit["event_id"], deposit_usd=ep.deposit["usd_value"])
        for k in ("sell_start_ts", "sell_end_ts", "sell_drop_pct"):
            if k in ep.meta:
                lab[k] = ep.meta[k]
        if ep.side:
            own = [ev for ev, e in delivered if e == ep.id and ev["side"] == ep.side]
            ts = sorted(ev["ts"] for ev in own)
            b0, b1 = ts[0] // MINUTE * MINUTE, -(-ts[-1] // MINUTE) * MINUTE
            per_min: dict[int, float] = {}
            for ev in own:
                per_min[ev["ts"] // MINUTE * MINUTE] = per_min.get(ev["ts"] // MINUTE * MINUTE, 0) + ev["notional_usd"]
            longs = sum(ev["notional_usd"] for ev, e in delivered if e == ep.id and ev["side"] == "long")
            lab.update(burst_start_ts=b0, burst_end_ts=b1, peak_ts=max(per_min, key=per_min.get),
                       burst_long_usd=round(longs, 2), burst_usd=round(sum(per_min.values()), 2),
                       shape=ep.meta["shape"])
            lab["start_ts"] = ep.deposit["block_time"] if ep.kind == "whale_cascade" else b0
            lab["end_ts"] = b1 + 10 * MINUTE
            sums = long_sums(delivered, ep.asset, w.start, w.minutes)
            i0, i1 = (b0 - w.start) // MINUTE, (b1 - w.start) // MINUTE
            note.update(burst_start_ts=b0, burst_end_ts=b1, delivered_usd=round(lab["burst_usd"]),
                        delivered_count=len(own),
                        **{f"burst_max_{k}m": round(window_max(sums, i0 + 1, i1 + 1, k)) for k in WINDOWS_MIN},
                        **{f"noise_before_max_{k}m": round(window_max(sums, 1, i0, k)) for k in WINDOWS_MIN})
        else:
            lab["start_ts"], lab["end_ts"] = ep.window
        note.update(start_ts=lab["start_ts"], end_ts=lab["end_ts"],
                    minutes_after_file_start=(lab["start_ts"] - w.start) // MINUTE,
                    file_hours=round(w.minutes / 60, 1),
                    venue_gap_overlaps=any(g0 < lab["end_ts"] and g1 > lab["start_ts"] for _, g0, g1 in w.gaps))
        labels.append(lab)
        notes[ep.id] = note
    return labels, notes
