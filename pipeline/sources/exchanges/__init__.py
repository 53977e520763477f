"""Exchange connectors: forced liquidations and taker trade flow, normalized to the contracts in
pipeline/contracts/models.py. See docs/venues.md for each venue's conventions."""

from __future__ import annotations

from .base import BarAggregator, ParseResult, Trade, Venue, split_line
from .binance import BinanceCoinm, BinanceUsdm
from .bitmex import Bitmex
from .bybit import Bybit
from .coinbase import Coinbase
from .deribit import Deribit
from .hyperliquid import Hyperliquid
from .kraken_futures import KrakenFutures
from .okx import Okx

VENUES: dict[str, type[Venue]] = {
    v.name: v for v in (BinanceUsdm, BinanceCoinm, Bybit, Okx, Bitmex, Deribit, Hyperliquid, KrakenFutures, Coinbase)
}


def get_venue(name: str) -> Venue:
    try:
        return VENUES[name]()
    except KeyError:
        raise ValueError(f"unknown venue {name!r}; known: {', '.join(VENUES)}") from None


__all__ = ["VENUES", "BarAggregator", "ParseResult", "Trade", "Venue", "get_venue", "split_line"]
