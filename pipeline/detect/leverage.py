"""Leverage context for an asset: open interest across venues and funding, as known at a moment.

Every `leverage` event updates the latest figures of its venue instrument; the asset's totals
(open interest in USD summed over the instruments heard from in the last two hours, the funding rate as
an open-interest-weighted mean scaled to 8 hours, the mean mark price) are then written into two
bounded series: one row per minute (the cascade window) and one per hour (the 30-day history).
Each row also carries the set of instruments it sums, so a venue joining or leaving is never read
as leverage built or flushed: changes and percentiles compare only rows over the same instruments.

The context at time t reads whole buckets only, those that ended by t (the last whole minute, the
last whole hours): a bucket still being written would give a figure that depends on how far the
feed had got when the alert was rendered, and the stream and a replay would differ.

How much is kept depends on how far the asset's decisions have got (its judging, which the book
follows from its AssetState), not on the newest row read: minute rows from 8 hours and hourly rows
from 30 days + 8 hours before the judging, and everything after it. A catch-up worker may read the
whole open-interest topic before the exchange topics; the rows its later decisions read are then
still there, and the context is the one a replay gives. A backlog read ahead costs one row per
minute and per hour it covers (about 270 bytes each in memory, 75 in the state snapshot), at most
`MINUTES_MAX` and `HOURS_MAX` rows: 22.7 days of one figure a minute, 9 MB and 2.5 MB of snapshot
per asset. Beyond them the oldest go, and the earliest alerts of a longer backlog read ahead fall
back on the hourly rows, as a book trimmed by its newest row did. An asset whose decisions have
not started keeps what it reads up to those limits.

Like the ETF context it raises or lowers an alert's severity by one level at most and never
triggers one. The open-interest fall during a cascade (`flush`) is evidence: it corroborates a
cascade seen through sampled or gapped liquidation feeds, but open interest also falls when
traders close on their own, so it is never a trigger on its own.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import math
import statistics
from collections.abc import Callable
from operator import itemgetter

from pipeline.contracts.models import Leverage
from pipeline.detect.config import HOUR, MINUTE, DetectorConfig

FUNDING_BASIS_MS = 8 * HOUR
STALE_MS = 2 * HOUR  # an instrument silent this long drops out of the totals
KEY_KEEP_MS = 2 * MINUTE  # per instrument, entries this far behind its newest are merged away
HISTORY_MS = 30 * 24 * HOUR  # the trailing window of the percentile and the z-score
# Kept behind the judging, a few hours longer than the decisions read (an amendment renders its
# context as of its episode's start).
MINUTES_KEEP_MS = 8 * HOUR
HOURS_KEEP_MS = HISTORY_MS + 8 * HOUR
# At most this many rows, whatever lies ahead of the judging (a backlog read ahead): 22.7 days of
# one row a minute, 400 days of hours.
MINUTES_MAX = 32_768
HOURS_MAX = 400 * 24
MIN_HISTORY_HOURS = 24  # fewer comparable hours: no percentile or z-score

# row: [bucket start, last update ts, open interest USD, coverage, funding 8h or None, mark price or None]
_B, _AT, _OI, _COV, _FUND, _PX = range(6)


class LeverageBook:
    def __init__(self, keys: dict | None = None, minutes: list | None = None, hours: list | None = None) -> None:
        # "venue/symbol" -> its recent entries, sorted by ts: [ts, oi_usd, funding_8h, mark] as the event
        # gave them, then the same figures merged with the entries before it (a message carries some)
        self.keys: dict[str, list[list]] = keys or {}
        self._minutes: list[list] = minutes or []
        self._hours: list[list] = hours or []
        # The newest minute, fed in order, whose row is not written yet: several events of a minute
        # (one per instrument) write its row once, when another minute comes or a row is read.
        self._pending: int | None = None
        # How far the asset's decisions have got (None: nothing decided yet), set by its AssetState;
        # a book on its own keeps rows relative to the newest it has.
        self.judging: Callable[[], float | None] | None = None

    @property
    def minutes(self) -> list[list]:
        if self._pending is not None:
            self._write_pending()
        return self._minutes

    @property
    def hours(self) -> list[list]:
        if self._pending is not None:
            self._write_pending()
        return self._hours

    # -- input ------------------------------------------------------------------------------
    def add(self, e: Leverage) -> bool:
        """Apply one event; False when it brings nothing new (a re-delivery, or older than what is kept).

        Each bucket's row is computed from every instrument's figures as of the bucket's end, so the
        rows do not depend on the order in which events within the feeds' lateness arrived."""
        ts = e.ts
        key = f"{e.venue}/{e.symbol}"
        entries = self.keys.get(key)
        if entries is None:
            entries = self.keys[key] = []
        funding = None
        if e.funding_rate is not None and e.funding_interval_ms:
            funding = e.funding_rate * FUNDING_BASIS_MS / e.funding_interval_ms
        oi, mark = e.open_interest_usd, e.mark_price
        n = len(entries)
        if not n:
            i = 0
        else:
            newest = entries[-1]
            if ts < newest[0] - KEY_KEEP_MS:
                return False  # older than the entries kept
            i = n if newest[0] <= ts else bisect.bisect_right(entries, ts, key=_ts)
            if i and (last := entries[i - 1])[0] == ts and last[1] == oi and last[2] == funding and last[3] == mark:
                return False  # the same message again
        bucket = ts - ts % MINUTE
        pending = self._pending
        # In order (the newest entry of its instrument, in the newest minute): each instrument's
        # figures as of the minute's end only gain, so the row written once at the end is the one
        # each event would have written. Anything else first writes the pending row.
        in_order = i == n
        if pending is not None and (pending != bucket or not in_order):
            self._write_pending()
        if in_order:
            if n:
                prev = entries[-1]
                entries.append([ts, oi, funding, mark, prev[4] if oi is None else oi,
                                prev[5] if funding is None else funding, prev[6] if mark is None else mark])
            else:
                entries.append([ts, oi, funding, mark, oi, funding, mark])
            if n and entries[1][0] < ts - KEY_KEEP_MS:
                while len(entries) > 1 and entries[1][0] < ts - KEY_KEEP_MS:
                    del entries[0]
            minutes = self._minutes
            if not minutes or minutes[-1][_B] <= bucket:
                self._pending = bucket
                return True
        else:
            entries.insert(i, [ts, oi, funding, mark, None, None, None])
            for j in range(i, len(entries)):  # merged figures: this entry's, else the last one's before it
                prev = entries[j - 1][4:] if j else [None, None, None]
                entries[j][4:] = [v if v is not None else p for v, p in zip(entries[j][1:4], prev)]
            while len(entries) > 1 and entries[1][0] < entries[-1][0] - KEY_KEEP_MS:
                del entries[0]
        later = self._minutes[bisect.bisect_right(self._minutes, bucket, key=_bucket):]
        for b in [bucket, *(r[_B] for r in later)]:  # its minute, and those already written after it
            self._write(b)
        return True

    def _write_pending(self) -> None:
        b, self._pending = self._pending, None
        self._write(b)

    def _write(self, b: int) -> None:
        """(Re)write minute `b`'s row, and its hour's row from the hour's last minute so far."""
        row = self._totals(b + MINUTE)
        if row is None:
            return
        minutes = self._minutes
        _put(minutes, b, row)
        hour = b - b % HOUR
        # the hour's last minute so far (the row just written, when it is the newest)
        last = minutes[-1] if minutes[-1][_B] == b else self.at(minutes, hour + HOUR, MINUTE)
        if last is not None and last[_B] >= hour:
            _put(self._hours, hour, last[1:])
        self._trim()

    def _trim(self) -> None:
        """Drop the rows no decision will read: those far enough behind the judging (or, on a book of its
        own, behind its newest row), and the oldest beyond the row limits."""
        minutes, hours = self._minutes, self._hours
        newest = minutes[-1][_B]
        judged = self.judging() if self.judging is not None else newest
        if judged is not None:
            at = min(newest, judged)
            _drop_before(minutes, at - MINUTES_KEEP_MS)
            _drop_before(hours, at - HOURS_KEEP_MS)
        if len(minutes) > MINUTES_MAX:
            del minutes[:-MINUTES_MAX]
        if len(hours) > HOURS_MAX:
            del hours[:-HOURS_MAX]

    def _totals(self, end: int) -> list | None:
        """[last ts, open interest, coverage, funding, mark] from each instrument's figures before `end`."""
        # One pass over the instruments, in the order they were first heard from (sums in that order).
        with_oi, ois, funded, weights, weighted, marks, at = [], [], [], [], [], [], None
        stale = end - STALE_MS
        for key, entries in self.keys.items():
            if not entries:
                continue
            last = entries[-1]
            if last[0] >= end:
                i = bisect.bisect_left(entries, end, key=_ts)
                if not i:
                    continue
                last = entries[i - 1]
            if last[0] > stale:
                oi = last[4]
                if oi is not None:
                    with_oi.append(key)
                    ois.append(oi)
                if last[5] is not None:
                    funded.append(last[5])
                    weights.append(oi or 0.0)
                    weighted.append(last[5] * (oi or 0.0))
                if last[6] is not None:
                    marks.append(last[6])
                if at is None or last[0] > at:
                    at = last[0]
        if not with_oi:
            return None
        total, weight = sum(ois), sum(weights)
        funding = (sum(weighted) / weight if weight > 0
                   else math.fsum(funded) / len(funded) if funded else None)  # = statistics.fmean
        return [at, round(total), _coverage(with_oi), None if funding is None else round(funding, 10),
                round(math.fsum(marks) / len(marks), 2) if marks else None]

    # -- reading ----------------------------------------------------------------------------
    @staticmethod
    def at(series: list[list], ts: float, width: int) -> list | None:
        """The last bucket of `width` that ended by ts."""
        i = bisect.bisect_right(series, ts - width, key=_bucket)
        return series[i - 1] if i else None

    def context(self, cfg: DetectorConfig, ts: int) -> dict | None:
        now = self.at(self.minutes, ts, MINUTE) or self.at(self.hours, ts, HOUR)
        if now is None or now[_AT] < ts - STALE_MS:
            return None
        past = [r for r in self.hours if ts - HISTORY_MS <= r[_B] <= ts - HOUR and r[_COV] == now[_COV]]
        ctx = {"as_of": now[_AT], "open_interest_usd": now[_OI], "instruments": int(now[_COV].split(":")[0]),
               "funding_8h": None if now[_FUND] is None else round(now[_FUND], 8),
               "oi_percentile_30d": None, "oi_change_24h_pct": None, "price_change_24h_pct": None,
               "funding_zscore": None, "building": False, "history_hours": len(past)}
        if len(past) >= MIN_HISTORY_HOURS:
            ois = [r[_OI] for r in past]
            ctx["oi_percentile_30d"] = round(sum(v <= now[_OI] for v in ois) / len(ois), 3)
            funds = [r[_FUND] for r in past if r[_FUND] is not None]
            if now[_FUND] is not None and len(funds) >= MIN_HISTORY_HOURS:
                mean, sd = _spread(tuple(funds))
                if sd > 0:
                    ctx["funding_zscore"] = round((now[_FUND] - mean) / sd, 3)
        day_ago = self.at(self.hours, ts - 24 * HOUR, HOUR)
        if day_ago is not None and day_ago[_COV] == now[_COV] and day_ago[_AT] > ts - 26 * HOUR and day_ago[_OI] > 0:
            ctx["oi_change_24h_pct"] = round(100 * (now[_OI] / day_ago[_OI] - 1), 3)
            if now[_PX] and day_ago[_PX]:
                ctx["price_change_24h_pct"] = round(100 * (now[_PX] / day_ago[_PX] - 1), 3)
                ctx["building"] = (ctx["oi_change_24h_pct"] >= cfg.leverage_build_oi_pct
                                   and abs(ctx["price_change_24h_pct"]) < cfg.leverage_build_max_price_pct)
        return ctx

    def flush(self, start: int, end: int) -> dict | None:
        """Open interest at the start of a cascade window and at its end, over the same instruments."""
        before, after = self.at(self.minutes, start, MINUTE), self.at(self.minutes, end, MINUTE)
        if before is None or after is None or before is after or before[_COV] != after[_COV] or before[_OI] <= 0:
            return None
        if before[_AT] < start - 10 * MINUTE:
            return None  # nothing heard near the start: no honest "before"
        drop = before[_OI] - after[_OI]
        return {"from_ts": before[_AT], "to_ts": after[_AT], "oi_before_usd": before[_OI], "oi_after_usd": after[_OI],
                "drop_usd": round(drop, 2), "drop_pct": round(100 * drop / before[_OI], 3)}

    def contracts_fall_pct(self, start: int, end: int) -> float | None:
        """How much open interest fell from `start` to `end` (percent), counted in contracts (USD over the
        mark price: a price fall alone closes nothing), over the same instruments; None when nothing
        was heard within 10 minutes before `start`."""
        before, after = self.at(self.minutes, start, MINUTE), self.at(self.minutes, end, MINUTE)
        if before is None or after is None or before is after or before[_COV] != after[_COV] or before[_OI] <= 0:
            return None
        if before[_AT] < start - 10 * MINUTE or not before[_PX] or not after[_PX]:
            return None
        return 100 * (1 - (after[_OI] / after[_PX]) / (before[_OI] / before[_PX]))

    # -- snapshot ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"keys": self.keys, "minutes": self.minutes, "hours": self.hours}

    @classmethod
    def from_dict(cls, d: dict | None) -> "LeverageBook":
        d = d or {}
        return cls({k: [list(x) for x in v] for k, v in d.get("keys", {}).items()},
                   [list(r) for r in d.get("minutes", [])], [list(r) for r in d.get("hours", [])])


