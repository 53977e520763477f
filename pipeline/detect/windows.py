"""The rolling window of judged liquidations of one asset, with sums kept incrementally.

USD sums are integer cents, so they do not depend on the order events arrive in (float addition
is not associative): streaming and offline runs give the same figures.
"""

from __future__ import annotations

from collections import deque

from pipeline.detect.buffers import Liq, since, upto


class RollingWindow:
    """Liquidations in (end - width, end], the end moving forward one liquidation at a time."""

    def __init__(self, width_ms: int):
        self.width = width_ms
        self.rows: deque[Liq] = deque()
        self.long_c = self.short_c = self.long_n = 0
        self.long_venues: dict[str, int] = {}
        self.sampled: dict[str, int] = {}

    @classmethod
    def rebuild(cls, liqs: list, end: float, width_ms: int) -> "RollingWindow":
        w = cls(width_ms)
        if end >= 0:
            for liq in liqs[since(liqs, end - width_ms + 1): upto(liqs, end)]:
                w.push(liq)
        return w

    def push(self, liq: Liq) -> None:
        # Runs once per liquidation and window, the detector's hottest loop: written out in full.
        rows = self.rows
        rows.append(liq)
        ts, _, side, venue, completeness, cents = liq
        if side == "long":
            self.long_c += cents
            self.long_n += 1
            venues = self.long_venues
            venues[venue] = venues.get(venue, 0) + 1
        else:
            self.short_c += cents
        if completeness != "full" and completeness:
            sampled = self.sampled
            sampled[venue] = sampled.get(venue, 0) + 1
        edge = ts - self.width
        while rows[0][0] <= edge:
            _, _, side, venue, completeness, cents = rows.popleft()
            if side == "long":
                self.long_c -= cents
                self.long_n -= 1
                venues = self.long_venues
                n = venues[venue] - 1
                if n:
                    venues[venue] = n
                else:
                    del venues[venue]
            else:
                self.short_c -= cents
            if completeness != "full" and completeness:
                sampled = self.sampled
                n = sampled[venue] - 1
                if n:
                    sampled[venue] = n
                else:
                    del sampled[venue]

    @property
    def long_usd(self) -> float:
        return self.long_c / 100

    def long_share(self) -> float:
        total = self.long_c + self.short_c
        return self.long_c / total if total else 0.0

    def figures(self) -> dict:
        """The window's totals as they go into an alert."""
        end = self.rows[-1].ts if self.rows else None
        long_usd, short_usd = self.long_c / 100, self.short_c / 100
        return {"ts": end, "window_end": end, "window_ms": self.width, "long_notional_usd": round(long_usd, 2),
                "short_notional_usd": round(short_usd, 2), "long_share": round(self.long_share(), 4),
                "venues": sorted(self.long_venues), "liquidation_count": len(self.rows),
                "completeness": "sampled" if self.sampled else "full", "sampled_venues": sorted(self.sampled)}
