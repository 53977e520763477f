"""Kraken Futures (websocket v1, wss://futures.kraken.com/ws/v1): `trade` and `ticker` feeds.

- trade: one message per trade (Kraken docs, trade feed, delta example)::

      {"feed": "trade", "product_id": "PI_XBTUSD", "uid": "05af78ac-a774-478c-a50c-8b9c234e071e",
       "side": "sell", "type": "fill", "seq": 653355, "time": 1612266317519, "qty": 15000,
       "price": 34969.5}

  `side` is the taker side ("The classification of the taker side in the matched trade"); `time` is
  ms. `type` "fill" is a trade in the book. "liquidation" ("a result of a user being liquidated
  from their position") is counted as a trade and also published as a Liquidation. The docs do
  not say which party was liquidated; the liquidated position is ASSUMED to be the TAKER side (a
  liquidation closes the position with an order into the book): taker "sell" = a long was
  liquidated, "buy" = a short. "termination" (a position closed when a user is
  terminated) and "block" (a component of a block trade agreed off the book and only reported
  through it) are skipped: no order took liquidity from the book, so they are not taker flow.
  Completeness "full": every liquidation trade is in the public feed; terminations are not counted.
- trade_snapshot: the trades before subscribing (a `trades` list of the rows above), sent once on
  subscribe: history replayed, skipped.
- Units (instruments/kraken_futures.json, by the product id's prefix): PI_ (inverse perpetuals,
  PI_XBTUSD) and FI_ (inverse futures, FI_ETHUSD_211231) are 1 USD per contract, so `qty` is USD;
  PF_ (linear multi-collateral perpetuals, PF_SOLUSD) count `qty` in base units. The asset is the
  pair's base (XBT = BTC); only USD-quoted products are read.
- Leverage: `ticker` (Kraken docs, ticker feed example, trimmed)::

      {"time": 1676393235406, "product_id": "PI_XBTUSD", "funding_rate": -6.2604214e-11,
       "relative_funding_rate": -1.380384722222e-6, "next_funding_rate_time": 1676394000000,
       "feed": "ticker", "tag": "perpetual", "openInterest": 30072580.0,
       "markPrice": 21979.68641534714, ...}

  `openInterest` is in contracts (USD on PI_/FI_, base units on PF_, USD at `markPrice`).
  `relative_funding_rate` is the funding rate as a fraction (`funding_rate` is the same in absolute
  terms); perpetuals only, and left out when it is zero. The message carries no funding interval
  (hourly by Kraken's contract specifications today, 4-hourly in older examples), so
  `funding_interval_ms` stays null. `next_funding_rate_time` is documented as the time until the
  next funding but sent as its epoch ms (1676394000000 above, the next hour): taken when it is
  after `time`.
- Skipped: option tickers (OF_ETHUSD_240101_1000_C), `ticker_lite`, `book`, `book_snapshot`,
  `heartbeat`, and events (`info`, `subscribed`).
  `{"event": "error", "message": "Invalid product id"}`, `subscribed_failed` and `alert` are errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from .base import (
    Instrument,
    ParseError,
    ParseResult,
    Venue,
    asset_of,
    event_id,
    instrument_cache,
    load_instruments,
    ms,
    num,
    pos,
    text,
)
from .spec import VenueSpec

_PRODUCT_RE = re.compile(r"^([A-Z]{2})_([A-Z0-9]+)(?:_\d{6})?$")
_OPTION_RE = re.compile(r"_\d+(?:\.\d+)?_[CP]$")  # OF_ETHUSD_240101_1000_C
_PERPETUALS = ("PI", "PF")
_SKIP_FEEDS = ("trade_snapshot", "ticker_lite", "book", "book_snapshot", "heartbeat")
_ERROR_EVENTS = ("error", "subscribed_failed", "unsubscribed_failed", "alert")
_NUMBER = (int, float)


@instrument_cache
def _instrument(product_id: str) -> Instrument:
    m = _PRODUCT_RE.match(product_id.upper())
    if not m:
        raise ParseError(f"{product_id!r}: not a Kraken Futures product id (PI_XBTUSD, FI_ETHUSD_211231, PF_SOLUSD)")
    cfg = load_instruments("kraken_futures")
    unit = cfg["prefix_units"].get(m.group(1))
    if unit is None:
        raise ParseError(f"{product_id}: units of {m.group(1)}_ contracts unknown (instruments/kraken_futures.json)")
    pair = m.group(2)
    if not pair.endswith("USD") or len(pair) <= 3:
        raise ParseError(f"{product_id}: not quoted in USD")
    return Instrument(product_id, asset_of(pair[:-3]), unit, float(cfg["contract_size"]))


class KrakenFutures(Venue):
    name = "kraken-futures"
    completeness = "full"

    def instrument(self, product_id: str) -> Instrument:
        return _instrument(product_id)

    def _parse(self, msg: dict, received_ts: int) -> ParseResult:
        event = msg.get("event")
        if event is not None:
            if event in _ERROR_EVENTS:
                raise ParseError(f"venue {event}: {str(msg.get('message', msg.get('product_ids', '')))[:120]}")
            return ParseResult(skipped=f"event:{event}")
        feed = msg.get("feed")
        if feed == "trade":
            return self._trade(msg, received_ts)
        if feed == "ticker":
            if _OPTION_RE.search(str(msg.get("product_id", ""))):
                return ParseResult(skipped="option_ticker")
            return ParseResult(leverage=[self._ticker(msg, received_ts)])
        if feed in _SKIP_FEEDS:
            return ParseResult(skipped=feed)
        raise ParseError(f"unknown feed {str(feed)[:60]!r}")

    def trade_rows(self, msg: dict) -> list[tuple] | None:
        if msg.get("feed") != "trade" or msg.get("type") != "fill":
            return None  # liquidations (and anything odd) go through parse
        pid, t, p, q, side, uid = (msg.get("product_id"), msg.get("time"), msg.get("price"), msg.get("qty"),
                                   msg.get("side"), msg.get("uid"))
        if type(pid) is not str or not pid or type(t) is not int or type(p) not in _NUMBER \
                or type(q) not in _NUMBER or (side != "sell" and side != "buy") or type(uid) is not str or not uid:
            return None
        return [(pid, t, p, q, side == "sell")]

    def _trade(self, msg: dict, received_ts: int) -> ParseResult:
        kind = msg.get("type")
        if kind in ("termination", "block"):
            return ParseResult(skipped=f"trade:{kind}")
        if kind not in ("fill", "liquidation"):
            raise ParseError(f"trade type: {kind!r}")
        symbol = text(msg.get("product_id"), "product_id")
        inst = self.instrument(symbol)
        side = msg.get("side")
        if side not in ("buy", "sell"):
            raise ParseError(f"side: {side!r}")
        price = pos(msg.get("price"), "price")
        base, usd = inst.convert(pos(msg.get("qty"), "qty"), price)
        ts = ms(msg.get("time"), "time")
        uid = text(msg.get("uid"), "uid")
        out = ParseResult(trades=[self.trade(symbol=symbol, asset=inst.asset, ts=ts, price=price, qty_base=base,
                                             notional_usd=usd, taker_side=side, trade_id=uid)])
        if kind == "liquidation":  # the liquidated position is the taker's (module docstring)
            out.liquidations.append(self.liquidation(
                eid=event_id(self.name, symbol, uid), symbol=symbol, asset=inst.asset,
                side="long" if side == "sell" else "short", price=price, qty_base=base, notional_usd=usd, ts=ts,
                received_ts=received_ts))
        return out

    def _ticker(self, msg: dict, received_ts: int):
        symbol = text(msg.get("product_id"), "product_id")
        inst = self.instrument(symbol)
        ts = ms(msg.get("time"), "time")
        mark = pos(msg.get("markPrice"), "markPrice")
        oi = num(msg.get("openInterest"), "openInterest")
        perpetual = symbol[:2].upper() in _PERPETUALS
        funding = nxt = None
        if perpetual:
            rate = msg.get("relative_funding_rate")
            funding = 0.0 if rate is None else num(rate, "relative_funding_rate")  # not sent when zero
            if msg.get("next_funding_rate_time") is not None:
                nxt = ms(msg["next_funding_rate_time"], "next_funding_rate_time")
                nxt = nxt if nxt > ts else None
        return self.leverage_event(symbol=symbol, asset=inst.asset, ts=ts, source="ticker", received_ts=received_ts,
                                   open_interest=oi, open_interest_usd=oi * inst.contract_size if inst.unit == "usd"
                                   else oi * mark, funding_rate=funding, next_funding_ts=nxt, mark_price=mark)


# --------------------------------------------------------------------------------------------
# live connection


def _subscribe(feed: str, symbols: list[str]) -> str:
    return orjson.dumps({"event": "subscribe", "feed": feed, "product_ids": symbols}).decode()


@dataclass(frozen=True)
class KrakenFuturesSpec(VenueSpec):
    """Kraken asks for "a ping request at least every 60 seconds" to keep a connection; the client's
    websocket protocol pings (every 20 s, live.py) are those, so no application ping is sent."""

    def url(self, symbols: list[str], base: str | None = None) -> str:
        return base or "wss://futures.kraken.com/ws/v1"

    def subscribe(self, symbols: list[str]) -> list[str]:
        return [_subscribe("trade", symbols)]

    def leverage_subscribe(self, symbols: list[str]) -> list[str]:
        return [_subscribe("ticker", symbols)]

    def refused(self, msg: Any, symbols: list[str]) -> str | None:
        if isinstance(msg, dict) and msg.get("event") in ("error", "subscribed_failed"):
            return str(msg.get("message") or f"{msg['event']}: {msg.get('feed')} {msg.get('product_ids')}")
        return None


KrakenFutures.live = KrakenFuturesSpec("kraken-futures")
