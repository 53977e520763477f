"""The benches' offline reference: `cascadewatch replay`'s alerts over the same events, contagion links
included (one detector holds every asset and delivers them at once), up to the end of the input: a
stream has no end, so the decisions `replay` makes only because its input ended are left out."""

from __future__ import annotations

import orjson

from pipeline.contracts.models import dump_event, event_from_dict
from pipeline.detect import CascadeDetector, DetectorConfig

Key = tuple[str, str, int]


def key(alert: dict) -> Key:
    return alert["alert_id"], alert["stage"], alert.get("revision", 0)


def reference_alerts(events: list[dict], config: DetectorConfig) -> dict[Key, dict]:
    det = CascadeDetector(config)
    parsed = sorted((event_from_dict(e) for e in events), key=lambda e: e.ts)  # as replay orders them
    out: dict[Key, dict] = {}
    for event in parsed:
        for alert in det.feed(event):
            doc = orjson.loads(dump_event(alert))
            out[key(doc)] = doc
    return out


def differences(streamed: list[dict], reference: dict[Key, dict], limit: int = 5) -> list[str]:
    """What differs between streamed alerts and the reference, field for field; empty when equal."""
    got: dict[Key, dict] = {}
    problems = []
    for a in streamed:
        if key(a) in got and got[key(a)] != a:
            problems.append(f"{key(a)} published twice with different content")
        got[key(a)] = a
    missing = sorted(set(reference) - set(got))
    extra = sorted(set(got) - set(reference))
    changed = sorted(k for k in set(got) & set(reference) if got[k] != reference[k])
    if missing:
        problems.append(f"{len(missing)} alerts of the reference not streamed: {missing[:limit]}")
    if extra:
        problems.append(f"{len(extra)} streamed alerts not in the reference: {extra[:limit]}")
    for k in changed[:limit]:
        fields = sorted(f for f in set(got[k]) | set(reference[k]) if got[k].get(f) != reference[k].get(f))
        problems.append(f"{k} differs in {fields}")
    return problems
