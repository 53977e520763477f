"""Score alerts against a simulator's ground-truth labels: precision, recall, latency, false alerts.

Only cascade-stage alerts are scored. An alert republished with `amended: true` and a higher
`revision` revises the one with the same alert_id: each alert_id counts once, at the time of its
first cascade-stage revision, as the kind of its latest revision (so a liquidation_cascade later
amended into a whale_cascade is a whale alert called at the first revision's time).

- whale_cascade episodes are found by the alert whose alert_id is alert_id_for(asset, deposit) or
  whose `deposit` (in any revision) is the episode's deposit;
- no_whale_cascade episodes by a liquidation_cascade or contagion_cascade alert on the asset inside
  the episode's window; contagion_cascade episodes by a contagion_cascade alert there.

Rows are per alert kind (label kind -> row in POSITIVE). Every other cascade alert is a false alert
in its kind's row, counted per simulated day and per calm day (a calm_day label: a whole day with no
episode). Latency is alert time minus burst start in event time (median and p90). The detector
decides a window only once the exchange watermark (the frontier minus `exchange_lateness_ms`) has
passed it, so the wall-clock latency adds that lateness, the feed's delivery delay and one trade-flow
bar: the bar feed has reached only its latest bar's start, and it holds the watermark back (the
venue connectors close one-second bars; the simulator's are a minute long). A baseline row,
"alert on every large deposit", shows what joining the deposit to selling and liquidations adds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pipeline.detect.config import DetectorConfig
from pipeline.detect import alert_id_for

DAY_MS = 86_400_000
DEFAULT_DELIVERY_MS = 500  # venue push to our receipt: Binance batches by the second, Bybit by 500 ms
DEFAULT_BAR_MS = 1_000  # the venue connectors' trade-flow bars (pipeline/sources/exchanges/bars.py)
# label kind -> (row, alert kinds that find it)
POSITIVE = {"whale_cascade": ("whale_cascade", ("whale_cascade", "liquidation_cascade", "contagion_cascade")),
            "no_whale_cascade": ("liquidation_cascade", ("liquidation_cascade", "contagion_cascade")),
            "contagion_cascade": ("contagion_cascade", ("contagion_cascade",))}
NEGATIVE = ("whale_no_sell", "whale_sell_no_cascade", "short_squeeze", "internal_transfer", "small_liquidations")


def quantile(xs: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not xs:
        return None
    s = sorted(xs)
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


@dataclass
class Called:
    """One alert_id's cascade call: first revision's time, latest revision's kind."""

    alert_id: str
    asset: str
    ts: int
    kind: str
    revision: int
    deposits: set[str] = field(default_factory=set)


def cascade_calls(alerts: list[dict]) -> list[Called]:
    calls: dict[str, Called] = {}
    for a in sorted((a for a in alerts if a.get("stage") == "cascade"), key=lambda a: (a.get("revision", 0), a["ts"])):
        dep = (a.get("deposit") or {}).get("event_id")
        kind = a.get("kind") or "whale_cascade"
        c = calls.get(a["alert_id"])
        if c is None:
            c = calls[a["alert_id"]] = Called(a["alert_id"], a["asset"], a["ts"], kind, a.get("revision", 0))
        elif a.get("revision", 0) >= c.revision:
            c.kind, c.revision = kind, a.get("revision", 0)
        if dep:
            c.deposits.add(dep)
    return sorted(calls.values(), key=lambda c: c.ts)


