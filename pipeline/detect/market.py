"""Rolling minute statistics per market (venue/symbol) and per asset's long liquidations.

They give the detector its relative measures: a deposit against the receiving venue's recent
taker volume, a price drop against recent volatility, a liquidation window against the recent
baseline, and which markets had holes in their trade flow while a stage's evidence was gathered.

USD sums are kept in integer cents so that they do not depend on the order bars arrive in
(float addition is not associative); that keeps streaming and offline results identical.
"""

from __future__ import annotations

import bisect
import math
from operator import itemgetter

MINUTE = 60_000
ACTIVE_BEFORE_MS = 10 * MINUTE  # a market with bars this long before a span is expected to have bars in it
MIN_RETURNS = 10  # fewer one-minute returns than this: volatility unknown
_FIRST = itemgetter(0)  # a row's minute, the key of every search


def minute_of(ts: int) -> int:
    return ts - ts % MINUTE


def _row(rows: list, m: int, fresh: list) -> list:
    """The row of minute `m` in sorted `rows` (inserting `fresh` if absent)."""
    if rows and rows[-1][0] == m:
        return rows[-1]
    if not rows or rows[-1][0] < m:
        rows.append(fresh)
        return fresh
    i = bisect.bisect_left(rows, m, key=_FIRST)
    if i < len(rows) and rows[i][0] == m:
        return rows[i]
    rows.insert(i, fresh)
    return fresh


def _prune(rows: list, before: int) -> None:
    if rows and rows[0][0] < before:
        del rows[: bisect.bisect_left(rows, before, key=_FIRST)]


