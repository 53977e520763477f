"""Score one seed's files with the project's `evaluate`, per family and per episode, and gather what
a detector owner needs to diagnose each miss and false alert."""

from __future__ import annotations

from dataclasses import dataclass, field

from _holdout.build import DAY, FileCase
from _holdout.market import MINUTE
from pipeline.evaluate import NEGATIVE, POSITIVE, cascade_calls, evaluate

NEAR_MS = 60 * MINUTE


@dataclass
class FamilyScore:
    files: int = 0
    hours: float = 0.0
    episodes: int = 0
    found: int = 0
    false_alerts: int = 0
    negatives_alerted: int = 0
    calm_days: int = 0
    latency_s: list[float] = field(default_factory=list)
    kinds: dict[str, dict] = field(default_factory=dict)  # evaluate's rows summed: kind -> counts

    def add_rows(self, rows: list[dict]) -> None:
        for r in rows:
            k = self.kinds.setdefault(r["kind"], {"episodes": 0, "found": 0, "false_alerts": 0, "wrong_kind": 0})
            for key in k:
                k[key] += r[key]


def _rows(result: dict) -> list[dict]:
    return [r for r in result["rows"] if not r["kind"].startswith("baseline")]


def _alert_brief(a: dict) -> dict:
    out = {k: a.get(k) for k in ("kind", "stage", "ts", "revision", "severity", "alert_id")}
    out["evidence"] = a.get("evidence")
    cas = a.get("cascade") or {}
    out["cascade"] = {k: v for k, v in cas.items() if not isinstance(v, (list, dict))} or None
    return out


def score_file(case: FileCase, alerts: list[dict], fam: FamilyScore, cases: dict[str, list]) -> None:
    days = (case.end - case.start) / DAY
    fam.files += 1
    fam.hours += days * 24
    whole = evaluate(case.labels, alerts, days=days)
    fam.false_alerts += sum(r["false_alerts"] for r in _rows(whole))
    fam.add_rows(_rows(whole))
    fam.calm_days += whole["calm_days"]
    fam.negatives_alerted += sum(v["alerted"] for v in whole["negatives"].values())
    calls = cascade_calls(alerts)
    for lab in case.labels:
        if lab["kind"] not in POSITIVE:
            continue
        fam.episodes += 1
        row = POSITIVE[lab["kind"]][0]
        one = next(r for r in _rows(evaluate([lab], alerts, days=days)) if r["kind"] == row)
        if one["found"]:
            fam.found += 1
            fam.latency_s.append(one["median_latency_s"])
            cases["found"].append({"file": case.name, "latency_s": one["median_latency_s"],
                                   **case.notes[lab["episode_id"]]})
            continue
        cases["missed"].append({"file": case.name, **case.notes[lab["episode_id"]],
                      "alerts_near": _near(alerts, lab["asset"], lab["start_ts"], lab["end_ts"])})
    matched = _matched_ids(case, alerts)
    for c in calls:
        if c.alert_id in matched:
            continue
        first = min((a for a in alerts if a["alert_id"] == c.alert_id and a.get("stage") == "cascade"),
                    key=lambda a: (a.get("revision", 0), a["ts"]))
        inside = [case.notes[lab["episode_id"]] for lab in case.labels
                  if lab["kind"] != "calm_day" and lab["asset"] == c.asset and lab["start_ts"] <= c.ts <= lab["end_ts"]]
        cases["false_alerts"].append({"file": case.name, "family": case.family, "asset": c.asset,
                      "kind": c.kind, "ts": c.ts, "minutes_after_file_start": (c.ts - case.start) // MINUTE,
                      "file_hours": round(days * 24, 1), "inside_episode": inside[0] if inside else None,
                      "alert": _alert_brief(first)})


def _matched_ids(case: FileCase, alerts: list[dict]) -> set[str]:
    """alert_ids that found a positive episode, with evaluate's own matching (one label at a time)."""
    ids: set[str] = set()
    calls = cascade_calls(alerts)
    for lab in case.labels:
        if lab["kind"] not in POSITIVE:
            continue
        for c in calls:
            if c.alert_id in ids:
                continue
            one = evaluate([lab], [a for a in alerts if a["alert_id"] == c.alert_id], days=1)
            if any(r["found"] for r in _rows(one)):
                ids.add(c.alert_id)
                break
    return ids


def _near(alerts: list[dict], asset: str, t0: int, t1: int) -> list[dict]:
    return [_alert_brief(a) for a in alerts if a["asset"] == asset and t0 - NEAR_MS <= a["ts"] <= t1 + NEAR_MS]


__all__ = ["NEGATIVE", "FamilyScore", "score_file"]