@dataclass
class KindScore:
    kind: str
    episodes: int = 0
    found: int = 0
    false_alerts: int = 0
    false_on_calm_days: int = 0
    wrong_kind: int = 0  # false alerts inside an episode of another positive kind on the same asset
    latency_s: list[float] = field(default_factory=list)
    lead_vs_peak_s: list[float] = field(default_factory=list)
    share_at_alert: list[float] = field(default_factory=list)

    @property
    def recall(self) -> float | None:
        return self.found / self.episodes if self.episodes else None

    @property
    def precision(self) -> float | None:
        called = self.found + self.false_alerts
        return self.found / called if called else None

    def as_dict(self, days: float, calm_days: int, wall_s: float) -> dict:
        r = lambda x, p=1: None if x is None else round(x, p)  # noqa: E731
        med, p90 = quantile(self.latency_s, 0.5), quantile(self.latency_s, 0.9)
        return {"kind": self.kind, "episodes": self.episodes, "found": self.found, "false_alerts": self.false_alerts,
                "wrong_kind": self.wrong_kind, "precision": r(self.precision, 4), "recall": r(self.recall, 4),
                "false_alerts_per_day": r(self.false_alerts / days, 3) if days else None,
                "false_alerts_per_calm_day": r(self.false_on_calm_days / calm_days, 3) if calm_days else None,
                "median_latency_s": r(med), "p90_latency_s": r(p90), "watermark_s": round(wall_s, 3),
                "wall_median_latency_s": r(None if med is None else med + wall_s),
                "wall_p90_latency_s": r(None if p90 is None else p90 + wall_s),
                "median_lead_vs_peak_s": r(quantile(self.lead_vs_peak_s, 0.5)),
                "median_share_at_alert": r(quantile(self.share_at_alert, 0.5), 3)}


def match(labels: list[dict], calls: list[Called]) -> list[int | None]:
    """For each label, the index in `calls` of the cascade call that found it (None: missed, or not a
    positive episode), each call finding one episode at most. Whale episodes go first (they match on
    ids), then contagion (found by one alert kind only), then the rest."""
    rank = {"whale_cascade": 0, "contagion_cascade": 1}
    used: set[int] = set()
    hits: list[int | None] = [None] * len(labels)
    positives = sorted((j for j, lab in enumerate(labels) if lab["kind"] in POSITIVE),
                       key=lambda j: rank.get(labels[j]["kind"], 2))
    for j in positives:
        lab = labels[j]
        finders = POSITIVE[lab["kind"]][1]
        hit = next((i for i, c in enumerate(calls) if i not in used and _matches(lab, c, finders)), None)
        if hit is not None:
            used.add(hit)
        hits[j] = hit
    return hits


def _matches(lab: dict, c: Called, finders: tuple[str, ...]) -> bool:
    if c.asset != lab["asset"]:
        return False
    if lab["kind"] == "whale_cascade":
        dep = lab.get("deposit_event_id")
        return c.alert_id == alert_id_for(lab["asset"], dep) or dep in c.deposits
    return c.kind in finders and lab["start_ts"] <= c.ts <= lab["end_ts"]


def share_at(lab: dict, ts: int) -> float | None:
    """The share of the burst's own liquidations (`burst_minutes_usd`) that came before `ts`: how much
    of the burst was still to come when it was called. A minute is counted in proportion to how much of
    it had passed (its liquidations are taken as spread evenly over it)."""
    minutes, start = lab.get("burst_minutes_usd"), lab.get("burst_start_ts")
    if not minutes or start is None or not sum(minutes):
        return None
    done = 0.0
    for i, usd in enumerate(minutes):
        passed = (ts - (start + i * 60_000)) / 60_000
        if passed <= 0:
            break
        done += usd * min(1.0, passed)
    return done / sum(minutes)


def _deposit_threshold(cfg: DetectorConfig, asset: str) -> float:
    fn = getattr(cfg, "deposit_threshold", None)
    return fn(asset) if callable(fn) else 0.0


