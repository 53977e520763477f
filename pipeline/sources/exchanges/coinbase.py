"""Coinbase Exchange (spot, wss://ws-feed.exchange.coinbase.com): the `matches` channel.

Spot has no liquidations. Coinbase's taker flow is read because coins deposited to the exchange are
sold on its spot books, which is the selling a whale deposit is followed by. (Binance spot sessions
stay refused by archives/detect.py: deposits to Binance are measured against its futures.)

- match (from the cryptofeed recording COINBASE.ws.28.0)::

      {"type": "match", "trade_id": 1568268, "maker_order_id": "cac01d6d-8009-4c33-8e0d-f7f853d7c1bc",
       "taker_order_id": "3dec64e4-f6ad-4ca8-ad3f-e5b1a0eb0d06", "side": "sell", "size": "450",
       "price": "0.791", "product_id": "SKL-USD", "sequence": 201390075,
       "time": "2021-04-17T16:43:37.121358Z"}

  `side` is the MAKER order's side (Coinbase docs: "The side field indicates the maker order side.
  If the side is sell this indicates the maker was a sell order and the match is considered an
  up-tick. A buy side match is a down-tick."), so the taker side is the opposite: the match above
  is a taker BUY. `size` is in base units, `price` in the quote per base unit, `time` ISO-8601 UTC
  (microseconds, truncated to the ms); event ids use `trade_id`.
- Only products quoted in USD, USDC or USDT give trades; the others (SKL-BTC, NMR-EUR, SKL-GBP)
  are skipped as "trade:non_usd_quote": no USD value without a conversion rate.
- last_match: the last trade before subscribing, sent once per product on subscribe (a match's
  fields): history, skipped.
- Skipped: subscriptions, heartbeat, ticker, snapshot, l2update, status and the `full` channel's
  received/open/done/change/activate. `{"type": "error", "message": "Failed to subscribe",
  "reason": "Invalid product ID provided"}` is an error, and refuses a live subscription.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from .base import Instrument, ParseError, ParseResult, Venue, asset_of, instrument_cache, iso_ms, pos, text
from .spec import VenueSpec

_PRODUCT_RE = re.compile(r"^([A-Z0-9]+)-([A-Z0-9]+)$")
_USD_QUOTES = ("USD", "USDC", "USDT")
_TAKER = {"sell": "buy", "buy": "sell"}  # the maker's side -> the taker's
_SKIP_TYPES = frozenset({"subscriptions", "heartbeat", "ticker", "snapshot", "l2update", "status",
                         "received", "open", "done", "change", "activate"})


def _quote(product_id: str) -> str:
    m = _PRODUCT_RE.match(product_id)
    if m is None:
        raise ParseError(f"{product_id!r}: not a Coinbase product id (BTC-USD)")
    return m.group(2)


@instrument_cache
def _instrument(product_id: str) -> Instrument:
    quote = _quote(product_id)
    if quote not in _USD_QUOTES:
        raise ParseError(f"{product_id}: quoted in {quote}, its trades have no USD value")
    return Instrument(product_id, asset_of(product_id.split("-", 1)[0]), "base", 1.0)


class Coinbase(Venue):
    name = "coinbase"
    has_liquidations = False

    def instrument(self, product_id: str) -> Instrument:
        return _instrument(product_id)

    def _parse(self, msg: dict, received_ts: int) -> ParseResult:
        kind = msg.get("type")
        if kind == "match":
            return self._match(msg)
        if kind == "last_match":
            return ParseResult(skipped="last_match")
        if kind == "error":
            raise ParseError(f"venue error: {str(msg.get('message'))[:80]}: {str(msg.get('reason'))[:120]}")
        if kind in _SKIP_TYPES:
            return ParseResult(skipped=kind)
        raise ParseError(f"unknown type {str(kind)[:60]!r}")

    def trade_rows(self, msg: dict) -> list[tuple] | None:
        if msg.get("type") != "match":
            return None
        pid, t, p, sz, side, tid = (msg.get("product_id"), msg.get("time"), msg.get("price"), msg.get("size"),
                                    msg.get("side"), msg.get("trade_id"))
        if type(pid) is not str or type(t) is not str or type(p) is not str or type(sz) is not str \
                or (side != "sell" and side != "buy") or type(tid) is not int:
            return None
        m = _PRODUCT_RE.match(pid)
        if m is None or m.group(2) not in _USD_QUOTES:
            return None
        try:
            ts = iso_ms(t, "time")
        except ParseError:
            return None
        return [(pid, ts, p, sz, side == "buy")]  # the maker bought: the taker sold

    def _match(self, msg: dict) -> ParseResult:
        symbol = text(msg.get("product_id"), "product_id")
        if _quote(symbol) not in _USD_QUOTES:
            return ParseResult(skipped="trade:non_usd_quote")
        inst = self.instrument(symbol)
        taker = _TAKER.get(msg.get("side"))
        if taker is None:
            raise ParseError(f"side: {msg.get('side')!r}")
        price = pos(msg.get("price"), "price")
        size = pos(msg.get("size"), "size")
        trade_id = msg.get("trade_id")
        if trade_id is None or isinstance(trade_id, bool) or trade_id == "":
            raise ParseError(f"trade_id: {trade_id!r}")
        return ParseResult(trades=[self.trade(symbol=symbol, asset=inst.asset, ts=iso_ms(msg.get("time"), "time"),
                                              price=price, qty_base=size, notional_usd=size * price,
                                              taker_side=taker, trade_id=trade_id)])


# --------------------------------------------------------------------------------------------
# live connection


@dataclass(frozen=True)
class CoinbaseSpec(VenueSpec):
    """`matches` only: the `heartbeat` channel (a message per product per second) is not needed to keep
    the connection, which the client's websocket protocol pings do; no application ping exists."""

    def url(self, symbols: list[str], base: str | None = None) -> str:
        return base or "wss://ws-feed.exchange.coinbase.com"

    def subscribe(self, symbols: list[str]) -> list[str]:
        return [orjson.dumps({"type": "subscribe", "product_ids": symbols, "channels": ["matches"]}).decode()]

    def refused(self, msg: Any, symbols: list[str]) -> str | None:
        if isinstance(msg, dict) and msg.get("type") == "error":
            reason = msg.get("reason")
            return f"{msg.get('message')}: {reason}" if reason else str(msg.get("message"))
        return None


Coinbase.live = CoinbaseSpec("coinbase")
