"""Spot-ETF flow context for an asset, as it was known at a given moment.

A day's figure for a fund counts only from its published_ts on, so an alert never uses a number
before it was public. Context raises or lowers an alert's severity; it never triggers one.
"""

from __future__ import annotations

import statistics

from pipeline.contracts.models import EtfFlow

_KEEP_DAYS = 40


class EtfLedger:
    def __init__(self) -> None:
        self.flows: dict[str, dict[str, tuple[float, int]]] = {}  # date -> fund -> (net_usd, published_ts)

    def add(self, e: EtfFlow) -> bool:
        """Record a fund-day figure; False if exactly this figure was already known."""
        day = self.flows.setdefault(e.date, {})
        value = (e.net_flow_usd, e.published_ts)
        if day.get(e.fund) == value:
            return False
        day[e.fund] = value
        if len(self.flows) > _KEEP_DAYS:
            for d in sorted(self.flows)[: len(self.flows) - _KEEP_DAYS]:
                del self.flows[d]
        return True

    def context(self, at_ms: int) -> dict | None:
        days = []
        for date in sorted(self.flows, reverse=True):
            known = [net for net, pub in self.flows[date].values() if pub <= at_ms]
            if known:
                days.append((date, sum(known)))
        if not days:
            return None
        totals = [t for _, t in days]
        streak = 0
        for t in totals:
            if t >= 0:
                break
            streak += 1
        prior = totals[1:21]
        z = None
        if len(prior) >= 5 and statistics.pstdev(prior) > 0:
            z = round((totals[0] - statistics.fmean(prior)) / statistics.pstdev(prior), 3)
        return {"as_of_date": days[0][0], "last_day_usd": round(totals[0], 2), "outflow_streak_days": streak,
                "sum_5d_usd": round(sum(totals[:5]), 2), "sum_20d_usd": round(sum(totals[:20]), 2), "zscore": z}

    def to_dict(self) -> dict:
        return {d: {f: list(v) for f, v in funds.items()} for d, funds in self.flows.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "EtfLedger":
        led = cls()
        led.flows = {day: {f: (v[0], v[1]) for f, v in funds.items()} for day, funds in d.items()}
        return led