def evaluate(labels: list[dict], alerts: list[dict], config: DetectorConfig | None = None, *,
             days: float | None = None, delivery_ms: int = DEFAULT_DELIVERY_MS, bar_ms: int = DEFAULT_BAR_MS) -> dict:
    cfg = config or DetectorConfig()
    if days is None:  # whole UTC days from the first label's to the last one's
        days = (math.ceil(max(lab["end_ts"] for lab in labels) / DAY_MS)
                - min(lab["start_ts"] for lab in labels) // DAY_MS) if labels else 0
    calm = [(lab["start_ts"], lab["end_ts"]) for lab in labels if lab["kind"] == "calm_day"]
    wall_s = (cfg.exchange_lateness_ms + delivery_ms + bar_ms) / 1000
    calls = cascade_calls(alerts)
    rows = {row: KindScore(row) for row, _ in POSITIVE.values()}
    hits = match(labels, calls)
    used = {i for i in hits if i is not None}
    for lab, hit in zip(labels, hits):
        if lab["kind"] not in POSITIVE:
            continue
        score = rows[POSITIVE[lab["kind"]][0]]
        score.episodes += 1
        if hit is None:
            continue
        score.found += 1
        if lab.get("burst_start_ts") is not None:
            score.latency_s.append((calls[hit].ts - lab["burst_start_ts"]) / 1000)
        if lab.get("peak_ts") is not None:
            score.lead_vs_peak_s.append((calls[hit].ts - lab["peak_ts"]) / 1000)
        share = share_at(lab, calls[hit].ts)
        if share is not None:
            score.share_at_alert.append(share)
    episodes = [lab for lab in labels if lab["kind"] in POSITIVE]
    negatives = {k: {"episodes": 0, "alerted": 0} for k in NEGATIVE}
    false_calls = [c for i, c in enumerate(calls) if i not in used]
    for c in false_calls:
        score = rows.setdefault(c.kind, KindScore(c.kind))
        score.false_alerts += 1
        score.false_on_calm_days += any(t0 <= c.ts < t1 for t0, t1 in calm)
        score.wrong_kind += any(lab["asset"] == c.asset and lab["start_ts"] <= c.ts <= lab["end_ts"]
                                for lab in episodes)
    for lab in labels:
        if lab["kind"] in negatives:
            negatives[lab["kind"]]["episodes"] += 1
            dep = lab.get("deposit_event_id")
            negatives[lab["kind"]]["alerted"] += any(
                c.asset == lab["asset"] and (lab["start_ts"] <= c.ts <= lab["end_ts"] or (
                    dep is not None and (c.alert_id == alert_id_for(lab["asset"], dep) or dep in c.deposits)))
                for c in false_calls)

    # Baseline: every exchange inflow above the deposit threshold is called a coming cascade.
    big = [lab for lab in labels if lab.get("deposit_usd") is not None and lab["kind"] != "internal_transfer"
           and lab["deposit_usd"] >= _deposit_threshold(cfg, lab["asset"])]
    true_big = sum(lab["kind"] == "whale_cascade" for lab in big)
    positives = sum(lab["kind"] == "whale_cascade" for lab in labels)
    baseline = {"kind": "baseline: every large deposit", "episodes": positives, "found": true_big,
                "false_alerts": len(big) - true_big, "wrong_kind": 0,
                "precision": round(true_big / len(big), 4) if big else None,
                "recall": round(true_big / positives, 4) if positives else None,
                "false_alerts_per_day": round((len(big) - true_big) / days, 3) if days else None,
                "false_alerts_per_calm_day": 0.0 if calm else None,
                "median_latency_s": None, "p90_latency_s": None, "watermark_s": None,
                "wall_median_latency_s": None, "wall_p90_latency_s": None, "median_lead_vs_peak_s": None,
                "median_share_at_alert": None}
    from pipeline.evaluate_leverage import separation

    return {"days": round(days, 2), "calm_days": len(calm), "watermark_s": wall_s,
            "rows": [s.as_dict(days, len(calm), wall_s) for s in rows.values()] + [baseline],
            "negatives": negatives, "episodes_by_kind": _count(labels),
            "leverage": separation({calls[i].alert_id for i in used}, {c.alert_id for c in false_calls}, alerts, cfg)}


def _count(labels: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for lab in labels:
        out[lab["kind"]] = out.get(lab["kind"], 0) + 1
    return out
