"""Sorted event buffers of one asset: trade-flow bars and liquidations, in event-time order.

They double as the duplicate check for bars and liquidations (a bar is identified by its time and
market, a liquidation by its time and event id), which keeps snapshots small.
"""

from __future__ import annotations

import bisect
from typing import NamedTuple

from pipeline.contracts.models import Liquidation, TradeFlow

_TOP = "\uffff"  # sorts after any id: (ts, _TOP) is past every entry at ts
_INF = float("inf")


class Bar(NamedTuple):
    ts: int
    market: str  # "venue/symbol"
    end: int
    buy: float
    sell: float
    open: float
    low: float
    close: float

    @classmethod
    def of(cls, e: TradeFlow) -> "Bar":
        return cls(e.ts, f"{e.venue}/{e.symbol}", e.ts + e.interval_ms, e.buy_volume_usd, e.sell_volume_usd,
                   e.open, e.low, e.close)

    @property
    def venue(self) -> str:
        return self.market.split("/", 1)[0]


class Liq(NamedTuple):
    ts: int
    event_id: str
    side: str
    venue: str
    completeness: str
    cents: int  # notional USD in integer cents: sums that do not depend on the order of addition

    @classmethod
    def of(cls, e: Liquidation) -> "Liq":
        return cls(e.ts, e.event_id, e.side, e.venue, e.completeness, round(e.notional_usd * 100))


def insert(rows: list, row: tuple) -> bool:
    """Insert `row` keeping `rows` sorted; False (and nothing inserted) if its (ts, id) is there."""
    if not rows or rows[-1][:2] < row[:2]:
        rows.append(row)
        return True
    i = bisect.bisect_left(rows, row[:2])
    if i < len(rows) and rows[i][:2] == row[:2]:
        return False
    rows.insert(i, row)
    return True


def upto(rows: list, ts: float) -> int:
    """Index just past the last row at or before `ts`."""
    if ts == _INF or (rows and rows[-1][0] <= ts):
        return len(rows)
    return bisect.bisect_right(rows, (ts, _TOP))


def since(rows: list, ts: float) -> int:
    """Index of the first row at or after `ts`."""
    return bisect.bisect_left(rows, (ts,))


def prune(rows: list, before: int) -> int:
    """Drop rows older than `before`; returns how many were dropped."""
    if rows and rows[0][0] < before:
        n = since(rows, before)
        del rows[:n]
        return n
    return 0