class MarketBook:
    """market -> sorted rows [minute, taker volume in cents, ts of the latest bar, its close]."""

    def __init__(self, rows: dict | None = None):
        self.rows: dict[str, list] = rows if rows is not None else {}

    def add(self, market: str, ts: int, usd: float, close: float) -> None:
        rows = self.rows.get(market)
        if rows is None:
            rows = self.rows[market] = []
        m = ts - ts % MINUTE
        row = rows[-1] if rows and rows[-1][0] == m else _row(rows, m, [m, 0, -1, close])
        row[1] += round(usd * 100)
        if ts > row[2]:
            row[2], row[3] = ts, close

    def prune(self, before: int) -> None:
        for market in list(self.rows):
            _prune(self.rows[market], before)
            if not self.rows[market]:
                del self.rows[market]

    def _complete_minutes(self, market: str, start: int, end: int) -> list:
        """Rows of whole minutes inside [start, end)."""
        rows = self.rows.get(market, ())
        lo = bisect.bisect_left(rows, start, key=_FIRST)
        hi = bisect.bisect_left(rows, end - MINUTE + 1, key=_FIRST)
        return rows[lo:hi]

    def hourly_volume(self, venues: tuple[str, ...], end: int, lookback_ms: int) -> float | None:
        """Taker volume (USD per hour) of the given venues' markets over the lookback before `end`,
        scaled up from the minutes that have bars; None when none of them has a market with bars."""
        if not venues:
            return None
        total, found = 0.0, False
        for market in self.rows:
            if market.split("/", 1)[0] not in venues:
                continue
            rows = self._complete_minutes(market, end - lookback_ms, end)
            if rows:
                found = True
                total += sum(r[1] for r in rows) / 100 / len(rows) * 60
        return total if found else None

    def volatility(self, end: int, lookback_ms: int) -> float | None:
        """Root mean square of one-minute log returns (all markets) over the lookback before `end`."""
        sq, n = 0.0, 0
        for market in sorted(self.rows):
            prev = None
            for m, _, _, close in self._complete_minutes(market, end - lookback_ms, end):
                if prev is not None and m - prev[0] == MINUTE:
                    r = math.log(close / prev[1])
                    sq += r * r
                    n += 1
                prev = (m, close)
        return math.sqrt(sq / n) if n >= MIN_RETURNS else None

    def drop_pct(self, start: int, end: int) -> float | None:
        """How far the price fell (percent, the median over markets) from the close of the last whole
        minute before `start` to that of the last whole minute before `end`; None without a market that
        has both. Whole minutes only, so the figure is the same however far the bars have arrived."""
        drops = []
        ref_m, last_m = minute_of(start) - MINUTE, minute_of(end) - MINUTE
        for rows in self.rows.values():
            i = bisect.bisect_right(rows, last_m, key=_FIRST) - 1
            j = bisect.bisect_right(rows, ref_m, key=_FIRST) - 1
            if j < 0 or rows[j][0] < ref_m - 5 * MINUTE or rows[i][0] <= rows[j][0]:
                continue  # no close near the window's start, or none inside it
            drops.append((rows[j][3] - rows[i][3]) / rows[j][3] * 100.0)
        if not drops:
            return None
        drops.sort()
        return drops[(len(drops) - 1) // 2]

    def gaps(self, start: int, end: int) -> list[str]:
        """Markets active before `start` with a whole minute of no bars inside [start, end)."""
        first = start if start % MINUTE == 0 else minute_of(start) + MINUTE
        expected = range(first, end - MINUTE + 1, MINUTE)
        out = []
        for market, rows in self.rows.items():
            lo = bisect.bisect_left(rows, start - ACTIVE_BEFORE_MS, key=_FIRST)
            if lo == len(rows) or rows[lo][0] >= end:
                continue
            have = {r[0] for r in self._complete_minutes(market, first, end)}
            if any(m not in have for m in expected):
                out.append(market)
        return sorted(out)


class LongBook:
    """Sorted rows [minute, long liquidation notional in cents, how many] of one asset."""

    def __init__(self, rows: list | None = None):
        self.rows: list = rows if rows is not None else []

    def add(self, ts: int, usd: float) -> None:
        self.add_cents(ts, round(usd * 100))

    def add_cents(self, ts: int, cents: int) -> None:
        m = ts - ts % MINUTE
        rows = self.rows
        if rows and rows[-1][0] == m:
            row = rows[-1]
        else:
            row = _row(rows, m, [m, 0, 0])
        row[1] += cents
        row[2] += 1

    def prune(self, before: int) -> None:
        _prune(self.rows, before)

    def between(self, start: int, end: int) -> float:
        """Long notional (USD) of the minutes in [start, end)."""
        lo = bisect.bisect_left(self.rows, start, key=_FIRST)
        hi = bisect.bisect_left(self.rows, end, key=_FIRST)
        return sum(r[1] for r in self.rows[lo:hi]) / 100

    def windows(self, end: int, widths: list[int]) -> list[tuple[float, int]]:
        """Long notional (USD) and how many long liquidations in the minutes of [end - width, end), for
        each width (ascending), in one pass back from `end`."""
        rows = self.rows
        i = bisect.bisect_left(rows, end, key=_FIRST) - 1
        out, cents, n = [], 0, 0
        for width in widths:
            start = end - width
            while i >= 0 and rows[i][0] >= start:
                cents += rows[i][1]
                n += rows[i][2]
                i -= 1
            out.append((cents / 100, n))
        return out

    def next_minute(self, m: int) -> int | None:
        """The first minute at or after `m` with long liquidations."""
        i = bisect.bisect_left(self.rows, m, key=_FIRST)
        return self.rows[i][0] if i < len(self.rows) else None

    def per_window(self, start: int, lookback_ms: int, window_ms: int) -> float:
        """Mean long notional per `window_ms` over the whole minutes of the lookback before `start`."""
        end = minute_of(start)
        lo = bisect.bisect_left(self.rows, end - lookback_ms, key=_FIRST)
        hi = bisect.bisect_left(self.rows, end, key=_FIRST)
        return sum(r[1] for r in self.rows[lo:hi]) / 100 * window_ms / lookback_ms

