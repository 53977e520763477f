"""Replay one scenario through a fresh detector, as `cascadewatch replay` does, and score it with the
project's `evaluate`, as `cascadewatch evaluate` does; list each missed episode and false alert."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

import orjson

from _independent.build import Scenario
from pipeline.contracts.models import dump_event, event_from_dict
from pipeline.detect import DetectorConfig
from pipeline.evaluate import POSITIVE, cascade_calls, evaluate, match
from pipeline.replay import run


@dataclass
class SeedScore:
    seed: int
    events: int
    alerts: list[dict]
    result: dict  # evaluate's answer
    found: list[dict] = field(default_factory=list)
    missed: list[dict] = field(default_factory=list)
    false_alerts: list[dict] = field(default_factory=list)

    @property
    def rows(self) -> list[dict]:
        """evaluate's rows per alert kind, without the baseline."""
        return [r for r in self.result["rows"] if not r["kind"].startswith("baseline")]


def replay(events: list[dict], config: DetectorConfig | None = None) -> list[dict]:
    """The alerts `cascadewatch replay` gives for these lines: strict models, stable sort by event time."""
    models = [event_from_dict(e) for e in events]
    models.sort(key=lambda e: e.ts)
    return [orjson.loads(dump_event(a)) for a in run(models, config).alerts]


def clock(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%m-%d %H:%M")


def score(sc: Scenario, alerts: list[dict], config: DetectorConfig | None = None) -> SeedScore:
    out = SeedScore(sc.seed, len(sc.events), alerts, evaluate(sc.labels, alerts, config, days=sc.days))
    calls = cascade_calls(alerts)
    hits = match(sc.labels, calls)
    for lab, hit in zip(sc.labels, hits):
        if lab["kind"] not in POSITIVE:
            continue
        case = _episode(sc, lab)
        if hit is not None:
            out.found.append({**case, "alert_kind": calls[hit].kind,
                              "latency_s": (calls[hit].ts - lab["burst_start_ts"]) / 1000})
            continue
        near = [c for c in calls if c.asset == lab["asset"] and lab["start_ts"] <= c.ts <= lab["end_ts"]]
        out.missed.append({**case, "alerts_in_window": [f"{c.kind}@{clock(c.ts)}" for c in near]})
    used = {h for h in hits if h is not None}
    for i, c in enumerate(calls):
        if i in used:
            continue
        first = min((a for a in alerts if a["alert_id"] == c.alert_id and a.get("stage") == "cascade"),
                    key=lambda a: (a.get("revision", 0), a["ts"]))
        cas = first.get("cascade") or {}
        during = [f"{lab['kind']} {lab['episode_id']}" for lab in sc.labels
                  if lab["asset"] in (c.asset, "*") and lab["start_ts"] <= c.ts <= lab["end_ts"]]
        out.false_alerts.append({"seed": sc.seed, "asset": c.asset, "kind": c.kind, "ts": c.ts, "at": clock(c.ts),
                                 "long_usd": cas.get("long_notional_usd"), "threshold_usd": cas.get("threshold_usd"),
                                 "during": "; ".join(during) or "unlabelled time"})
    return out


def _episode(sc: Scenario, lab: dict) -> dict:
    note = sc.notes.get(lab["episode_id"], {})
    return {"seed": sc.seed, "episode_id": lab["episode_id"], "kind": lab["kind"], "asset": lab["asset"],
            "shape": lab.get("shape"), "minutes": note.get("minutes"), "worst_hour_usd": note.get("worst_hour_usd"),
            "burst_usd": lab.get("burst_usd"), "drop_pct": note.get("drop_pct"),
            "deposit_usd": lab.get("deposit_usd"),
            "burst_start": clock(lab["burst_start_ts"]) if lab.get("burst_start_ts") else None}
