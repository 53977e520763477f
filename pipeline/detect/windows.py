"""The rolling window of judged liquidations of one asset, with sums kept incrementally.

USD sums are integer cents, so they do not depend on the order events arrive in (float addition
is not associative): streaming and offline runs give the same figures.
"""

from __future__ import annotations

from collections import deque

from pipeline.detect.buffers import Liq, since, upto


class RollingWindow:
    """Liquidations in (end - width, end], the end moving forward one liquidation at a time.

    Rows are pushed in event-time order, so the window holds exactly the pushed rows later than
    `edge` (the last row's time minus the width). A venue is in it when its latest row of that
    kind is: the venue sets are read from those times when asked (rarely: a window past its
    threshold, an alert), not counted at every push and drop."""

    __slots__ = ("_long_last", "_sampled_last", "long_c", "long_n", "long_usd", "rows", "short_c", "width")

    def __init__(self, width_ms: int):
        self.width = width_ms
        self.rows: deque[Liq] = deque()
        self.long_c = self.short_c = self.long_n = 0
        self.long_usd = 0.0  # long_c / 100, read for every long liquidation judged: kept, not computed
        self._long_last: dict[str, int] = {}  # venue -> time of its latest long liquidation pushed
        self._sampled_last: dict[str, int] = {}  # venue -> time of its latest sampled or partial one

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
        long_c = self.long_c
        if side == "long":
            long_c += cents
            self.long_n += 1
            self._long_last[venue] = ts
        else:
            self.short_c += cents
        if completeness != "full" and completeness:
            self._sampled_last[venue] = ts
        edge = ts - self.width
        while rows[0][0] <= edge:
            old = rows.popleft()
            if old[2] == "long":
                long_c -= old[5]
                self.long_n -= 1
            else:
                self.short_c -= old[5]
        self.long_c = long_c
        self.long_usd = long_c / 100

    @property
    def edge(self) -> float:
        """Rows at or before this have left the window: the last row's time minus the width (rows are
        pushed in time order and the last one pushed stays), -inf while it is empty."""
        rows = self.rows
        return rows[-1][0] - self.width if rows else float("-inf")

    @property
    def long_venues(self) -> list[str]:
        """Venues with a long liquidation in the window."""
        edge = self.edge
        return [v for v, ts in self._long_last.items() if ts > edge]

    @property
    def sampled(self) -> list[str]:
        """Venues with a sampled or partial liquidation in the window."""
        edge = self.edge
        return [v for v, ts in self._sampled_last.items() if ts > edge]

    def largest_long_usd(self) -> float:
        """The largest long liquidation in the window (a scan: asked only of a window past its threshold)."""
        return max((row[5] for row in self.rows if row[2] == "long"), default=0) / 100

    def long_share(self) -> float:
        total = self.long_c + self.short_c
        return self.long_c / total if total else 0.0

    def figures(self) -> dict:
        """The window's totals as they go into an alert."""
        end = self.rows[-1].ts if self.rows else None
        long_usd, short_usd = self.long_c / 100, self.short_c / 100
        sampled = self.sampled
        return {"ts": end, "window_end": end, "window_ms": self.width, "long_notional_usd": round(long_usd, 2),
                "short_notional_usd": round(short_usd, 2), "long_share": round(self.long_share(), 4),
                "venues": sorted(self.long_venues), "liquidation_count": len(self.rows),
                "completeness": "sampled" if sampled else "full", "sampled_venues": sorted(sampled)}


def push_each(windows: tuple[RollingWindow, ...], liq: Liq) -> None:
    """`w.push(liq)` for each window, in one call: the same work, the row unpacked once."""
    ts, _, side, venue, completeness, cents = liq
    is_long, sampled = side == "long", completeness != "full" and completeness
    for w in windows:
        rows = w.rows
        rows.append(liq)
        if is_long:
            long_c = w.long_c + cents
            w.long_n += 1
            w._long_last[venue] = ts
        else:
            long_c = w.long_c
            w.short_c += cents
        if sampled:
            w._sampled_last[venue] = ts
        edge = ts - w.width
        if rows[0][0] <= edge:
            while True:  # the row just pushed stays: rows is never empty here
                old = rows.popleft()
                if old[2] == "long":
                    long_c -= old[5]
                    w.long_n -= 1
                else:
                    w.short_c -= old[5]
                if rows[0][0] > edge:
                    break
        elif not is_long:
            continue  # the long sum did not move
        w.long_c = long_c
        w.long_usd = long_c / 100
