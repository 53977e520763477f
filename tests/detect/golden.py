"""Golden alerts: the detector's decisions on fixed simulator runs, stored field for field.

The detector's mechanics (buffers, windows, batching, snapshots, parsing into records) may change
for speed or memory; its decisions must not. Each case is a seeded simulator run (which is
deterministic) fed in two orders: arrival order, one event at a time with event time as the clock
(what the streaming agent sees), and sorted by event time (what `cascadewatch replay` does). The
stored file holds a digest of the input too, so a changed simulator is told apart from a changed
detector.

Regenerate only when decisions are meant to change (a new rule or threshold), from the detector
whose decisions are the reference:

    python -m tests.detect.golden
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from pathlib import Path

import orjson

from pipeline.scenarios.simulate import SimConfig, simulate

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "detect" / "golden_alerts.json.gz"

# Small enough to run in seconds, large enough to hold every episode kind and calm days.
CASES = {
    "seed1": SimConfig(days=8, per_kind=4, seed=1, calm_days=2),
    "seed2": SimConfig(days=8, per_kind=4, seed=2, calm_days=2),
}
ORDERS = ("arrival", "event_time")


@functools.lru_cache(maxsize=2)
def case_events(name: str) -> tuple[dict, ...]:
    """The simulator's events of a case, in arrival order (as the file lists them)."""
    events, _ = simulate(CASES[name])
    return tuple(events)


def digest(events) -> str:
    h = hashlib.sha256()
    for e in events:
        h.update(orjson.dumps(e, option=orjson.OPT_SORT_KEYS))
    return h.hexdigest()


def in_order(events, order: str) -> list[dict]:
    if order == "arrival":
        return list(events)
    return sorted(events, key=_event_ts)  # stable: ties keep arrival order, as replay's sort does


def _event_ts(e: dict) -> int:
    kind = e["type"]
    return e["block_time"] if kind == "whale_transfer" else e["published_ts"] if kind == "etf_flow" else e["ts"]


def alert_rows(alerts) -> list[dict]:
    return [a.model_dump(mode="json") for a in alerts]


def load() -> dict:
    return orjson.loads(gzip.decompress(GOLDEN.read_bytes()))


def write(run) -> dict:
    """Run every case in every order through `run(dicts) -> alerts` and store the result."""
    out = {}
    for name in CASES:
        events = case_events(name)
        out[name] = {"input_sha256": digest(events), "events": len(events),
                     **{order: alert_rows(run(in_order(events, order))) for order in ORDERS}}
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_bytes(gzip.compress(orjson.dumps(out, option=orjson.OPT_SORT_KEYS), mtime=0))
    return out


def reference_run(dicts) -> list:
    """One detector holding every asset, fed pydantic models one at a time, then finished."""
    from pipeline.contracts.models import event_from_dict
    from pipeline.detect import CascadeDetector

    det = CascadeDetector()
    alerts = []
    for d in dicts:
        alerts.extend(det.feed(event_from_dict(d)))
    alerts.extend(det.finish())
    return alerts


if __name__ == "__main__":
    result = write(reference_run)
    for name, case in result.items():
        print(f"{name}: {case['events']:,} events; " + ", ".join(f"{o} {len(case[o])} alerts" for o in ORDERS))
    print(f"-> {GOLDEN}")
