"""OKX v5: `liquidation-orders` (instType SWAP / FUTURES) and `trades` / `trades-all`.

- liquidation-orders: one message per instrument with a `details` list. `posSide` long/short is
  the liquidated position (hedge mode); in net mode (`posSide` "net") the liquidation ORDER side
  tells it: sell = long liquidated, buy = short liquidated. `sz` is in contracts, converted with
  ctVal (instruments/okx.json); price is `bkPx`; time is the detail's `ts`.
- OKX says this channel "doesn't represent the total number of liquidations": completeness
  "sampled". MARGIN and OPTION liquidations are skipped.
- trades: `side` is the taker side, `sz` is contracts for SWAP/FUTURES and base units for SPOT.
- Leverage: `open-interest` (`oi` contracts, `oiUsd`) and `funding-rate` (`fundingRate` for the
  coming settlement at `fundingTime`; `nextFundingTime - fundingTime` is the interval) per swap or
  future (funding: swaps only). Pushed every few seconds and every 30-90 s.
- instrument kind from instId: BTC-USDT (spot), BTC-USDT-SWAP, BTC-USD-220527 (futures).
- Older shapes, for recordings and archives: the v5 REST `public/liquidation-orders` response
  (`{"code": "0", "data": [...]}`, rows as in the channel), and OKEx v3 (until 2021/22) tables
  `swap/liquidation` / `futures/liquidation` (REST-polled into tardis.dev's archives: `type` "3" =
  close long, i.e. a long was liquidated, "4" = close short; `size` in contracts; ISO `created_at`)
  and `spot|swap|futures/trade` (`side` = taker side, `size` contracts or spot `qty`/`size` in base).
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
    USD_QUOTES,
    UnsizedInstrument,
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
from .spec import VenueSpec

_INST_RE = re.compile(r"^([A-Z0-9]+)-([A-Z0-9]+)(?:-(SWAP|\d{6}))?$")
_SKIP_CHANNELS = ("books", "books5", "books50-l2-tbt", "books-l2-tbt", "bbo-tbt", "tickers", "candle",
                  "mark-price", "index-tickers", "funding-rate", "open-interest", "price-limit", "estimated-price",
                  "opt-summary", "status", "instruments")


@instrument_cache
def _instrument(inst_id: str) -> Instrument:
    m = _INST_RE.match(inst_id)
    if not m:
        raise ParseError(f"instId {inst_id!r}: not SPOT/SWAP/FUTURES")
    base, quote, kind = m.group(1), m.group(2), m.group(3)
    asset = asset_of(base)
    if quote not in USD_QUOTES:
        raise ParseError(f"instId {inst_id!r}: quote {quote} is not USD-like")
    if kind is None:  # spot: sz in base units
        return Instrument(inst_id, asset, "base", 1.0)
    cfg = load_instruments("okx")
    family = f"{base}-{quote}"
    if quote == "USD":  # inverse: USD face value per contract
        inv = cfg["inverse"]
        return Instrument(inst_id, asset, "usd", float(inv["families"].get(family, inv["default_contract_size_usd"])))
    size = cfg["linear"].get(family)
    if size is None:
        raise UnsizedInstrument(f"instId {inst_id!r}: ctVal unknown; add {family} to instruments/okx.json "
                                "(cascadewatch instruments refresh okx)")
    return Instrument(inst_id, asset, "base", float(size))


class Okx(Venue):
    name = "okx"
    completeness = "sampled"

    def instrument(self, inst_id: str) -> Instrument:
        return _instrument(inst_id)

    def _parse(self, msg: dict, received_ts: int) -> ParseResult:
        if "event" in msg:
            if msg["event"] == "error":
                raise ParseError(f"venue error: {str(msg.get('msg', ''))[:120]}")
            return ParseResult(skipped=f"event:{msg['event']}")
        table = msg.get("table")
        if isinstance(table, str):
            return self._parse_v3(table, msg, received_ts)
        arg = msg.get("arg")
        if not isinstance(arg, dict):
            if msg.get("code") == "0" and isinstance(msg.get("data"), list):
                channel = "liquidation-orders"  # the REST response: same rows as the channel
            elif "code" in msg and msg.get("code") != "0":
                raise ParseError(f"venue error {msg.get('code')!r}: {str(msg.get('msg', ''))[:120]}")
            else:
                raise ParseError("unknown message (no arg)")
        else:
            channel = arg.get("channel")
        if channel == "liquidation-orders":
            # The channel carries every instrument of the market, several in one message: a row of a swap
            # the contract sizes do not cover is left out on its own (named in `skipped`), not the message.
            out = ParseResult()
            for row in unwrap_items(msg.get("data")):
                if row.get("instType") in ("MARGIN", "OPTION"):
                    out.skipped = f"liquidation:{row.get('instType')}"
                    continue
                inst_id = text(row.get("instId"), "instId")
                try:
                    self.instrument(inst_id)
                except UnsizedInstrument:
                    out.skipped = f"liquidation:unsized:{inst_id}"
                    continue
                for det in unwrap_items(row.get("details"), "details"):
                    out.liquidations.append(self._liquidation(inst_id, det, received_ts))
            return out
        if channel == "open-interest":
            return ParseResult(leverage=[self._open_interest(row, received_ts) for row in unwrap_items(msg.get("data"))])
        if channel == "funding-rate":
            return ParseResult(leverage=[self._funding(row, received_ts) for row in unwrap_items(msg.get("data"))])
        if channel in ("trades", "trades-all"):
            return ParseResult(trades=[self._trade(d) for d in unwrap_items(msg.get("data"))])
        if isinstance(channel, str) and channel.startswith(_SKIP_CHANNELS):
            return ParseResult(skipped=channel)
        raise ParseError(f"unknown channel {str(channel)[:60]!r}")

    def trade_rows(self, msg: dict) -> list[tuple] | None:
        arg, data = msg.get("arg"), msg.get("data")
        if type(arg) is not dict or type(data) is not list or "event" in msg or "table" in msg:
            return None
        if arg.get("channel") not in ("trades", "trades-all"):
            return None
        rows = []
        for d in data:
            if type(d) is not dict:
                return None
            inst_id, t, p, sz, side = d.get("instId"), d.get("ts"), d.get("px"), d.get("sz"), d.get("side")
            if type(inst_id) is not str or not inst_id or type(p) is not str or type(sz) is not str \
                    or (side != "sell" and side != "buy"):
                return None
            if type(t) is str and t.isdigit():  # OKX sends ms as a string
                t = int(t)
            elif type(t) is not int:
                return None
            rows.append((inst_id, t, p, sz, side == "sell"))
        return rows
    def _open_interest(self, row: dict, received_ts: int):
        """`open-interest` rows: `oi` in contracts, `oiCcy` in the base currency, `oiUsd` in USD."""
        inst_id = text(row.get("instId"), "instId")
        inst = self.instrument(inst_id)
        return self.leverage_event(symbol=inst_id, asset=inst.asset, ts=ms(row.get("ts"), "ts"), source="open-interest",
                                   received_ts=received_ts, open_interest=num(row.get("oi"), "oi"),
                                   open_interest_usd=num(row.get("oiUsd"), "oiUsd") if row.get("oiUsd") else None)

    def _funding(self, row: dict, received_ts: int):
        """`funding-rate` rows: `fundingTime` is the coming settlement, `nextFundingTime` the one after, so
        their difference is the funding interval (8 h, shorter on some volatile swaps)."""
        inst_id = text(row.get("instId"), "instId")
        inst = self.instrument(inst_id)
        settle = ms(row.get("fundingTime"), "fundingTime")
        after = ms(row.get("nextFundingTime"), "nextFundingTime") if row.get("nextFundingTime") else None
        return self.leverage_event(symbol=inst_id, asset=inst.asset, ts=ms(row.get("ts"), "ts"), source="funding-rate",
                                   received_ts=received_ts, funding_rate=num(row.get("fundingRate"), "fundingRate"),
                                   funding_interval_ms=after - settle if after and after > settle else None,
                                   next_funding_ts=settle)

    def _parse_v3(self, table: str, msg: dict, received_ts: int) -> ParseResult:
        """OKEx v3 tables. A `swap/liquidation` row, shaped as the v3 REST liquidation endpoint returned it::

            {"table": "swap/liquidation", "data": [{"loss": "0", "size": "2", "price": "9273.1",
             "created_at": "2020-03-12T10:15:21.000Z", "type": "3", "instrument_id": "BTC-USD-SWAP"}]}
        """
        market, _, kind = table.partition("/")
        if market not in ("spot", "swap", "futures"):
            raise ParseError(f"unknown table {table[:60]!r}")
        rows = unwrap_items(msg.get("data"))
        if kind == "liquidation" and market != "spot":
            return ParseResult(liquidations=[self._liquidation_v3(r, received_ts) for r in rows])
        if kind == "trade":
            return ParseResult(trades=[self._trade_v3(r) for r in rows])
        if kind.startswith(("depth", "ticker", "candle", "mark_price", "funding_rate", "price_range", "estimated")):
            return ParseResult(skipped=table)
        raise ParseError(f"unknown table {table[:60]!r}")

    def _liquidation_v3(self, row: dict, received_ts: int):
        inst_id = text(row.get("instrument_id"), "instrument_id")
        inst = self.instrument(inst_id)
        side = position_side(row.get("type"), "type", {"3": "long", "4": "short"})
        ts = iso_ms(row.get("created_at"), "created_at")
        price = pos(row.get("price"), "price")
        base, usd = inst.convert(pos(row.get("size"), "size"), price)
        eid = event_id(self.name, inst_id, ts=ts, parts=(row.get("type"), row.get("size"), row.get("price")))
        return self.liquidation(eid=eid, symbol=inst_id, asset=inst.asset, side=side, price=price, qty_base=base,
                                notional_usd=usd, ts=ts, received_ts=received_ts)

    def _trade_v3(self, d: dict):
        inst_id = text(d.get("instrument_id"), "instrument_id")
        inst = self.instrument(inst_id)
        side = d.get("side")
        if side not in ("buy", "sell"):
            raise ParseError(f"side: {side!r}")
        price = pos(d.get("price"), "price")
        size = d.get("size") if d.get("size") is not None else d.get("qty")
        base, usd = inst.convert(pos(size, "size"), price)
        return self.trade(symbol=inst_id, asset=inst.asset, ts=iso_ms(d.get("timestamp")), price=price, qty_base=base,
                          notional_usd=usd, taker_side=side, trade_id=d.get("trade_id"))

    def _liquidation(self, inst_id: str, det: dict, received_ts: int):
        inst = self.instrument(inst_id)
        if inst.symbol.count("-") != 2:
            raise ParseError(f"{inst_id}: spot liquidation")
        pos_side, side_raw = det.get("posSide"), det.get("side")
        if pos_side in ("long", "short"):
            side = pos_side
        else:  # net mode: the liquidation order side
            side = position_side(side_raw, "posSide/side", {"sell": "long", "buy": "short"})
        ts = ms(det.get("ts"), "ts")
        price = pos(det.get("bkPx"), "bkPx")
        base, usd = inst.convert(pos(det.get("sz"), "sz"), price)
        eid = event_id(self.name, inst_id, ts=ts, parts=(pos_side, side_raw, det.get("sz"), det.get("bkPx")))
        return self.liquidation(eid=eid, symbol=inst_id, asset=inst.asset, side=side, price=price, qty_base=base,
                                notional_usd=usd, ts=ts, received_ts=received_ts)

    def _trade(self, d: dict):
        inst_id = text(d.get("instId"), "instId")
        inst = self.instrument(inst_id)
        side = d.get("side")
        if side not in ("buy", "sell"):
            raise ParseError(f"side: {side!r}")
        price = pos(d.get("px"), "px")
        base, usd = inst.convert(pos(d.get("sz"), "sz"), price)
        return self.trade(symbol=inst_id, asset=inst.asset, ts=ms(d.get("ts"), "ts"), price=price, qty_base=base,
                          notional_usd=usd, taker_side=side, trade_id=d.get("tradeId"))


# --------------------------------------------------------------------------------------------
# live connection


@dataclass(frozen=True)
class OkxSpec(VenueSpec):
    def url(self, symbols: list[str], base: str | None = None) -> str:
        return base or "wss://ws.okx.com:8443/ws/v5/public"

    def subscribe(self, symbols: list[str]) -> list[str]:
        args: list[dict] = [{"channel": "trades", "instId": s} for s in symbols]
        kinds = sorted({"SWAP" if s.endswith("-SWAP") else "FUTURES" for s in symbols if s.count("-") >= 2})
        args += [{"channel": "liquidation-orders", "instType": k} for k in kinds]
        return [orjson.dumps({"op": "subscribe", "args": args}).decode()]

    def leverage_subscribe(self, symbols: list[str]) -> list[str]:
        derivs = [s for s in symbols if s.count("-") >= 2]  # swaps and futures; spot has neither
        args = [{"channel": c, "instId": s} for s in derivs for c in ("open-interest", "funding-rate")
                if c == "open-interest" or s.endswith("-SWAP")]
        return [orjson.dumps({"op": "subscribe", "args": args}).decode()] if args else []

    def refused(self, msg: Any, symbols: list[str]) -> str | None:
        if isinstance(msg, dict) and msg.get("event") == "error":
            return f"code {msg.get('code')}: {msg.get('msg')}"
        return None


Okx.live = OkxSpec("okx", app_ping=("ping", 25.0), pong_texts=("pong",))
