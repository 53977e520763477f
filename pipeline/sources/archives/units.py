"""Contract units of a venue's symbol for rows that carry a bare quantity (CSV datasets): the same
instrument tables and rules as the venue's message parsers, so a row and its message agree."""

from __future__ import annotations

from pipeline.sources.exchanges import get_venue
from pipeline.sources.exchanges.base import (
    ASSET_RE,
    Instrument,
    ParseError,
    asset_of,
    instrument_cache,
    load_instruments,
)
from pipeline.sources.exchanges.bitmex import instrument_for_liquidation


@instrument_cache
def instrument(venue: str, symbol: str) -> Instrument:
    """ParseError when the symbol's units are unknown (never a guess)."""
    if venue in ("binance-usdm", "binance-coinm", "bybit", "okx", "kraken-futures", "coinbase"):
        return get_venue(venue).instrument(symbol)  # type: ignore[attr-defined]
    if venue == "bitmex":
        return instrument_for_liquidation(symbol)
    if venue == "deribit":
        linear = any(mark in symbol for mark in load_instruments("deribit")["linear_markers"])
        asset = asset_of(symbol.split("-", 1)[0].split("_", 1)[0])
        return Instrument(symbol, asset, "base", 1.0) if linear else Instrument(symbol, asset, "usd", 1.0)
    if venue == "hyperliquid":
        if not ASSET_RE.match(symbol.upper()):
            raise ParseError(f"{symbol}: not a Hyperliquid perp coin")
        return Instrument(symbol, symbol.upper(), "base", 1.0)
    raise ParseError(f"venue {venue!r}: units unknown")
