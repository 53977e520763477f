"""Binance USDⓈ-M and COIN-M futures: `forceOrder` liquidations and `aggTrade` / `trade` taker flow.

- forceOrder `o.S` is the side of the liquidation ORDER: SELL closes a long, so SELL = long liquidated.
- Event time is `o.T` (order trade time), never `E` (event/push time).
- Quantity is `o.z` (filled accumulated) when positive, else `o.q`; price is `o.ap` (average fill)
  when positive, else `o.p`. USDⓈ-M quantities are base units; COIN-M quantities are contracts
  (BTCUSD 100 USD per contract, other pairs 10 USD).
- Binance pushes at most the latest liquidation per symbol per 1000 ms: completeness "sampled".
- aggTrade/trade `m` = true means the buyer is the maker, so the taker SOLD.
- Accepts the raw payload and the combined-stream wrapper {"stream": ..., "data": {...}}.
- Leverage: `<symbol>@markPrice@1s` (mark price, funding rate `r`, next funding time `T`; `r` is ""
  and `T` 0 on delivery contracts) and open interest by REST polling (`/fapi/v1/openInterest`,
  `/dapi/v1/openInterest`: no stream carries it). The REST `openInterest` is in contracts: base
  units on USDⓈ-M (USD at the last mark price seen), USD contracts on COIN-M. Funding is paid every
  8 h by default, and every 4 h or 1 h on the symbols `fundingInfo` lists: a symbol's interval is
  taken as 8 h until its next funding time `T` moves on, then as the step `T` moved by between two
  updates at most a minute apart (across a gap in the stream it can span several fundings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

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
    position_side,
    strip_quote,
    text,
)
from .spec import VenueSpec

FUNDING_8H_MS = 8 * 3_600_000
FUNDING_STEP_GAP_MS = 60_000  # two markPrice updates this close span one funding at most

_SKIP_EVENTS = {
    "depthUpdate", "bookTicker", "kline", "continuous_kline", "markPriceUpdate", "24hrTicker",
    "24hrMiniTicker", "indexPriceUpdate", "contractInfo", "compositeIndex", "assetIndexUpdate",
}


@instrument_cache
def _instrument(coin_margined: bool, symbol: str, pair: str | None) -> Instrument:
    cfg = load_instruments("binance")
    root = symbol.split("_", 1)[0]  # BTCUSDT_230929 / BTCUSD_PERP / BTCUSD_200925
    if coin_margined:
        pair = pair or root
        base, quote = strip_quote(pair)
        if quote != "USD":
            raise ParseError(f"COIN-M symbol {symbol!r} is not USD-quoted")
        coinm = cfg["coinm"]
        size = coinm["pairs"].get(pair, coinm["default_contract_size_usd"])
        return Instrument(symbol, asset_of(base), "usd", float(size))
    base, quote = strip_quote(root)
    if quote == "USD":
        raise ParseError(f"{symbol!r} looks COIN-M; use venue binance-coinm")
    return Instrument(symbol, asset_of(base), "base", float(cfg["usdm"]["contract_size"]))


class _Binance(Venue):
    completeness = "sampled"
    coin_margined = False

    def __init__(self) -> None:
        self._marks: dict[str, float] = {}  # symbol -> last mark price: prices the polled open interest
        self._next_funding: dict[str, tuple[int, int]] = {}  # symbol -> (`E`, `T`) of its last markPrice
        self._funding_every: dict[str, int] = {}  # symbol -> the step `T` last moved by: its funding interval

    def instrument(self, symbol: str, pair: str | None = None) -> Instrument:
        return _instrument(self.coin_margined, symbol, pair)

    def _parse(self, msg: dict, received_ts: int) -> ParseResult:
        if "stream" in msg and "data" in msg:
            msg = msg["data"]
            if not isinstance(msg, dict):
                raise ParseError("combined stream: data is not an object")
        if "result" in msg and "id" in msg:
            return ParseResult(skipped="ack")
        kind = msg.get("e")
        if kind == "markPriceUpdate":
            return ParseResult(leverage=[self._mark_price(msg, received_ts)])
        if kind is None and "openInterest" in msg and "symbol" in msg:
            return ParseResult(leverage=[self._open_interest(msg, received_ts)])
        if kind == "forceOrder":
            return ParseResult(liquidations=[self._liquidation(msg, received_ts)])
        if kind in ("aggTrade", "trade"):
            return ParseResult(trades=[self._trade(msg)])
        if kind in _SKIP_EVENTS:
            return ParseResult(skipped=str(kind))
        if kind is None and "u" in msg and "b" in msg and "a" in msg and "s" in msg:
            # The spot bookTicker carries no "e": {"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000",
            # "a":"25.36520000","A":"40.66000000"} (Binance docs, Individual Symbol Book Ticker Streams).
            return ParseResult(skipped="bookTicker")
        raise ParseError(f"unknown message (e={kind!r})")

    def trade_rows(self, msg: dict) -> list[tuple] | None:
        try:
            d = msg["data"] if "stream" in msg else msg
            e, s, t, p, q, m = d["e"], d["s"], d["T"], d["p"], d["q"], d["m"]
        except (KeyError, TypeError):
            return None
        if (e != "aggTrade" and e != "trade") or "result" in d or type(s) is not str or not s or type(t) is not int \
                or type(p) is not str or type(q) is not str or type(m) is not bool:
            return None
        return [(s, t, p, q, m)]

    def _liquidation(self, msg: dict, received_ts: int):
        o = msg.get("o")
        if not isinstance(o, dict):
            raise ParseError("forceOrder without an 'o' object")
        symbol = text(o.get("s"), "o.s")
        inst = self.instrument(symbol, o.get("ps") if isinstance(o.get("ps"), str) else None)
        side_raw = o.get("S")
        side = position_side(side_raw, "o.S", {"SELL": "long", "BUY": "short"})  # the liquidation ORDER side
        ts = ms(o.get("T"), "o.T")
        z = num(o.get("z", 0), "o.z") if o.get("z") is not None else 0.0
        qty_raw = o.get("z") if z > 0 else o.get("q")
        qty = pos(qty_raw, "o.q")
        ap = num(o.get("ap", 0), "o.ap") if o.get("ap") is not None else 0.0
        price_raw = o.get("ap") if ap > 0 else o.get("p")
        price = pos(price_raw, "o.p")
        base, usd = inst.convert(qty, price)
        eid = event_id(self.name, symbol, ts=ts, parts=(side_raw, o.get("q"), o.get("p"), o.get("ap"), o.get("z")))
        return self.liquidation(eid=eid, symbol=symbol, asset=inst.asset, side=side, price=price, qty_base=base,
                                notional_usd=usd, ts=ts, received_ts=received_ts)

    def _mark_price(self, msg: dict, received_ts: int):
        symbol = text(msg.get("s"), "s")
        inst = self.instrument(symbol)
        mark = pos(msg.get("p"), "p")
        self._marks[symbol] = mark
        rate = msg.get("r")
        perpetual = rate not in ("", None)
        next_ts = ms(msg.get("T"), "T") if perpetual else None
        ts = ms(msg.get("E"), "E")
        return self.leverage_event(symbol=symbol, asset=inst.asset, ts=ts, source="markPrice",
                                   received_ts=received_ts, mark_price=mark,
                                   funding_rate=num(rate, "r") if perpetual else None,
                                   funding_interval_ms=self._interval(symbol, ts, next_ts) if perpetual else None,
                                   next_funding_ts=next_ts)

    def _interval(self, symbol: str, ts: int, next_ts: int) -> int:
        """The symbol's funding interval: 8 h until its next funding time moves on, then that step, learned
        only from two updates close together (the stream pushes one a second): across a gap in the stream
        the step can span several fundings."""
        last = self._next_funding.get(symbol)
        self._next_funding[symbol] = (ts, next_ts)
        if last is not None and 0 <= ts - last[0] <= FUNDING_STEP_GAP_MS and 0 < next_ts - last[1] <= FUNDING_8H_MS:
            self._funding_every[symbol] = next_ts - last[1]
        return self._funding_every.get(symbol, FUNDING_8H_MS)

    def _open_interest(self, msg: dict, received_ts: int):
        """The REST answer: ``{"openInterest": "10659.509", "symbol": "BTCUSDT", "time": 1589437530011}``
        (COIN-M adds "pair" and "contractType")."""
        symbol = text(msg.get("symbol"), "symbol")
        inst = self.instrument(symbol, msg.get("pair") if isinstance(msg.get("pair"), str) else None)
        oi = num(msg.get("openInterest"), "openInterest")
        mark = self._marks.get(symbol)
        usd = None
        if inst.unit == "usd":
            usd = oi * inst.contract_size
        elif mark is not None:
            usd = inst.convert(oi, mark)[1]
        return self.leverage_event(symbol=symbol, asset=inst.asset, ts=ms(msg.get("time"), "time"),
                                   source="openInterest", received_ts=received_ts, open_interest=oi,
                                   open_interest_usd=usd)

    def _trade(self, msg: dict):
        symbol = text(msg.get("s"), "s")
        inst = self.instrument(symbol)
        price = pos(msg.get("p"), "p")
        qty = pos(msg.get("q"), "q")
        m = msg.get("m")
        if not isinstance(m, bool):
            raise ParseError(f"m: expected a boolean, got {m!r}")
        base, usd = inst.convert(qty, price)
        return self.trade(symbol=symbol, asset=inst.asset, ts=ms(msg.get("T"), "T"), price=price, qty_base=base,
                          notional_usd=usd, taker_side="sell" if m else "buy", trade_id=msg.get("a", msg.get("t")))


class BinanceUsdm(_Binance):
    name = "binance-usdm"
    coin_margined = False


class BinanceCoinm(_Binance):
    name = "binance-coinm"
    coin_margined = True


# --------------------------------------------------------------------------------------------
# live connection


@dataclass(frozen=True)
class BinanceSpec(VenueSpec):
    host: str = "wss://fstream.binance.com"

    def url(self, symbols: list[str], base: str | None = None) -> str:
        """Combined-stream URL. An override without a path (ws://host:port) gets the stream path appended."""
        streams = [f"{s.lower()}@aggTrade" for s in symbols] + ["!forceOrder@arr"]
        if base is not None and urlsplit(base).path not in ("", "/"):
            return base
        host = (base or self.host).rstrip("/")
        return f"{host}/stream?streams={'/'.join(streams)}"

    def leverage_subscribe(self, symbols: list[str]) -> list[str]:
        params = [f"{s.lower()}@markPrice@1s" for s in symbols]
        return [orjson.dumps({"method": "SUBSCRIBE", "params": params, "id": 1}).decode()]

    def refused(self, msg: Any, symbols: list[str]) -> str | None:
        if isinstance(msg, dict) and isinstance(msg.get("error"), dict):
            e = msg["error"]
            return f"code {e.get('code')}: {e.get('msg')}"
        return None


BinanceUsdm.live = BinanceSpec("binance-usdm", host="wss://fstream.binance.com", max_connection_s=23.5 * 3600,
                               oi_poll=("https://fapi.binance.com", "/fapi/v1/openInterest?symbol={symbol}"))
BinanceCoinm.live = BinanceSpec("binance-coinm", host="wss://dstream.binance.com", max_connection_s=23.5 * 3600,
                                oi_poll=("https://dapi.binance.com", "/dapi/v1/openInterest?symbol={symbol}"))
