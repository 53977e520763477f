"""Cascade floors learned per asset: how large a window of long liquidations is extreme for it.

Each minute, the long-liquidation sum of the window ending at that minute goes into a sketch of
the asset's history: log-spaced bins (10% wide) counted per day, for the last `days` days. That is
a few hundred integers per asset, whatever the rate of liquidations, and it is part of the
snapshot. Minutes inside a detected cascade are not added, so a crash does not raise the floor
for the next one. The level is the chosen quantile of that history, fixed once per hour of event
time from the minutes before that hour, so a decision depends on event times only.
"""

from __future__ import annotations

import math

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY_MIN = 1440
_BASE = 1_000.0  # USD: bin 0 holds everything below
_STEP = math.log(1.1)
RECENT = 120  # minutes kept for forget_since: at least the longest cascade window


def bin_of(usd: float) -> int:
    return 0 if usd < _BASE else 1 + int(math.log(usd / _BASE) / _STEP)


def bin_top(b: int) -> float:
    """Upper edge of bin `b` (a conservative reading of a quantile)."""
    return _BASE if b == 0 else _BASE * math.exp(b * _STEP)


class FloorSketch:
    """Per-day histograms of one asset's window sums, and the hourly level read from them."""

    def __init__(self, days: int, quantile: float, d: dict | None = None):
        self.days, self.quantile = days, quantile
        d = d or {}
        self.hist: dict[int, dict[int, int]] = {int(k): {int(b): c for b, c in v.items()}
                                                for k, v in d.get("hist", {}).items()}
        self.minute: int | None = d.get("minute")  # the next minute to add (its start, ms)
        self.level: tuple | None = tuple(d["level"]) if d.get("level") else None  # (hour, usd, minutes of history)
        self.recent: list = [list(r) for r in d.get("recent", [])]  # [minute, day, bin] of the last minutes added
        self.cold: list = list(d.get("cold", [0, 0]))  # minutes seen on a cold start, and how many were above its cutoff

    def add(self, minute: int, usd: float | None) -> None:
        """The window sum ending with `minute` (None: a minute inside a cascade, not history)."""
        self._roll(minute)
        if usd is not None:
            day, b = minute // MINUTE // DAY_MIN, bin_of(usd)
            self._count(day, b, 1)
            self.recent.append([minute, day, b])
            if len(self.recent) > RECENT:
                del self.recent[: len(self.recent) - RECENT]
        self.minute = minute + MINUTE

    def forget_since(self, minute: int) -> None:
        """Take back the minutes added from `minute` on: they turned out to be a burst's ramp."""
        while self.recent and self.recent[-1][0] >= minute:
            _, day, b = self.recent.pop()
            row = self.hist.get(day)
            if row and row.get(b):
                row[b] -= 1
                if not row[b]:
                    del row[b]

    def add_zeros(self, minute: int, count: int) -> None:
        """`count` minutes with no long liquidations from `minute` on (a quiet stretch, added at once)."""
        end = minute + count * MINUTE
        last_hour = (end - MINUTE) - (end - MINUTE) % HOUR
        for lo, hi in ((minute, max(minute, last_hour)), (max(minute, last_hour), end)):
            if hi <= lo:
                continue
            self._roll(lo)
            m = lo
            while m < hi:
                day = m // MINUTE // DAY_MIN
                n = min(hi, (day + 1) * DAY_MIN * MINUTE) - m
                self._count(day, 0, n // MINUTE)
                m += n
        self.minute = end

    def _roll(self, minute: int) -> None:
        """Fix the level of `minute`'s hour before its first minute enters the history."""
        hour = minute - minute % HOUR
        if self.level is None or self.level[0] != hour:
            usd, n = self.read()
            self.level = (hour, usd, n)

    def _count(self, day: int, b: int, n: int) -> None:
        newest = max(self.hist, default=day)
        if day <= newest - self.days:
            return
        row = self.hist.get(day)
        if row is None:
            row = self.hist[day] = {}
            for old in [k for k in self.hist if k <= day - self.days]:
                del self.hist[old]
        row[b] = row.get(b, 0) + n

    def history_minutes(self) -> int:
        return sum(sum(row.values()) for row in self.hist.values())

    def read(self) -> tuple[float | None, int]:
        """(quantile in USD or None when empty, minutes of history)."""
        counts: dict[int, int] = {}
        for row in self.hist.values():
            for b, c in row.items():
                counts[b] = counts.get(b, 0) + c
        total = sum(counts.values())
        if not total:
            return None, 0
        rank = self.quantile * total
        seen = 0
        for b in sorted(counts):
            seen += counts[b]
            if seen >= rank:
                return bin_top(b), total
        return bin_top(max(counts)), total

    def level_at(self, ts: int) -> tuple[float | None, int]:
        """The level of `ts`'s hour: read from the minutes before that hour. Every minute before
        `ts`'s own has been added when it is asked, so this is the same in any arrival order."""
        self._roll(ts - ts % MINUTE)
        return self.level[1], self.level[2]

    def to_dict(self) -> dict:
        return {"hist": {str(k): {str(b): c for b, c in v.items()} for k, v in self.hist.items()},
                "minute": self.minute, "level": list(self.level) if self.level else None,
                "recent": self.recent, "cold": self.cold}
