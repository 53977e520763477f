"""Taker-flow bars from column arrays of trades, a block at a time, with the same result as the
per-trade `BarAggregator`: per venue/symbol, a trade older than the open bar's interval is late and
dropped (counted), and the last bar of each symbol stays open until a later trade or `flush()`.
Whole days of trades go through numpy instead of a Python object per trade."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat

import numpy as np

from pipeline.contracts.models import SCHEMA_VERSION

from .bars import BAR_INTERVAL_MS


@dataclass(slots=True)
class _Open:
    start: int
    open: float
    high: float
    low: float
    close: float
    buy: float
    sell: float
    count: int


class VectorBars:
    """Feed `add(key, asset, ts, price, usd, taker_sold)` arrays in input order; bars come back as
    TradeFlow dicts (the `model_dump(mode="json")` shape). `add_rows`/`flush_rows` give them as
    tuples `(ts, venue, symbol, asset, open, high, low, close, buy_usd, sell_usd, trades)` instead,
    which sort by time and become dicts (`as_dict`) only as they are handed on: thousands of dicts
    held at once would outlive the young garbage-collector generations and set off full collections."""

    def __init__(self, interval_ms: int = BAR_INTERVAL_MS):
        self.interval_ms = interval_ms
        self._open: dict[tuple[str, str], tuple[str, _Open]] = {}
        self.late_trades = 0

    def add(self, key: tuple[str, str], asset: str, ts: np.ndarray, price: np.ndarray, usd: np.ndarray,
            taker_sold: np.ndarray) -> list[dict]:
        return [self.as_dict(r) for r in self.add_rows(key, asset, ts, price, usd, taker_sold)]

    def add_rows(self, key: tuple[str, str], asset: str, ts: np.ndarray, price: np.ndarray, usd: np.ndarray,
                 taker_sold: np.ndarray) -> list[tuple]:
        if len(ts) == 0:
            return []
        start = ts - ts % self.interval_ms
        held = self._open.get(key)
        floor = held[1].start if held is not None else start[0]
        running = np.maximum.accumulate(np.concatenate(([floor], start)))[1:]
        keep = start >= running
        late = int(len(keep) - keep.sum())
        if late:
            self.late_trades += late
            start, price, usd, taker_sold = start[keep], price[keep], usd[keep], taker_sold[keep]
            if len(start) == 0:
                return []
        cuts = np.flatnonzero(np.diff(start)) + 1
        firsts = np.concatenate(([0], cuts))
        lasts = np.concatenate((cuts - 1, [len(start) - 1]))
        sells = np.where(taker_sold, usd, 0.0)
        buys = usd - sells
        starts = start[firsts].tolist()
        opens, closes = price[firsts].tolist(), price[lasts].tolist()
        highs = np.maximum.reduceat(price, firsts).tolist()
        lows = np.minimum.reduceat(price, firsts).tolist()
        buy_sums = np.add.reduceat(buys, firsts).tolist()
        sell_sums = np.add.reduceat(sells, firsts).tolist()
        counts = (lasts - firsts + 1).tolist()
        out: list[tuple] = []
        i0 = 0
        if held is not None:
            bar = held[1]
            if starts[0] == bar.start:  # the block continues the open bar
                bar.high, bar.low = max(bar.high, highs[0]), min(bar.low, lows[0])
                bar.close = closes[0]
                bar.buy += buy_sums[0]
                bar.sell += sell_sums[0]
                bar.count += counts[0]
                i0 = 1
                if len(starts) == 1:
                    return out
            out.append(_row(key, held[0], bar))
        j = len(starts) - 1
        if j > i0:
            n = j - i0
            out.extend(zip(starts[i0:j], repeat(key[0], n), repeat(key[1], n), repeat(asset, n), opens[i0:j],
                           highs[i0:j], lows[i0:j], closes[i0:j], buy_sums[i0:j], sell_sums[i0:j], counts[i0:j]))
        if j >= i0:
            self._open[key] = (asset, _Open(starts[j], opens[j], highs[j], lows[j], closes[j], buy_sums[j],
                                            sell_sums[j], counts[j]))
        return out

    def flush(self) -> list[dict]:
        return [self.as_dict(r) for r in self.flush_rows()]

    def flush_rows(self) -> list[tuple]:
        out = sorted(_row(k, asset, bar) for k, (asset, bar) in self._open.items())
        self._open.clear()
        return out

    def as_dict(self, row: tuple) -> dict:
        start, venue, symbol, asset, o, h, lo, c, buy, sell, count = row
        return {"schema_version": SCHEMA_VERSION, "type": "trade_flow", "venue": venue, "symbol": symbol, "asset": asset,
                "ts": start, "interval_ms": self.interval_ms, "buy_volume_usd": buy, "sell_volume_usd": sell,
                "open": o, "high": h, "low": lo, "close": c, "trade_count": count}


def _row(key: tuple[str, str], asset: str, bar: _Open) -> tuple:
    return (bar.start, key[0], key[1], asset, bar.open, bar.high, bar.low, bar.close, bar.buy, bar.sell, bar.count)
