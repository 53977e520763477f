"""BitMEX: `liquidation` table and `trade` table.

- liquidation: rows are the venue's open liquidation ORDERS (orderID, symbol, side, price,
  leavesQty). Only `insert` creates an event; `update`/`delete` track the order as it fills and
  are skipped. Order side "Sell" = a long was liquidated. The rows carry no timestamp, so `ts` is
  the receive time. XBTUSD quantities are USD (1 contract = 1 USD); symbols without a contract size
  in instruments/bitmex.json are rejected. Completeness "sampled": the table shows orders as they
  enter the book, not fills, so totals are treated as a lower bound.
- trade: `insert` rows only (the `partial` on subscribe replays old trades). `side` is the taker
  side; base units and quote value come from the venue's homeNotional / foreignNotional. Rows for
  instruments quoted in XBT are skipped (no USD value without a BTC price).
- Leverage: `instrument:{symbol}`. A `partial` brings each symbol's whole row; `update` rows carry
  only the fields that changed, so the parser keeps each symbol's merged row (an update before any
  partial is skipped; a reconnect gets a fresh partial). An event goes out only when a message
  changes openInterest, openValue, fundingRate, fundingTimestamp, fundingInterval or markPrice.
  openInterest is in contracts: USD on XBTUSD (inverse, 1 contract = 1 USD; its openValue is the
  same in satoshis), so open_interest_usd is set only for symbols with a USD contract size in
  instruments/bitmex.json. fundingInterval is a span written as a time after 2000-01-01T00:00Z
  ("2000-01-01T08:00:00.000Z" = 8 h); fundingTimestamp is the next funding.
"""

from __future__ import annotations

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
    iso_ms,
    load_instruments,
    num,
    pos,
    position_side,
    text,
    unwrap_items,
)
from .spec import VenueSpec

_SKIP_TABLES = ("orderBook", "quote", "funding", "settlement", "insurance", "announcement",
                "connected", "chat", "publicNotifications", "tradeBin")
_SIDES = {"Buy": "buy", "Sell": "sell"}
_USD_QUOTES = ("USD", "USDT", "USDC")
_LEVERAGE_FIELDS = ("openInterest", "openValue", "fundingRate", "fundingTimestamp", "fundingInterval", "markPrice")
_SPAN_EPOCH_MS = 946_684_800_000  # 2000-01-01T00:00:00Z, the zero of BitMEX's fundingInterval


