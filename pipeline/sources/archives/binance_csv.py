"""Binance's public futures archives (data.binance.vision), one symbol per file.

- aggTrades: agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker
- trades: id,price,qty,quote_qty,time,is_buyer_maker
  `is_buyer_maker` true = the buyer was the maker, so the taker SOLD. Quantities are base units on
  USDⓈ-M and contracts on COIN-M (BTCUSD 100 USD, others 10 USD). Times are ms (µs in newer spot
  files: told by their size).
- klines: open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,
  taker_buy_quote_volume,ignore -> one TradeFlow bar per row, interval = close_time - open_time + 1.
  USDⓈ-M: buy = taker_buy_quote_volume, sell = quote_volume - buy (USDT taken as USD). COIN-M:
  volumes are contracts, converted with the contract size.
- liquidationSnapshot (COIN-M): time,side,order_type,time_in_force,original_quantity,price,
  average_price,order_status,last_fill_quantity,accumulated_fill_quantity. `side` is the
  liquidation ORDER side (SELL = a long liquidated), as in forceOrder; the event id uses the same
  fields as a forceOrder message, so an archived row and its recorded message are one event.
Older files have no header row; newer ones do (skipped).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pipeline.contracts.models import Liquidation, TradeFlow
from pipeline.sources.exchanges.base import ParseError, Trade, event_id

from .rows import RowError, Skipped, fields
from .units import instrument

_MAKER = {b"true": "sell", b"True": "sell", b"TRUE": "sell", b"false": "buy", b"False": "buy", b"FALSE": "buy"}
_LIQ_SIDE = {b"SELL": "long", b"BUY": "short"}


def _ms(value: bytes) -> int:
    out = int(value)
    return out // 1000 if out > 10**14 else out  # µs timestamps


def _header(line: bytes) -> bool:
    return not line[:1].isdigit()


def trades(lines: Iterable[bytes], venue: str, symbol: str, agg: bool,
           start: int = 1) -> Iterator[Trade | RowError | Skipped]:
    inst = instrument(venue, symbol)
    asset, base_units, size = inst.asset, inst.unit == "base", inst.contract_size
    ncols, i_id, i_px, i_qty, i_ts, i_m = (7, 0, 1, 2, 5, 6) if agg else (6, 0, 1, 2, 4, 5)
    for no, line in enumerate(lines, start):
        parts = line.split(b",")
        try:
            if len(parts) != ncols:
                if no == 1 or not line.strip():
                    yield Skipped("header" if line.strip() else "empty line")
                    continue
                raise ValueError(f"expected {ncols} columns, got {len(parts)}")
            price, qty = float(parts[i_px]), float(parts[i_qty]) * size
            side = _MAKER.get(parts[i_m].strip())
            if side is None:
                if no == 1 and _header(line):
                    yield Skipped("header")
                    continue
                raise ValueError(f"is_buyer_maker: {parts[i_m][:10]!r}")
            if not (price > 0 and qty > 0):
                raise ValueError("price and quantity must be > 0")
            base, usd = (qty, qty * price) if base_units else (qty / price, qty)
            yield Trade(venue, symbol, asset, _ms(parts[i_ts]), price, base, usd, side, parts[i_id].decode())
        except (ValueError, ParseError, UnicodeDecodeError) as exc:
            if no == 1 and _header(line):
                yield Skipped("header")
            else:
                yield RowError(no, "invalid", str(exc), line)


def klines(lines: Iterable[bytes], venue: str, symbol: str) -> Iterator[TradeFlow | RowError | Skipped]:
    inst = instrument(venue, symbol)
    for no, line in enumerate(lines, 1):
        if no == 1 and _header(line):
            yield Skipped("header")
            continue
        try:
            p = fields(line, 12)
            open_t, close_t = _ms(p[0]), _ms(p[6])
            o, h, lo, c = float(p[1]), float(p[2]), float(p[3]), float(p[4])
            if inst.unit == "base":
                total, buy = float(p[7]), float(p[10])
            else:  # COIN-M: volume and taker_buy_volume are contracts
                total, buy = float(p[5]) * inst.contract_size, float(p[9]) * inst.contract_size
            if buy > total:
                raise ValueError(f"taker buy volume {buy} exceeds the volume {total}")
            yield TradeFlow(venue=venue, symbol=symbol, asset=inst.asset, ts=open_t, interval_ms=close_t - open_t + 1,
                            buy_volume_usd=buy, sell_volume_usd=total - buy, open=o, high=h, low=lo, close=c,
                            trade_count=int(p[8]))
        except (ValueError, ParseError) as exc:
            yield RowError(no, "invalid", str(exc)[:300], line)


def liquidations(lines: Iterable[bytes], venue: str, symbol: str,
                 completeness: str = "sampled") -> Iterator[Liquidation | RowError | Skipped]:
    inst = instrument(venue, symbol)
    for no, line in enumerate(lines, 1):
        if no == 1 and _header(line):
            yield Skipped("header")
            continue
        try:
            p = fields(line, 10)
            t, side_b, q, px, ap, z = p[0], p[1], p[4], p[5], p[6], p[9]
            side = _LIQ_SIDE.get(side_b)
            if side is None:
                raise ValueError(f"side: {side_b[:10]!r}")
            qty = float(z) if float(z) > 0 else float(q)
            price = float(ap) if float(ap) > 0 else float(px)
            if not (qty > 0 and price > 0):
                raise ValueError("price and quantity must be > 0")
            base, usd = inst.convert(qty, price)
            ts = _ms(t)
            eid = event_id(venue, symbol, ts=ts, parts=tuple(x.decode() for x in (side_b, q, px, ap, z)))
            yield Liquidation(event_id=eid, venue=venue, symbol=symbol, asset=inst.asset, side=side, price=price,
                              quantity=base, notional_usd=usd, ts=ts, received_ts=ts, completeness=completeness)
        except (ValueError, ParseError, UnicodeDecodeError) as exc:
            yield RowError(no, "invalid", str(exc)[:300], line)
