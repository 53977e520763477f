"""Liquidations from partial feeds (Hyperliquid's backstops from public trades) count in a cascade
as sampled ones do: the alert names their venue in `evidence.sampled_venues`."""

from __future__ import annotations

from pipeline.sources.exchanges import get_venue

from .stories import MIN, T0, replay, story


def backstops(start: int, end: int, every_ms: int, usd: float) -> list:
    """Long backstop liquidations, parsed by the Hyperliquid parser from `trades` messages in which
    the liquidator vault bought."""
    out = []
    venue = get_venue("hyperliquid")
    for i, t in enumerate(range(start, end, every_ms)):
        msg = {"channel": "trades", "data": [{"coin": "BTC", "side": "A", "px": "110000", "sz": str(usd / 110_000),
                                              "time": t, "hash": "0x0", "tid": i + 1,
                                              "users": ["0x2e3d94f0562703b25c83308a05046ddaf9a8dd14", "0x1"]}]}
        out += venue.parse(msg, t + 200).liquidations
    return out


def test_partial_liquidations_are_named_in_the_evidence():
    evs = story() + backstops(T0 + 20 * MIN, T0 + 40 * MIN, 5_000, 100_000)
    assert {e.completeness for e in evs if getattr(e, "venue", "") == "hyperliquid"} == {"partial"}
    cascade = [a for a in replay(evs) if a.stage == "cascade"][-1]
    assert "hyperliquid" in cascade.evidence["sampled_venues"]
    assert "hyperliquid" not in [a for a in replay(story()) if a.stage == "cascade"][-1].evidence["sampled_venues"]