@functools.lru_cache(maxsize=32)
def _spread(values: tuple[float, ...]) -> tuple[float, float]:
    """Mean and population standard deviation (exact, and slow: the alerts of one episode read the
    same hours, so they are remembered)."""
    return statistics.fmean(values), statistics.pstdev(values)


_ts = itemgetter(0)  # an entry's time, the key of its instrument's searches
_bucket = itemgetter(_B)  # a row's bucket start, the key of the series' searches


@functools.lru_cache(maxsize=256)
def _fingerprint(instruments: tuple[str, ...]) -> str:
    return f"{len(instruments)}:" + hashlib.sha1(",".join(sorted(instruments)).encode()).hexdigest()[:8]


def _coverage(instruments) -> str:
    """'{count}:{fingerprint}' of the set of instruments a total sums (rows compare only on equal ones)."""
    return _fingerprint(tuple(instruments))


def _put(series: list[list], bucket: int, row: list) -> None:
    """Write `row` as the bucket's (one row per bucket, buckets in order)."""
    if not series or series[-1][_B] < bucket:  # the usual cases: a new bucket at the end, or the last again
        series.append([bucket, *row])
        return
    if series[-1][_B] == bucket:
        series[-1] = [bucket, *row]
        return
    i = bisect.bisect_left(series, bucket, key=_bucket)
    if i < len(series) and series[i][_B] == bucket:
        series[i] = [bucket, *row]
    else:
        series.insert(i, [bucket, *row])


