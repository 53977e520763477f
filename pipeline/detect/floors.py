"""Cascade floors learned per asset: how large a window of long liquidations is extreme for it.

Each minute, for every cascade window width, the long-liquidation sum (USD) and count of the
window ending at that minute go into the asset's history: log-spaced bins (10% wide) counted per
day, for the last `days` days. That is a few hundred integers per measure, whatever the rate of
liquidations, and it is part of the snapshot. Minutes inside a detected cascade are not added,
and a burst's ramp is taken back out once it is called.

The level of a measure is robust to the bursts a history always holds: each day with at least
half a day of history gives its own high quantile (by default the 99.5th percentile, about the seventh
largest minute of a day), and the level is the median of those daily figures (with an even
count, halfway between the middle two). A burst that was never called raises its own day's
figure, not the median: a history with a burst on fewer than half of its days gives the level of
its ordinary days. The daily extreme is taken from the
asset's own distribution, so an asset whose liquidations come few and large (a heavy tail) gets
a level in proportion to its tail, not to its body. The level is fixed once per hour of event
time from the minutes before that hour, so a decision depends on event times only.

Before there is a level (a cold start), the largest window the history has held so far is read
too: an asset whose ordinary windows already come near the fallback floor is not called on them.
"""

from __future__ import annotations

import functools
import math
import statistics

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY_MIN = 1440
DAY_MIN_MINUTES = DAY_MIN // 2  # a day gives a figure once half of it is history
_STEP = math.log(1.1)
_BASES = {"usd": 1_000.0, "n": 1.0}  # bin 0 holds everything below: $1k, or one liquidation
RECENT = 120  # minutes kept for forget_since: at least the longest cascade window


@functools.cache  # asked for every minute judged: a handful of keys, built once
def key(measure: str, width_ms: int) -> str:
    """The history of one measure ("usd" or "n") of windows `width_ms` wide, e.g. "usd:5m"."""
    return f"{measure}:{width_ms // MINUTE}m"


def top_key(k: str) -> str:
    """The largest window of measure `k` in the history so far (read on a cold start, before any level)."""
    return f"top:{k}"


def bin_of(value: float, base: float) -> int:
    return 0 if value < base else 1 + int(math.log(value / base) / _STEP)


def bin_top(b: int, base: float) -> float:
    """Upper edge of bin `b` (a conservative reading of a quantile)."""
    return base if b == 0 else base * math.exp(b * _STEP)


def _base(k: str) -> float:
    return _BASES[k.split(":", 1)[0]]


