"""Benchmark input: the bundled Aug 2025 scenario repeated, each copy shifted in time with fresh ids.

Copy k is the scenario (pipeline.scenarios.aug2025.generate(), ~25k events) moved k * 32 days
later: every event time (ts, received_ts, block_time, observed_ts, published_ts, next_funding_ts),
the ETF trading date and the bitcoin block number move, and every id is new (liquidation / whale /
ETF / leverage event_id, tx_hash; bars are identified by their shifted start time). One copy spans
~30 days (a month of open-interest history, ETF history from the 20th day, the live crash on the
30th), so copies never overlap and the concatenation is in arrival order like the scenario
itself. Each copy is a new whale deposit -> sell -> cascade for the detector, with ordinary
traffic around it: it sees new data all the way through, not duplicates.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib

from pipeline.scenarios.aug2025 import generate

SHIFT_DAYS = 32  # longer than one copy (a month of open-interest history, then the crash): copies never overlap
SHIFT_MS = SHIFT_DAYS * 86_400_000
_TIME_FIELDS = ("ts", "received_ts", "block_time", "observed_ts", "published_ts", "next_funding_ts")
_BLOCKS_PER_SHIFT = SHIFT_DAYS * 144  # bitcoin: ~one block per 10 minutes


@functools.lru_cache(maxsize=1)
def base_events() -> tuple[dict, ...]:
    return tuple(generate())


def _shifted(e: dict, k: int) -> dict:
    e = dict(e)
    shift = k * SHIFT_MS
    for f in _TIME_FIELDS:
        if f in e:
            e[f] += shift
    kind = e["type"]
    if kind == "liquidation":
        e["event_id"] = f"{e['event_id']}#{k}"
    elif kind == "whale_transfer":
        tx = hashlib.sha256(f"{e['tx_hash']}:{k}".encode()).hexdigest()
        e["tx_hash"], e["event_id"] = tx, f"{e['chain']}:{tx}:0"
        if e.get("block_number") is not None:
            e["block_number"] += k * _BLOCKS_PER_SHIFT
    elif kind == "etf_flow":
        day = dt.date.fromisoformat(e["date"]) + dt.timedelta(days=k * SHIFT_DAYS)
        e["date"] = day.isoformat()
        e["event_id"] = f"etf:{e['fund']}:{e['date']}"
    elif kind == "leverage":
        e["event_id"] = f"{e['event_id']}#{k}"
    return e


def scenario_events(n: int) -> list[dict]:
    """The first n events of the scenario repeated as shifted copies (copy 0 is the scenario as it is)."""
    base = base_events()
    out: list[dict] = []
    k = 0
    while len(out) < n:
        out.extend(dict(e) if k == 0 else _shifted(e, k) for e in base)
        k += 1
    return out[:n]


def copies(n: int) -> float:
    return n / len(base_events())


def type_mix(events: list[dict]) -> dict[str, int]:
    mix: dict[str, int] = {}
    for e in events:
        mix[e["type"]] = mix.get(e["type"], 0) + 1
    return mix

