"""Trades -> taker-flow bars per venue/symbol and interval (1 s by default)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.contracts.models import TradeFlow

if TYPE_CHECKING:
    from .base import Trade

BAR_INTERVAL_MS = 1000


@dataclass(slots=True)
class _Bar:
    asset: str
    start: int
    open: float
    high: float
    low: float
    close: float
    buy: float = 0.0
    sell: float = 0.0
    count: int = 0

    def add(self, t: Trade) -> None:
        self.high = max(self.high, t.price)
        self.low = min(self.low, t.price)
        self.close = t.price
        self.count += 1
        if t.taker_side == "buy":
            self.buy += t.notional_usd
        else:
            self.sell += t.notional_usd


class BarAggregator:
    """Trades -> per-interval TradeFlow bars per (venue, symbol).

    A bar is emitted when a trade of a later interval arrives for the same venue/symbol, or on
    flush()/flush_before(). A trade for an interval older than the open bar is late: the bar for
    that interval has already gone out, so the trade is counted in `late_trades` and dropped (a
    second bar with the same id would replace the first one downstream).
    """

    def __init__(self, interval_ms: int = BAR_INTERVAL_MS):
        self.interval_ms = interval_ms
        self._open: dict[tuple[str, str], _Bar] = {}
        self.late_trades = 0

    def add(self, trade: Trade) -> list[TradeFlow]:
        key = (trade.venue, trade.symbol)
        start = trade.ts - trade.ts % self.interval_ms
        bar = self._open.get(key)
        out: list[TradeFlow] = []
        if bar is not None and start < bar.start:
            self.late_trades += 1
            return out
        if bar is not None and start > bar.start:
            out.append(self._emit(key, bar))
            bar = None
        if bar is None:
            bar = _Bar(trade.asset, start, trade.price, trade.price, trade.price, trade.price)
            self._open[key] = bar
        bar.add(trade)
        return out

    def flush_before(self, ts_ms: int) -> list[TradeFlow]:
        """Emit open bars whose interval ended at or before ts_ms (for quiet symbols in a live feed)."""
        done = [k for k, b in self._open.items() if b.start + self.interval_ms <= ts_ms]
        return sorted((self._emit(k, self._open.pop(k)) for k in done), key=lambda b: (b.ts, b.venue, b.symbol))

    def flush(self) -> list[TradeFlow]:
        out = [self._emit(k, b) for k, b in list(self._open.items())]
        self._open.clear()
        return sorted(out, key=lambda b: (b.ts, b.venue, b.symbol))

    def _emit(self, key: tuple[str, str], bar: _Bar) -> TradeFlow:
        self._open.pop(key, None)
        return TradeFlow(venue=key[0], symbol=key[1], asset=bar.asset, ts=bar.start, interval_ms=self.interval_ms,
                         buy_volume_usd=bar.buy, sell_volume_usd=bar.sell, open=bar.open, high=bar.high,
                         low=bar.low, close=bar.close, trade_count=bar.count)