def _drop_before(series: list[list], bucket: float) -> None:
    if series and series[0][_B] < bucket:
        del series[:bisect.bisect_left(series, bucket, key=_bucket)]


# -- severity and evidence -------------------------------------------------------------------


def adjusted(cfg: DetectorConfig, level: int, ctx: dict | None) -> int:
    """One level up when the market was loaded with leverage (two of: open interest high for its 30
    days, built up over 24 h without the price following, funding far above its own normal) or a
    cascade flushed a large share of it while the liquidation feeds were sampled or gapped; one down
    when open interest was low and funding at or below normal. Never a trigger."""
    if ctx is None:
        return level
    pct, z = ctx.get("oi_percentile_30d"), ctx.get("funding_zscore")
    signs = [pct is not None and pct >= cfg.leverage_high_percentile, bool(ctx.get("building")),
             z is not None and z >= cfg.leverage_funding_z]
    flush = ctx.get("flush") or {}
    if sum(signs) >= 2 or flush.get("corroborates"):
        return min(level + 1, 3)
    if pct is not None and pct <= cfg.leverage_low_percentile and z is not None and z <= 0 and not ctx.get("building"):
        return max(level - 1, 0)
    return level


def for_alert(cfg: DetectorConfig, book: LeverageBook, ts: int, cascade: dict | None, evidence: dict | None,
              start: int | None = None) -> dict | None:
    """The leverage figures of an alert at ts. For a cascade, the market as it went in (as of the
    episode's start or the burst's first window, whichever is earlier: by the alert the flush is under
    way) and the flush from the burst's start to the alert (or to its peak, once amended)."""
    if not (cascade and "window_end" in cascade):
        return book.context(cfg, ts)
    burst = cascade["window_end"] - cascade["window_ms"]
    ctx = book.context(cfg, min(ts, burst, start if start is not None else ts))
    if ctx is None:
        return None
    end = max(ts, (cascade.get("peak") or {}).get("window_end", ts))
    flush = book.flush(burst - MINUTE, end)
    if flush is not None:
        feeds_partial = bool(evidence and (evidence.get("sampled_venues") or evidence.get("gapped_markets")))
        flush["corroborates"] = feeds_partial and flush["drop_pct"] >= cfg.leverage_flush_pct
        ctx["flush"] = flush
    return ctx
