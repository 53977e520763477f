"""Deribit: `trades.{instrument}.{interval}` (and `trades.{kind}.{currency}.{interval}`).

- `direction` is the taker side; `timestamp` the trade time (ms).
- `amount` is USD for perpetuals and inverse futures (BTC-PERPETUAL, BTC-24SEP21) and base coin
  for linear instruments (BTC_USDC-PERPETUAL). Options (…-C / …-P) are skipped: their prices are
  premiums in BTC/ETH, not a taker flow of the underlying.
- Liquidations come from the trades' optional `liquidation` field (Deribit API docs):
  "M" the maker side was under liquidation, "T" the taker side, "MT" both.
  The liquidated party's ORDER side gives the position: a liquidated seller was long.
  The taker's order side is `direction`; the maker's is the opposite. So
    T  + sell -> long,   T  + buy -> short,
    M  + buy  -> long (maker sold),   M + sell -> short (maker bought),
    MT -> two events, one per side (ids end in ":T" and ":M").
  Every liquidation trade is public, so completeness is "full".
- Leverage: `ticker.{instrument}.100ms` of perpetuals and futures: `open_interest` (USD on
  perpetuals and inverse futures, base coin on linear ones), `funding_8h` (the funding over the
  last 8 h, perpetuals only), `mark_price`, `timestamp`. Option tickers are skipped.
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
    load_instruments,
    ms,
    num,
    pos,
    text,
    unwrap_items,
)
from .spec import VenueSpec

_OPTION_RE = re.compile(r"-\d+(?:d\d+)?-[CP]$")
_FUTURE_RE = re.compile(r"^[A-Z0-9]{2,12}(?:_[A-Z]{3,4})?-(?:PERPETUAL|\d{1,2}[A-Z]{3}\d{2})$")
_SKIP_CHANNELS = ("book", "ticker", "deribit_price_index", "deribit_price_ranking", "markprice", "quote",
                  "incremental_ticker", "chart", "perpetual", "platform_state", "estimated_expiration_price",
                  "deribit_volatility_index", "instrument")
_OTHER = {"buy": "sell", "sell": "buy"}
_NUMBER = (int, float)


class Deribit(Venue):
    name = "deribit"
    completeness = "full"

    def check_symbol(self, symbol: str) -> None:
        """Perpetuals and futures only (BTC-PERPETUAL, ETH_USDC-PERPETUAL, BTC-27JUN25); options are skipped."""
        if _OPTION_RE.search(symbol):
            raise ParseError(f"{symbol}: an option; only perpetuals and futures give taker flow")
        if not _FUTURE_RE.match(symbol):
            raise ParseError(f"{symbol}: not a Deribit perpetual or future name (e.g. BTC-PERPETUAL, BTC-27JUN25)")

    def _parse(self, msg: dict, received_ts: int) -> ParseResult:
        if msg.get("method") == "heartbeat" or "result" in msg or "error" in msg:
            if "error" in msg:
                raise ParseError(f"venue error: {str(msg['error'])[:120]}")
            return ParseResult(skipped="rpc")
        if msg.get("method") != "subscription":
            raise ParseError("unknown message (not a subscription)")
        params = msg.get("params")
        if not isinstance(params, dict):
            raise ParseError("subscription without params")
        channel = params.get("channel")
        if not isinstance(channel, str):
            raise ParseError("subscription without channel")
        head = channel.split(".", 1)[0]
        if head == "ticker":
            data = params.get("data")
            if not isinstance(data, dict):
                raise ParseError("ticker: data is not an object")
            name = text(data.get("instrument_name"), "instrument_name")
            if _OPTION_RE.search(name):
                return ParseResult(skipped="option_ticker")
            return ParseResult(leverage=[self._ticker(name, data, received_ts)])
        if head == "trades":
            out = ParseResult()
            for t in unwrap_items(params.get("data")):
                self._trade(t, received_ts, out)
            if not (out.trades or out.liquidations):
                blocks = any(isinstance(t, dict) and t.get("block_trade_id") is not None
                             for t in unwrap_items(params.get("data")))
                out.skipped = "block_trades" if blocks else "option_trades"
            return out
        if head.startswith(_SKIP_CHANNELS):
            return ParseResult(skipped=head)
        raise ParseError(f"unknown channel {channel[:60]!r}")

    def trade_rows(self, msg: dict) -> list[tuple] | None:
        params = msg.get("params")
        if msg.get("method") != "subscription" or type(params) is not dict or "result" in msg or "error" in msg:
            return None
        channel, data = params.get("channel"), params.get("data")
        if type(channel) is not str or channel.partition(".")[0] != "trades" or type(data) is not list or not data:
            return None
        rows = []
        for t in data:
            if type(t) is not dict or t.get("liquidation") is not None or t.get("block_trade_id") is not None:
                return None  # liquidation and block trades (and anything odd) go through parse
            name, ts, p, a, side = (t.get("instrument_name"), t.get("timestamp"), t.get("price"), t.get("amount"),
                                    t.get("direction"))
            tid = t.get("trade_id")
            if type(name) is not str or not name or _OPTION_RE.search(name) or type(ts) is not int \
                    or type(p) not in _NUMBER or type(a) not in _NUMBER or (side != "sell" and side != "buy") \
                    or tid is None or tid == "":
                return None
            rows.append((name, ts, p, a, side == "sell"))
        return rows

    def trade_instrument(self, symbol: str) -> Instrument:
        # amount is base coin on linear instruments, USD on the others (module docstring)
        asset = asset_of(symbol.split("-", 1)[0].split("_", 1)[0])
        linear = any(mark in symbol for mark in load_instruments("deribit")["linear_markers"])
        return Instrument(symbol, asset, "base" if linear else "usd", 1.0)
    def _ticker(self, name: str, d: dict, received_ts: int):
        linear = any(mark in name for mark in load_instruments("deribit")["linear_markers"])
        asset = asset_of(name.split("-", 1)[0].split("_", 1)[0])
        mark = pos(d.get("mark_price"), "mark_price")
        oi = num(d.get("open_interest"), "open_interest")
        perpetual = d.get("funding_8h") is not None
        return self.leverage_event(symbol=name, asset=asset, ts=ms(d.get("timestamp"), "timestamp"), source="ticker",
                                   received_ts=received_ts, open_interest=oi,
                                   open_interest_usd=oi * mark if linear else oi, mark_price=mark,
                                   funding_rate=num(d["funding_8h"], "funding_8h") if perpetual else None,
                                   funding_interval_ms=8 * 3_600_000 if perpetual else None)

    def _trade(self, t: dict, received_ts: int, out: ParseResult) -> None:
        name = text(t.get("instrument_name"), "instrument_name")
        if _OPTION_RE.search(name):
            return
        cfg = load_instruments("deribit")
        linear = any(mark in name for mark in cfg["linear_markers"])
        root = name.split("-", 1)[0].split("_", 1)[0]
        asset = asset_of(root)
        direction = t.get("direction")
        if direction not in ("buy", "sell"):
            raise ParseError(f"direction: {direction!r}")
        price = pos(t.get("price"), "price")
        amount = pos(t.get("amount"), "amount")
        base, usd = (amount, amount * price) if linear else (amount / price, amount)
        ts = ms(t.get("timestamp"), "timestamp")
        trade_id = text(str(t.get("trade_id")) if t.get("trade_id") is not None else None, "trade_id")
        if t.get("block_trade_id") is None:  # a block trade was agreed off the book: no taker flow
            out.trades.append(self.trade(symbol=name, asset=asset, ts=ts, price=price, qty_base=base,
                                         notional_usd=usd, taker_side=direction, trade_id=trade_id))
        liq = t.get("liquidation")
        if liq is None:
            return
        if liq not in ("M", "T", "MT"):
            raise ParseError(f"liquidation: {liq!r}")
        for who in ("T", "M"):
            if who not in liq:
                continue
            order_side = direction if who == "T" else _OTHER[direction]
            side = "long" if order_side == "sell" else "short"
            native = f"{trade_id}:{who}" if liq == "MT" else trade_id
            out.liquidations.append(self.liquidation(
                eid=event_id(self.name, name, native), symbol=name, asset=asset, side=side, price=price,
                qty_base=base, notional_usd=usd, ts=ts, received_ts=received_ts))


# --------------------------------------------------------------------------------------------
# live connection


_DERIBIT_SUBSCRIBE_ID, _DERIBIT_HEARTBEAT_ID, _DERIBIT_TEST_ID = 1, 2, 3


def _rpc(req_id: int, method: str, params: dict) -> str:
    return orjson.dumps({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params}).decode()


@dataclass(frozen=True)
class DeribitSpec(VenueSpec):
    heartbeat_s: int = 30  # Deribit's minimum is 10

    def url(self, symbols: list[str], base: str | None = None) -> str:
        return base or "wss://www.deribit.com/ws/api/v2"

    @staticmethod
    def channels(symbols: list[str]) -> list[str]:
        # 100ms: the raw interval needs an authorized connection
        return [f"trades.{s}.100ms" for s in symbols]

    def subscribe(self, symbols: list[str]) -> list[str]:
        return [_rpc(_DERIBIT_HEARTBEAT_ID, "public/set_heartbeat", {"interval": self.heartbeat_s}),
                _rpc(_DERIBIT_SUBSCRIBE_ID, "public/subscribe", {"channels": self.channels(symbols)})]

    def leverage_subscribe(self, symbols: list[str]) -> list[str]:
        return [_rpc(_DERIBIT_SUBSCRIBE_ID, "public/subscribe", {"channels": [f"ticker.{s}.100ms" for s in symbols]})]

    def refused(self, msg: Any, symbols: list[str]) -> str | None:
        if not isinstance(msg, dict) or msg.get("id") != _DERIBIT_SUBSCRIBE_ID:
            return None
        e = msg.get("error")
        if isinstance(e, dict):
            return f"code {e.get('code')}: {e.get('message')} {e.get('data') or ''}".strip()
        if e is not None:
            return str(e)
        # Deribit answers an unknown channel by leaving it out of the result, without an error
        result = msg.get("result")
        missing = [c for c in self.channels(symbols) if not isinstance(result, list) or c not in result]
        return f"not subscribed to {', '.join(missing)} (unknown instrument?)" if missing else None

    def reply(self, msg: Any) -> str | None:
        if (isinstance(msg, dict) and msg.get("method") == "heartbeat"
                and isinstance(msg.get("params"), dict) and msg["params"].get("type") == "test_request"):
            return _rpc(_DERIBIT_TEST_ID, "public/test", {})
        return None


Deribit.live = DeribitSpec("deribit")
