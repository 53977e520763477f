"""Measurements on simulated events shared by the scenario tests."""

from __future__ import annotations

from collections import defaultdict

from pipeline.scenarios.market import HOUR, MINUTE


def per_list(fn):
    """Compute fn(events) once per events list (the session fixtures keep their lists alive)."""
    cache: dict[int, tuple[list, object]] = {}

    def wrapper(events):
        hit = cache.get(id(events))
        if hit is None or hit[0] is not events:
            hit = cache[id(events)] = (events, fn(events))
        return hit[1]

    wrapper.__doc__ = fn.__doc__
    return wrapper


@per_list
def unique(events: list[dict]) -> list[dict]:
    """Events without the duplicates the simulator adds (same event id, or same bar)."""
    seen, out = set(), []
    for e in events:
        key = e.get("event_id") or (e["type"], e.get("venue"), e.get("symbol"), e["ts"])
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def liquidations(events: list[dict], asset: str | None = None, side: str | None = None) -> list[dict]:
    return [e for e in unique(events) if e["type"] == "liquidation" and (asset is None or e["asset"] == asset)
            and (side is None or e["side"] == side)]


def sums_by(liqs: list[dict], bucket_ms: int, t0: int, t1: int) -> list[float]:
    """USD per bucket over [t0, t1), empty buckets included."""
    out = defaultdict(float)
    for e in liqs:
        if t0 <= e["ts"] < t1:
            out[(e["ts"] - t0) // bucket_ms] += e["notional_usd"]
    return [out.get(i, 0.0) for i in range((t1 - t0) // bucket_ms)]


def hourly_longs(events: list[dict], asset: str, windows: list[tuple[int, int]]) -> list[float]:
    longs = liquidations(events, asset, "long")
    return [x for t0, t1 in windows for x in sums_by(longs, HOUR, t0, t1)]


def per_minute(liqs: list[dict], t0: int, minutes: int) -> list[float]:
    return sums_by(liqs, MINUTE, t0, t0 + minutes * MINUTE)


@per_list
def by_episode(events: list[dict]) -> dict[str, list[dict]]:
    """Each episode's own burst liquidations (their event ids carry the episode id)."""
    out: dict[str, list[dict]] = defaultdict(list)
    for e in unique(events):
        if e["type"] == "liquidation" and ":ep" in e["event_id"]:
            out[e["event_id"].rsplit(":", 1)[1].split("-", 1)[0]].append(e)
    return out
