"""Small pieces shared by the chain watchers."""

from __future__ import annotations

import time
from collections.abc import Callable

# price(asset, ts_ms) -> USD per unit, or None when unknown (the event then carries usd_value 0).
PriceFn = Callable[[str, int], "float | None"]


def now_ms() -> int:
    return int(time.time() * 1000)


def fixed_prices(prices: dict[str, float]) -> PriceFn:
    """A price callable from a fixed table, e.g. {"BTC": 110_000, "ETH": 4_000, "USDT": 1}."""
    table = {k.upper(): float(v) for k, v in prices.items()}

    def price(asset: str, ts_ms: int) -> float | None:
        return table.get(asset.upper())

    return price


def usd(price: PriceFn | None, asset: str, amount: float, ts_ms: int) -> float:
    if price is None:
        return 0.0
    p = price(asset, ts_ms)
    return float(amount) * float(p) if p else 0.0
