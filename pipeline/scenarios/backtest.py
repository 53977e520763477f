"""Backtest over several seeds: simulate, replay in-process exactly as `cascadewatch replay` does, score.

Each seed's events go through the strict contract models and `pipeline.replay.run`, the function
`replay` uses, so the alerts are the ones `simulate && replay && evaluate` would give. The summary
gives, per row, the worst seed (lowest precision and recall, most false alerts, slowest) and the mean.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict

import orjson

from pipeline.contracts.models import event_from_dict
from pipeline.detect import DetectorConfig
from pipeline.evaluate import DEFAULT_BAR_MS, DEFAULT_DELIVERY_MS, evaluate
from pipeline.replay import run
from pipeline.scenarios.simulate import SimConfig, label_dicts, simulate

# metric -> True when higher is better (the worst seed is then the lowest)
METRICS = {"precision": True, "recall": True, "false_alerts_per_day": False, "false_alerts_per_calm_day": False,
           "median_latency_s": False, "p90_latency_s": False, "wall_median_latency_s": False,
           "median_share_at_alert": False}


def parse_seeds(text: str) -> list[int]:
    """'1-5' -> [1, 2, 3, 4, 5]; '1,3,9' -> [1, 3, 9]; ranges and lists mix."""
    out: list[int] = []
    try:
        for part in text.split(","):
            lo, dash, hi = part.strip().partition("-")
            first, last = int(lo), int(hi if dash else lo)
            if last < first:
                raise ValueError
            out.extend(range(first, last + 1))
    except ValueError:
        raise ValueError(f"bad seed list {text!r}: use e.g. 1-5 or 1,3,9") from None
    return out


def score_seed(sim: SimConfig, config: DetectorConfig | None = None, delivery_ms: int = DEFAULT_DELIVERY_MS,
               progress: Callable[[str, int, int], None] | None = None, bar_ms: int = DEFAULT_BAR_MS) -> dict:
    """Simulate one seed, replay it, score it. `progress(stage, done, total)` is told how far it got."""
    t0 = time.perf_counter()
    raw, labels = simulate(sim)
    t_sim = time.perf_counter() - t0
    events = [event_from_dict(e) for e in raw]
    events.sort(key=lambda e: e.ts)  # as pipeline.replay.load does
    t1 = time.perf_counter()
    tick = (lambda i: progress("replay", i, len(events))) if progress else None
    result = run(events, config, progress=tick)
    t_replay = time.perf_counter() - t1
    alerts = [orjson.loads(orjson.dumps(a.model_dump(mode="json"))) for a in result.alerts]
    scores = evaluate(label_dicts(labels), alerts, config, days=sim.days, delivery_ms=delivery_ms, bar_ms=bar_ms)
    scores.update(seed=sim.seed, events=len(raw), alerts=len(alerts), simulate_s=round(t_sim, 2),
                  replay_s=round(t_replay, 2), sim_config=asdict(sim))
    return scores


def summarize(per_seed: list[dict]) -> list[dict]:
    """Per row: the worst seed's value and the mean of each metric over the seeds (None where undefined)."""
    kinds = [r["kind"] for r in per_seed[0]["rows"]] if per_seed else []
    out = []
    for kind in kinds:
        rows = [r for s in per_seed for r in s["rows"] if r["kind"] == kind]
        entry: dict = {"kind": kind, "episodes": sum(r["episodes"] for r in rows),
                       "found": sum(r["found"] for r in rows), "false_alerts": sum(r["false_alerts"] for r in rows)}
        for m, higher_better in METRICS.items():
            vals = [r[m] for r in rows if r.get(m) is not None]
            entry[f"worst_{m}"] = (min(vals) if higher_better else max(vals)) if vals else None
            entry[f"mean_{m}"] = round(sum(vals) / len(vals), 4) if vals else None
        out.append(entry)
    return out
