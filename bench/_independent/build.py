"""One seed's scenario, in memory: the events as the feeds deliver them, the labels, and per episode
the facts a missed episode or a false alert is judged by."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from _independent.chain import background_traffic
from _independent.episodes import add_episodes
from _independent.feeds import arrange, deliver_liqs, sample_dropouts, whale_events
from _independent.market import bars_and_leverage, base_market, etf_flows, finish_prices
from _independent.noise import noise_liqs
from _independent.world import ASSETS, MINUTE, World

NOTES = {"_worst_hour": "worst_hour_usd", "_minutes": "minutes", "_drop": "drop_pct", "_src": "source_episode"}


@dataclass
class Scenario:
    seed: int
    days: int
    t0: int
    events: list[dict]  # in delivery order, duplicates included
    labels: list[dict]  # docs/evaluation.md labels, by start time
    notes: dict[str, dict]  # episode id -> worst hour as liquidated, minutes, price drop
    drops: list[tuple[str, int, int]]  # (venue, from, to): venue drop-outs


def build(seed: int, days: int = 4) -> Scenario:
    w = World(seed, days)
    base_market(w)
    add_episodes(w)
    background_traffic(w)
    noise_liqs(w)
    finish_prices(w)
    dropped = sample_dropouts(w)
    events = deliver_liqs(w, dropped)
    for a in ASSETS:
        events += bars_and_leverage(w, a, dropped)
    events += whale_events(w)
    events += etf_flows(w)
    events = arrange(events, w.rng)
    labels, notes = _labels(w)
    drops = [(v, w.t0 + int(s), w.t0 + int(e)) for v, s, e in w.drops]
    return Scenario(seed, days, w.t0, events, labels, notes, drops)


def _labels(w: World) -> tuple[list[dict], dict[str, dict]]:
    """Labels from what was delivered: a burst's minutes, total and peak count delivered liquidations only."""
    by_episode: dict[str, list[tuple[int, str, float]]] = {}
    for t, _, _, side, usd, tag in w.delivered:
        if tag:
            by_episode.setdefault(tag, []).append((t, side, usd))
    labels, notes = [], {}
    for lab in sorted(w.labels, key=lambda lab: lab["start_ts"]):
        lab = dict(lab)
        rows = by_episode.get(lab["episode_id"], [])
        own = lab.pop("_side", "long")
        if lab["burst_start_ts"] is not None:
            b0 = lab["burst_start_ts"] - w.t0
            mins = [0.0] * int((lab["burst_end_ts"] - lab["burst_start_ts"]) // MINUTE)
            for t, side, usd in rows:
                i = int((t - b0) // MINUTE)
                if side == own and 0 <= i < len(mins):
                    mins[i] += usd
            lab["burst_minutes_usd"] = [round(x, 2) for x in mins]
            lab["burst_usd"] = round(sum(mins), 2)
            lab["burst_long_usd"] = round(sum(u for _, s, u in rows if s == "long"), 2)
            lab["peak_ts"] = lab["burst_start_ts"] + (int(np.argmax(mins)) if mins else 0) * MINUTE
        notes[lab["episode_id"]] = {NOTES[k]: lab.pop(k) for k in list(lab) if k.startswith("_")}
        labels.append(lab)
    return labels, notes
