"""Bybit: v5 `allLiquidation.{symbol}` liquidations and v5 `publicTrade.{symbol}` taker flow.

- allLiquidation `S` is the POSITION side: "Buy" = a long was liquidated (opposite of Binance).
  `T` is the event time, `v` the executed size, `p` the bankruptcy price.
- Bybit documents allLiquidation as "push all liquidations", batched every 500 ms (a message may
  carry several), so completeness is "full".
- Retired topics, for recordings made while they were live (see
  `_liquidation_retired`): v5 `liquidation.{symbol}` (2023-2025; one object, at most one liquidation
  per symbol per second, so completeness "sampled") and the v2 `liquidation.{symbol}` topic
  (2021-2022, also in tardis.dev's archives, including the REST-polled messages they mark
  `"generated": true`). Their `side` is the POSITION side too: "Buy" = a long was liquidated.
- publicTrade `S` is the taker side, `T` the trade time, `v` the size.
- Units: linear (USDT/USDC/PERP) sizes are base units; inverse (BTCUSD, BTCUSDH25, ...) sizes are
  USD contracts (1 USD each).
- Leverage: v5 `tickers.{symbol}` (linear and inverse) carries openInterest (contracts: base units
  on linear, USD on inverse), openInterestValue (USD), fundingRate, nextFundingTime and markPrice.
  The first message is a `snapshot`, then `delta`s carry only the fields that changed: the parser
  keeps each symbol's merged ticker and emits the whole of it (a delta before any snapshot is
  skipped). Funding every `fundingIntervalHour` hours where given, else 8.
- Also reads the legacy v2 `trade.{symbol}` messages (inverse, as in the cryptofeed recording, and
  USDT perpetual): side = taker side, size in contracts, `trade_time_ms` or else the ISO `timestamp`.
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
    iso_ms,
    load_instruments,
    ms,
    num,
    pos,
    position_side,
    text,
    unwrap_items,
)
from .spec import SubscribeError, VenueSpec

_INVERSE_RE = re.compile(r"^([A-Z0-9]+?)USD(?:[FGHJKMNQUVXZ]\d{2})?$")
_LINEAR_RE = re.compile(r"^([A-Z0-9]+?)(USDT|USDC|PERP)(?:-\d{2}[A-Z]{3}\d{2})?$")
_DATED_USDC_RE = re.compile(r"^([A-Z0-9]+)-\d{2}[A-Z]{3}\d{2}$")
_SKIP_TOPICS = ("orderbook", "orderBook", "kline", "instrument_info", "insurance", "adl", "lt")
_SIDES = {"Buy": "buy", "Sell": "sell"}


@instrument_cache
def _instrument(symbol: str) -> Instrument:
    cfg = load_instruments("bybit")
    m = _LINEAR_RE.match(symbol) or _DATED_USDC_RE.match(symbol)
    if m:
        return Instrument(symbol, asset_of(m.group(1)), "base", float(cfg["linear"]["contract_size"]))
    m = _INVERSE_RE.match(symbol)
    if m:
        return Instrument(symbol, asset_of(m.group(1)), "usd", float(cfg["inverse"]["contract_size"]))
    raise ParseError(f"symbol {symbol!r}: not a Bybit linear or inverse contract")


class Bybit(Venue):
    name = "bybit"
    completeness = "full"

    def __init__(self) -> None:
        self._tickers: dict[str, dict] = {}  # symbol -> merged ticker (snapshot + deltas)

    def instrument(self, symbol: str) -> Instrument:
        return _instrument(symbol)

    def _parse(self, msg: dict, received_ts: int) -> ParseResult:
        topic = msg.get("topic")
        if not isinstance(topic, str):
            if "op" in msg or "success" in msg or "ret_msg" in msg:
                return ParseResult(skipped="ack")
            raise ParseError("unknown message (no topic)")
        channel = topic.split(".", 1)[0]
        if channel == "allLiquidation":
            return ParseResult(liquidations=[self._liquidation(d, received_ts) for d in unwrap_items(msg.get("data"))])
        if channel == "liquidation":
            rows = unwrap_items(msg.get("data"))
            return ParseResult(liquidations=[self._liquidation_retired(d, received_ts) for d in rows])
        if channel == "publicTrade":
            # A block trade (`BT`) was agreed off the book: no taker hit it, so it is no taker flow.
            rows = unwrap_items(msg.get("data"))
            trades = [self._trade_v5(d) for d in rows if d.get("BT") is not True]
            return ParseResult(trades=trades, skipped=None if trades or not rows else "block_trades")
        if channel == "tickers":
            return self._ticker(msg, received_ts)
        if channel == "trade":  # legacy v2 (cryptofeed recording 2021)
            return ParseResult(trades=[self._trade_v2(d) for d in unwrap_items(msg.get("data"))])
        if channel.startswith(_SKIP_TOPICS):
            return ParseResult(skipped=channel)
        raise ParseError(f"unknown topic {topic[:60]!r}")

    def trade_rows(self, msg: dict) -> list[tuple] | None:
        topic, data = msg.get("topic"), msg.get("data")
        if type(topic) is not str or topic.partition(".")[0] != "publicTrade" or type(data) is not list:
            return None
        rows = []
        for d in data:
            if type(d) is not dict:
                return None
            s, t, p, v, side = d.get("s"), d.get("T"), d.get("p"), d.get("v"), d.get("S")
            if type(s) is not str or not s or type(t) is not int or type(p) is not str or type(v) is not str \
                    or (side != "Sell" and side != "Buy") or d.get("BT") is True:
                return None  # block trades (and anything odd) go through parse
            rows.append((s, t, p, v, side == "Sell"))
        return rows

    def _liquidation(self, d: dict, received_ts: int):
        symbol = text(d.get("s"), "s")
        inst = self.instrument(symbol)
        side_raw = d.get("S")
        side = position_side(side_raw, "S", {"Buy": "long", "Sell": "short"})  # the POSITION side
        ts = ms(d.get("T"), "T")
        price = pos(d.get("p"), "p")
        base, usd = inst.convert(pos(d.get("v"), "v"), price)
        eid = event_id(self.name, symbol, ts=ts, parts=(side_raw, d.get("v"), d.get("p")))
        return self.liquidation(eid=eid, symbol=symbol, asset=inst.asset, side=side, price=price, qty_base=base,
                                notional_usd=usd, ts=ts, received_ts=received_ts)

    def _liquidation_retired(self, d: dict, received_ts: int):
        """The retired v5 and v2 `liquidation.{symbol}` rows; which one is told by `updatedTime` (v5)
        or `time` (v2). Bybit's v5 docs example (docs/v5/websocket/public/liquidation)::

            {"data": {"price": "0.03803", "side": "Buy", "size": "1637", "symbol": "GALAUSDT",
                      "updatedTime": 1673251091822},
             "topic": "liquidation.GALAUSDT", "ts": 1673251091822, "type": "snapshot"}

        and the v2 docs example (inverse and USDT perpetual, websocket "liquidation")::

            {"topic": "liquidation.ETHUSD",
             "data": {"symbol": "ETHUSD", "side": "Sell", "price": "3384.15", "qty": "3655",
                      "time": 1631608881954}}

        tardis.dev's polled v2 rows carry numbers and an `id`:
        ``{"id": 1, "qty": 100, "side": "Buy", "time": 1588839744516, "symbol": "BTCUSD", "price": 9000}``.
        `side` is the position side in both ("Buy" = long liquidated; Bybit confirmed the v2 docs
        had it backwards). v5 `size` and v2 `qty` are contracts: base units on linear, USD on inverse.
        """
        symbol = text(d.get("symbol"), "symbol")
        inst = self.instrument(symbol)
        side_raw = d.get("side")
        side = position_side(side_raw, "side", {"Buy": "long", "Sell": "short"})
        if "updatedTime" in d:
            ts, qty_raw = ms(d.get("updatedTime"), "updatedTime"), d.get("size")
        else:
            ts, qty_raw = ms(d.get("time"), "time"), d.get("qty")
        price = pos(d.get("price"), "price")
        base, usd = inst.convert(pos(qty_raw, "size/qty"), price)
        native = d.get("id")
        eid = event_id(self.name, symbol, None if native is None else str(native), ts=ts,
                       parts=(side_raw, qty_raw, d.get("price")))
        liq = self.liquidation(eid=eid, symbol=symbol, asset=inst.asset, side=side, price=price, qty_base=base,
                               notional_usd=usd, ts=ts, received_ts=received_ts)
        return liq.model_copy(update={"completeness": "sampled"})

    def _ticker(self, msg: dict, received_ts: int) -> ParseResult:
        data = msg.get("data")
        if not isinstance(data, dict):
            raise ParseError("tickers: data is not an object")
        symbol = text(data.get("symbol"), "symbol")
        if msg.get("type") == "snapshot":
            self._tickers[symbol] = dict(data)
        elif msg.get("type") == "delta":
            if symbol not in self._tickers:
                return ParseResult(skipped="tickers_delta_before_snapshot")
            self._tickers[symbol].update(data)
        else:
            raise ParseError(f"tickers: type {msg.get('type')!r}")
        t = self._tickers[symbol]
        try:
            inst = self.instrument(symbol)
        except ParseError:
            return ParseResult(skipped="tickers_spot_or_option")  # no open interest or funding
        if t.get("openInterest") in (None, "") and t.get("fundingRate") in (None, ""):
            return ParseResult(skipped="tickers_without_leverage")

        def figure(key: str) -> float | None:
            return None if t.get(key) in (None, "") else num(t[key], key)

        hours = figure("fundingIntervalHour") or 8
        # One side of the book, as the other venues count it: the `single*` figures where Bybit sends them
        # (its openInterest counts both sides there).
        single = t.get("singleOpenInterest") not in (None, "")
        oi = figure("singleOpenInterest" if single else "openInterest")
        if inst.unit == "usd":  # inverse: contracts of contract_size USD; openInterestValue is in the coin
            oi_usd = None if oi is None else oi * inst.contract_size
        else:
            oi_usd = figure("singleOpenInterestValue" if single else "openInterestValue")
        return ParseResult(leverage=[self.leverage_event(
            symbol=symbol, asset=inst.asset, ts=ms(msg.get("ts"), "ts"), source="tickers", received_ts=received_ts,
            open_interest=oi, open_interest_usd=oi_usd,
            funding_rate=figure("fundingRate"), funding_interval_ms=int(hours * 3_600_000),
            next_funding_ts=ms(t["nextFundingTime"], "nextFundingTime") if t.get("nextFundingTime") else None,
            mark_price=figure("markPrice"))])

    def _trade_v5(self, d: dict):
        symbol = text(d.get("s"), "s")
        inst = self.instrument(symbol)
        side = _SIDES.get(d.get("S"))
        if side is None:
            raise ParseError(f"S: {d.get('S')!r}")
        price = pos(d.get("p"), "p")
        base, usd = inst.convert(pos(d.get("v"), "v"), price)
        return self.trade(symbol=symbol, asset=inst.asset, ts=ms(d.get("T"), "T"), price=price, qty_base=base,
                          notional_usd=usd, taker_side=side, trade_id=d.get("i"))

    def _trade_v2(self, d: dict):
        symbol = text(d.get("symbol"), "symbol")
        inst = self.instrument(symbol)
        side = _SIDES.get(d.get("side"))
        if side is None:
            raise ParseError(f"side: {d.get('side')!r}")
        price = pos(d.get("price"), "price")
        base, usd = inst.convert(pos(d.get("size"), "size"), price)
        if d.get("trade_time_ms") is not None:
            ts = ms(d.get("trade_time_ms"), "trade_time_ms")
        else:  # the earliest v2 messages carry only an ISO timestamp
            ts = iso_ms(d.get("timestamp"), "timestamp")
        return self.trade(symbol=symbol, asset=inst.asset, ts=ts, price=price, qty_base=base, notional_usd=usd,
                          taker_side=side, trade_id=d.get("trade_id"))


# --------------------------------------------------------------------------------------------
# live connection


@dataclass(frozen=True)
class BybitSpec(VenueSpec):
    def url(self, symbols: list[str], base: str | None = None) -> str:
        kinds = {"inverse" if is_inverse(s) else "linear" for s in symbols}
        if len(kinds) > 1:
            raise SubscribeError("bybit: linear (USDT/USDC) and inverse (USD) symbols use different "
                                 "connections; run one feed for each")
        return base or f"wss://stream.bybit.com/v5/public/{kinds.pop()}"

    def subscribe(self, symbols: list[str]) -> list[str]:
        args = [a for s in symbols for a in (f"publicTrade.{s}", f"allLiquidation.{s}")]
        # Bybit accepts at most 10 args per request
        return [orjson.dumps({"op": "subscribe", "args": args[i:i + 10]}).decode() for i in range(0, len(args), 10)]

    def leverage_subscribe(self, symbols: list[str]) -> list[str]:
        args = [f"tickers.{s}" for s in symbols]
        return [orjson.dumps({"op": "subscribe", "args": args[i:i + 10]}).decode() for i in range(0, len(args), 10)]

    def refused(self, msg: Any, symbols: list[str]) -> str | None:
        if isinstance(msg, dict) and msg.get("op") == "subscribe" and msg.get("success") is False:
            return str(msg.get("ret_msg") or "subscription refused")
        return None


def is_inverse(symbol: str) -> bool:
    return not _LINEAR_RE.match(symbol) and bool(_INVERSE_RE.match(symbol))


Bybit.live = BybitSpec("bybit", app_ping=('{"op":"ping"}', 20.0))