class Bitmex(Venue):
    name = "bitmex"
    completeness = "sampled"

    def __init__(self) -> None:
        self._instruments: dict[str, dict] = {}  # symbol -> merged instrument row (partial + updates)

    def quote_and_asset(self, symbol: str) -> tuple[str, str]:
        row = load_instruments("bitmex")["symbols"].get(symbol)
        if row is not None:
            return row["quote"], row["asset"]
        for q in ("USDT", "USDC", "USD"):
            if symbol.endswith(q) and len(symbol) > len(q):
                return q, asset_of(symbol[: -len(q)])
        raise ParseError(f"{symbol}: unknown instrument (not in instruments/bitmex.json)")

    def check_symbol(self, symbol: str) -> None:
        """A live symbol must give trades a USD value; liquidations also need a contract size (below)."""
        quote, _ = self.quote_and_asset(symbol)
        if quote not in _USD_QUOTES:
            raise ParseError(f"{symbol}: quoted in {quote}, its trades have no USD value")

    def _parse(self, msg: dict, received_ts: int) -> ParseResult:
        table = msg.get("table")
        if not isinstance(table, str):
            if "error" in msg:
                raise ParseError(f"venue error: {str(msg['error'])[:120]}")
            if "info" in msg or "subscribe" in msg or "success" in msg or "request" in msg:
                return ParseResult(skipped="ack")
            raise ParseError("unknown message (no table)")
        action = msg.get("action")
        if table == "liquidation":
            if action != "insert":
                return ParseResult(skipped=f"liquidation:{action}")
            return ParseResult(liquidations=[self._liquidation(r, received_ts) for r in unwrap_items(msg.get("data"))])
        if table == "trade":
            if action != "insert":
                return ParseResult(skipped=f"trade:{action}")
            out = ParseResult()
            for row in unwrap_items(msg.get("data")):
                t = self._trade(row)
                if t is None:
                    out.skipped = "trade:non_usd_quote"
                else:
                    out.trades.append(t)
            return out
        if table == "instrument":
            return self._instrument(action, unwrap_items(msg.get("data")), received_ts)
        if table.startswith(_SKIP_TABLES):
            return ParseResult(skipped=table)
        raise ParseError(f"unknown table {table[:60]!r}")

    def _instrument(self, action: Any, rows: list[dict], received_ts: int) -> ParseResult:
        if action not in ("partial", "update", "insert", "delete"):
            raise ParseError(f"instrument: action {action!r}")
        out = ParseResult()
        for row in rows:
            symbol = text(row.get("symbol"), "symbol")
            if action == "delete":
                self._instruments.pop(symbol, None)
                continue
            if action == "update":
                if symbol not in self._instruments:
                    out.skipped = "instrument_update_before_partial"
                    continue
                self._instruments[symbol].update(row)
            else:
                self._instruments[symbol] = dict(row)
            if not any(k in row for k in _LEVERAGE_FIELDS):
                out.skipped = "instrument_without_leverage_change"
                continue
            out.leverage.append(self._leverage(symbol, self._instruments[symbol], received_ts))
        if action == "delete":
            out.skipped = "instrument:delete"
        return out

    def _leverage(self, symbol: str, r: dict, received_ts: int):
        _, asset = self.quote_and_asset(symbol)

        def figure(key: str) -> float | None:
            return None if r.get(key) is None else num(r[key], key)

        oi = figure("openInterest")
        row = load_instruments("bitmex")["symbols"].get(symbol, {})
        usd_contract = row.get("unit") == "usd" and "contract_size" in row
        interval = r.get("fundingInterval")
        return self.leverage_event(
            symbol=symbol, asset=asset, ts=iso_ms(r.get("timestamp")), source="instrument", received_ts=received_ts,
            open_interest=oi, open_interest_usd=oi * float(row["contract_size"]) if usd_contract and oi is not None
            else None, funding_rate=figure("fundingRate"),
            funding_interval_ms=iso_ms(interval, "fundingInterval") - _SPAN_EPOCH_MS if interval else None,
            next_funding_ts=iso_ms(r["fundingTimestamp"], "fundingTimestamp") if r.get("fundingTimestamp") else None,
            mark_price=figure("markPrice"))

    def _liquidation(self, row: dict, received_ts: int):
        symbol = text(row.get("symbol"), "symbol")
        inst = instrument_for_liquidation(symbol)
        side = position_side(row.get("side"), "side", {"Sell": "long", "Buy": "short"})  # the order side
        order_id = text(row.get("orderID"), "orderID")
        price = pos(row.get("price"), "price")
        base, usd = inst.convert(pos(row.get("leavesQty"), "leavesQty"), price)
        return self.liquidation(eid=event_id(self.name, symbol, order_id), symbol=symbol, asset=inst.asset, side=side,
                                price=price, qty_base=base, notional_usd=usd, ts=received_ts, received_ts=received_ts)

    def _trade(self, row: dict):
        symbol = text(row.get("symbol"), "symbol")
        quote, asset = self.quote_and_asset(symbol)
        if quote not in _USD_QUOTES:
            return None
        side = _SIDES.get(row.get("side"))
        if side is None:
            raise ParseError(f"side: {row.get('side')!r}")
        price = pos(row.get("price"), "price")
        base = pos(row.get("homeNotional"), "homeNotional")
        usd = pos(row.get("foreignNotional"), "foreignNotional")
        return self.trade(symbol=symbol, asset=asset, ts=iso_ms(row.get("timestamp")), price=price, qty_base=base,
                          notional_usd=usd, taker_side=side, trade_id=row.get("trdMatchID"))


def liquidation_size_known(symbol: str) -> bool:
    return "contract_size" in load_instruments("bitmex")["symbols"].get(symbol, {})


def instrument_for_liquidation(symbol: str) -> Instrument:
    row = load_instruments("bitmex")["symbols"].get(symbol)
    if row is None or "contract_size" not in row:
        raise ParseError(f"{symbol}: liquidation contract size unknown (instruments/bitmex.json)")
    return Instrument(symbol, row["asset"], row["unit"], float(row["contract_size"]))


# --------------------------------------------------------------------------------------------
# live connection


@dataclass(frozen=True)
class BitmexSpec(VenueSpec):
    def url(self, symbols: list[str], base: str | None = None) -> str:
        return base or "wss://ws.bitmex.com/realtime"

    def subscribe(self, symbols: list[str]) -> list[str]:
        # Liquidations per symbol, and only where instruments/bitmex.json has the contract size: the
        # market-wide table would bring rows the parser cannot size, each one an error.
        args = [f"trade:{s}" for s in symbols] + [f"liquidation:{s}" for s in symbols if liquidation_size_known(s)]
        return [orjson.dumps({"op": "subscribe", "args": args}).decode()]

    def leverage_subscribe(self, symbols: list[str]) -> list[str]:
        return [orjson.dumps({"op": "subscribe", "args": [f"instrument:{s}" for s in symbols]}).decode()]

    def refused(self, msg: Any, symbols: list[str]) -> str | None:
        if isinstance(msg, dict) and "error" in msg and "table" not in msg:
            request = msg.get("request")
            if isinstance(request, dict) and request.get("op") == "subscribe":
                return f"status {msg.get('status')}: {msg['error']}"
        return None


Bitmex.live = BitmexSpec("bitmex", app_ping=("ping", 5.0), pong_texts=("pong",), ping_when_idle=True)
