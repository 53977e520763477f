"""Spot-ETF flow context for an asset, as it was known at a given moment.

Every version of a fund-day figure is kept with its published_ts. The context at time t uses,
for each fund and day, the latest version published strictly before t, so a revision published
later never changes an alert computed before it. A day's total is the sum of its funds, or the
source's own day total (fund `TOTAL`) where one was published. Context raises or lowers an
alert's severity; it never triggers one.

How many days are kept depends on how far the asset's decisions have got (its judging, set by its
AssetState), not on the newest day read: `keep_days` before the judging's day, and every day after
it, at most `MAX_DAYS`. A catch-up worker that reads the ETF topic ahead of the exchange topics
still has the days its later decisions read, and the context is the one a replay gives.
"""

from __future__ import annotations

import bisect
import datetime as dt
import statistics
from collections.abc import Callable

from pipeline.contracts.models import EtfFlow

TOTAL_FUND = "TOTAL"
_KEEP_DAYS = 40
_KEEP_VERSIONS = 8
MARGIN_DAYS = 10
MAX_DAYS = 3_660  # whatever lies ahead of the judging: ten years of days
_Z_WINDOW = 20
_Z_MIN_DAYS = 5


class EtfLedger:
    def __init__(self, keep_days: int = _KEEP_DAYS) -> None:
        self.keep_days = keep_days
        # date -> fund -> [(net_usd, published_ts), ...] sorted by published_ts
        self.flows: dict[str, dict[str, list[tuple[float, int]]]] = {}
        # How far the asset's decisions have got (None: not started, all is kept); a ledger on its
        # own keeps the newest `keep_days` days it has read.
        self.judging: Callable[[], float | None] | None = None

    def add(self, e: EtfFlow) -> bool:
        """Record a version of a fund-day figure; False if exactly this version was already known."""
        versions = self.flows.setdefault(e.date, {}).setdefault(e.fund, [])
        value = (e.net_flow_usd, e.published_ts)
        if value in versions:
            return False
        # Two versions published at the same time (a corrected page imported under the same history rule)
        # are ordered by value, not by arrival: every reader, in any order, takes the same one.
        bisect.insort(versions, value, key=lambda v: (v[1], v[0]))
        del versions[:-_KEEP_VERSIONS]
        self._trim()
        return True

    def _trim(self) -> None:
        days = sorted(self.flows)
        at = self.judging() if self.judging is not None else None
        if self.judging is None:
            drop = days[: max(0, len(days) - self.keep_days)]
        elif at is None:  # no decision yet: everything read is still ahead of them
            drop = []
        else:  # a few days more than the context reads: an amendment renders it as of an earlier time
            drop = days[: bisect.bisect_left(days, _day_of(at, self.keep_days + MARGIN_DAYS))]
        drop += days[len(drop): max(len(drop), len(days) - MAX_DAYS)]
        for d in drop:
            del self.flows[d]

    def funds_at(self, at_ms: int) -> list[tuple[str, dict[str, float]]]:
        """(date, {fund: net_usd}) newest day first, each figure as last published before at_ms, over
        the `keep_days` days before at_ms: the same however much more the ledger holds."""
        out = []
        oldest = _day_of(at_ms, self.keep_days)
        for date in sorted(self.flows, reverse=True):
            if date < oldest:
                break
            known = {}
            for fund, versions in self.flows[date].items():
                i = bisect.bisect_left(versions, at_ms, key=lambda v: v[1])
                if i:
                    known[fund] = versions[i - 1][0]
            if known:
                out.append((date, known))
        return out

    @staticmethod
    def day_total(funds: dict[str, float]) -> float:
        if TOTAL_FUND in funds:
            return funds[TOTAL_FUND]
        return sum(funds.values())

    def totals_at(self, at_ms: int) -> list[tuple[str, float]]:
        return [(date, self.day_total(funds)) for date, funds in self.funds_at(at_ms)]

    def context(self, at_ms: int) -> dict | None:
        days = self.totals_at(at_ms)
        if not days:
            return None
        totals = [t for _, t in days]
        prior = totals[1:_Z_WINDOW + 1]
        z = None
        if len(prior) >= _Z_MIN_DAYS and statistics.pstdev(prior) > 0:
            z = round((totals[0] - statistics.fmean(prior)) / statistics.pstdev(prior), 3)
        return {"as_of_date": days[0][0], "last_day_usd": round(totals[0], 2),
                "outflow_streak_days": _streak(totals, lambda t: t < 0),
                "inflow_streak_days": _streak(totals, lambda t: t > 0),
                "sum_5d_usd": round(sum(totals[:5]), 2), "sum_20d_usd": round(sum(totals[:20]), 2),
                "zscore": z, "days_known": len(totals)}

    def to_dict(self) -> dict:
        return {d: {f: [list(v) for v in vs] for f, vs in funds.items()} for d, funds in self.flows.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "EtfLedger":
        led = cls()
        for day, funds in d.items():
            for fund, vs in funds.items():
                # an older snapshot kept one [net, published_ts] per fund-day
                versions = [vs] if vs and not isinstance(vs[0], (list, tuple)) else vs
                led.flows.setdefault(day, {})[fund] = sorted(((v[0], v[1]) for v in versions), key=lambda v: v[1])
        return led


def _day_of(at_ms: float, days_before: int) -> str:
    """The date `days_before` days before `at_ms`'s (ISO, as fund-day dates are written)."""
    return (dt.datetime.fromtimestamp(at_ms / 1000, dt.timezone.utc).date() - dt.timedelta(days=days_before)).isoformat()


def _streak(totals: list[float], pred) -> int:
    n = 0
    for t in totals:
        if not pred(t):
            break
        n += 1
    return n