class FloorSketch:
    """Per-day histograms of one asset's window measures, and the hourly levels read from them."""

    def __init__(self, days: int, quantile: float, d: dict | None = None):
        self.days, self.quantile = days, quantile
        d = d or {}
        # measure key -> day -> bin -> minutes
        self.hist: dict[str, dict[int, dict[int, int]]] = {
            k: {int(day): {int(b): c for b, c in row.items()} for day, row in per_day.items()}
            for k, per_day in d.get("hist", {}).items()}
        self.minutes: dict[int, int] = {int(k): v for k, v in d.get("minutes", {}).items()}  # day -> minutes added
        self.minute: int | None = d.get("minute")  # the next minute to add (its start, ms)
        self.level: tuple | None = tuple(d["level"]) if d.get("level") else None  # (hour, {key: level}, minutes)
        self.recent: list = [list(r) for r in d.get("recent", [])]  # [minute, day, {key: bin}] of the last minutes
        self.cold: list = list(d.get("cold", [0, 0]))  # minutes seen on a cold start, and how many were above its cutoff

    def add(self, minute: int, values: dict[str, float] | None) -> None:
        """The measures of the windows ending with `minute` (None: a minute inside a cascade, not history)."""
        self._roll(minute)
        if values is not None:
            day = minute // MINUTE // DAY_MIN
            bins = {k: bin_of(v, _base(k)) for k, v in values.items()}
            if self._count(day, bins, 1):
                self.recent.append([minute, day, bins])
                if len(self.recent) > RECENT:
                    del self.recent[: len(self.recent) - RECENT]
        self.minute = minute + MINUTE

    def forget_since(self, minute: int) -> None:
        """Take back the minutes added from `minute` on: they turned out to be a burst's ramp."""
        while self.recent and self.recent[-1][0] >= minute:
            _, day, bins = self.recent.pop()
            if day in self.minutes:
                self.minutes[day] -= 1
            for k, b in bins.items():
                row = self.hist.get(k, {}).get(day)
                if row and row.get(b):
                    row[b] -= 1
                    if not row[b]:
                        del row[b]

    def add_zeros(self, minute: int, count: int, keys: list[str]) -> None:
        """`count` minutes with no long liquidations from `minute` on (a quiet stretch, added at once)."""
        end = minute + count * MINUTE
        last_hour = (end - MINUTE) - (end - MINUTE) % HOUR
        zeros = {k: 0 for k in keys}
        for lo, hi in ((minute, max(minute, last_hour)), (max(minute, last_hour), end)):
            if hi <= lo:
                continue
            self._roll(lo)
            m = lo
            while m < hi:
                day = m // MINUTE // DAY_MIN
                n = min(hi, (day + 1) * DAY_MIN * MINUTE) - m
                self._count(day, zeros, n // MINUTE)
                m += n
        self.minute = end

    def _roll(self, minute: int) -> None:
        """Fix the levels of `minute`'s hour before its first minute enters the history."""
        hour = minute - minute % HOUR
        if self.level is None or self.level[0] != hour:
            levels, n = self.read()
            self.level = (hour, levels, n)

    def _count(self, day: int, bins: dict[str, int], n: int) -> bool:
        newest = max(self.minutes, default=day)
        if day <= newest - self.days:
            return False
        if day not in self.minutes:
            self.minutes[day] = 0
            for old in [k for k in self.minutes if k <= day - self.days]:
                del self.minutes[old]
                for per_day in self.hist.values():
                    per_day.pop(old, None)
        self.minutes[day] += n
        for k, b in bins.items():
            row = self.hist.setdefault(k, {}).setdefault(day, {})
            row[b] = row.get(b, 0) + n
        return True

    def history_minutes(self) -> int:
        return sum(self.minutes.values())

    def read(self) -> tuple[dict[str, float], int]:
        """({key: level}, minutes of history): each level the median over the days with at least
        half a day of history of that day's quantile. Keys with no such day are left out. Also, under
        `top_key(key)`, the largest window of each measure so far (its bin's upper edge)."""
        levels: dict[str, float] = {}
        for k, per_day in self.hist.items():
            daily = sorted(self._day_quantile(row, _base(k)) for day, row in per_day.items()
                           if self.minutes.get(day, 0) >= DAY_MIN_MINUTES and row)
            if daily:
                # The median, between the middle two of an even count: the lower of two young days
                # alone (one quiet day) set levels that called ordinary hours on small assets.
                levels[k] = statistics.median(daily)
            rows = [row for row in per_day.values() if row]
            if rows:
                levels[top_key(k)] = bin_top(max(max(row) for row in rows), _base(k))
        return levels, self.history_minutes()

    def _day_quantile(self, row: dict[int, int], base: float) -> float:
        rank = self.quantile * sum(row.values())
        seen = 0
        for b in sorted(row):
            seen += row[b]
            if seen >= rank:
                return bin_top(b, base)
        return bin_top(max(row), base)

    def level_at(self, ts: int) -> tuple[dict[str, float], int]:
        """The levels of `ts`'s hour: read from the minutes before that hour. Every minute before
        `ts`'s own has been added when it is asked, so this is the same in any arrival order."""
        self._roll(ts - ts % MINUTE)
        return self.level[1], self.level[2]

    def to_dict(self) -> dict:
        return {"hist": {k: {str(day): {str(b): c for b, c in row.items()} for day, row in per_day.items()}
                         for k, per_day in self.hist.items()},
                "minutes": {str(k): v for k, v in self.minutes.items()},
                "minute": self.minute, "level": list(self.level) if self.level else None,
                "recent": self.recent, "cold": self.cold}
