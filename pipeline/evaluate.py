"""Score alerts against a simulator's ground-truth labels: precision, recall, lead time, false alerts.

A whale_cascade episode is found when a cascade alert carries the alert_id of its deposit; a
no_whale_cascade episode when a liquidation_cascade alert for its asset falls inside its window
(or a contagion_cascade alert: a cascade with no whale that another asset's cascade linked);
a contagion_cascade episode when a contagion_cascade alert for its asset does. Rows are per
alert kind; every other cascade alert is a false alert in its kind's row. The baseline row, "alert on every large deposit",
shows what joining the deposit to selling and liquidations adds.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from pipeline.detect.config import DetectorConfig
from pipeline.detect.sequence import alert_id_for

# label kind -> (row, alert kinds that find it)
POSITIVE = {"whale_cascade": ("whale_cascade", ("whale_cascade",)),
            "no_whale_cascade": ("liquidation_cascade", ("liquidation_cascade", "contagion_cascade")),
            "contagion_cascade": ("contagion_cascade", ("contagion_cascade",))}


@dataclass
class KindScore:
    kind: str
    episodes: int = 0
    found: int = 0
    false_alerts: int = 0
    lead_vs_burst_s: list[float] = field(default_factory=list)
    lead_vs_peak_s: list[float] = field(default_factory=list)

    @property
    def recall(self) -> float | None:
        return self.found / self.episodes if self.episodes else None

    @property
    def precision(self) -> float | None:
        called = self.found + self.false_alerts
        return self.found / called if called else None

    def as_dict(self, days: float) -> dict:
        med = lambda xs: round(statistics.median(xs), 1) if xs else None  # noqa: E731
        return {"kind": self.kind, "episodes": self.episodes, "found": self.found, "false_alerts": self.false_alerts,
                "precision": self.precision, "recall": self.recall,
                "false_alerts_per_day": round(self.false_alerts / days, 3) if days else None,
                "median_lead_vs_burst_start_s": med(self.lead_vs_burst_s),
                "median_lead_vs_peak_s": med(self.lead_vs_peak_s)}


def evaluate(labels: list[dict], alerts: list[dict], config: DetectorConfig | None = None) -> dict:
    cfg = config or DetectorConfig()
    days = (max(lab["end_ts"] for lab in labels) - min(lab["start_ts"] for lab in labels)) / 86_400_000 if labels else 0
    # An amendment revises a cascade already called: each alert counts once, at the time it was
    # first called, as the kind its latest revision gives it (a link can re-classify it).
    first: dict[str, dict] = {}
    for a in alerts:
        if a["stage"] == "cascade":
            kind = a.get("kind", "whale_cascade")
            first[a["alert_id"]] = {**first.get(a["alert_id"], a), "kind": kind}
    cascades = list(first.values())
    scores = {row: KindScore(row) for row, _ in POSITIVE.values()}
    used: set[int] = set()
    for lab in labels:
        if lab["kind"] not in POSITIVE:
            continue
        row, finders = POSITIVE[lab["kind"]]
        score = scores[row]
        score.episodes += 1
        match = None
        for i, a in enumerate(cascades):
            if i in used or a.get("kind", "whale_cascade") not in finders or a["asset"] != lab["asset"]:
                continue
            if lab["kind"] == "whale_cascade":
                hit = a["alert_id"] == alert_id_for(lab["asset"], lab["deposit_event_id"])
            else:
                hit = lab["start_ts"] <= a["ts"] <= lab["end_ts"]
            if hit:
                match = i
                break
        if match is not None:
            used.add(match)
            score.found += 1
            a = cascades[match]
            score.lead_vs_burst_s.append((a["ts"] - lab["burst_start_ts"]) / 1000)
            score.lead_vs_peak_s.append((a["ts"] - lab["peak_ts"]) / 1000)
    for i, a in enumerate(cascades):
        if i not in used:
            scores[a.get("kind", "whale_cascade")].false_alerts += 1

    # Baseline: every exchange inflow above the deposit threshold is called a coming cascade.
    big = [lab for lab in labels if lab.get("deposit_usd") is not None and lab["kind"] != "internal_transfer"
           and lab["deposit_usd"] >= cfg.deposit_threshold(lab["asset"])]
    true_big = sum(lab["kind"] == "whale_cascade" for lab in big)
    positives = sum(lab["kind"] == "whale_cascade" for lab in labels)
    baseline = {"kind": "baseline: every large deposit", "episodes": positives, "found": true_big,
                "false_alerts": len(big) - true_big,
                "precision": true_big / len(big) if big else None,
                "recall": true_big / positives if positives else None,
                "false_alerts_per_day": round((len(big) - true_big) / days, 3) if days else None,
                "median_lead_vs_burst_start_s": None, "median_lead_vs_peak_s": None}
    return {"days": round(days, 2), "rows": [s.as_dict(days) for s in scores.values()] + [baseline],
            "episodes_by_kind": _count(labels)}


def _count(labels: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for lab in labels:
        out[lab["kind"]] = out.get(lab["kind"], 0) + 1
    return out
