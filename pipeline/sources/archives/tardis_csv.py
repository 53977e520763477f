"""tardis.dev normalized CSV datasets: `trades` and `liquidations`.

Columns (both): exchange,symbol,timestamp,local_timestamp,id,side,price,amount, with timestamp and
local_timestamp in microseconds since the epoch. In `liquidations`, `side` is the liquidation
ORDER side: "sell" = a long was liquidated, "buy" = a short. In `trades` it is the taker side
("unknown" rows are skipped). `amount` is the venue's own quantity, contracts where the venue counts
contracts (BitMEX XBTUSD, OKX swaps, Binance COIN-M), converted with the venue's instrument table.
Exchange ids are tardis.dev's (binance-futures, binance-delivery, bybit, okex-swap, okex-futures,
bitmex, deribit, cryptofacilities = Kraken Futures, coinbase); `timestamp` becomes `ts` and
`local_timestamp` becomes `received_ts`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pipeline.contracts.models import Liquidation
from pipeline.sources.exchanges import get_venue
from pipeline.sources.exchanges.base import ParseError, Trade, event_id

from .detect import TARDIS_HEADER, VENUE_ALIASES
from .rows import RowError, Skipped, fields
from .units import instrument

_LIQ_SIDE = {b"sell": "long", b"buy": "short"}
_COMPLETENESS = {name: get_venue(name).completeness for name in set(VENUE_ALIASES.values())}


def _us_to_ms(value: bytes, what: str) -> int:
    if not value.isdigit():
        raise ParseError(f"{what}: expected integer microseconds, got {value[:30]!r}")
    return int(value) // 1000


def _number(value: bytes, what: str) -> float:
    try:
        out = float(value)
    except ValueError:
        raise ParseError(f"{what}: not a number: {value[:30]!r}") from None
    if not out > 0 or out == float("inf"):
        raise ParseError(f"{what}: must be a finite number > 0, got {value[:30]!r}")
    return out


def _venue(exchange: bytes) -> str:
    name = VENUE_ALIASES.get(exchange.decode("ascii", "replace"))
    if name is None:
        raise ParseError(f"exchange {exchange[:30]!r} is not one of {', '.join(sorted(VENUE_ALIASES))}")
    return name


def read(lines: Iterable[bytes], liquidations: bool, venue: str | None = None,
         start: int = 1) -> Iterator[Trade | Liquidation | RowError | Skipped]:
    """Rows from line number `start` on (a later block of the file)."""
    for no, line in enumerate(lines, start):
        if no == 1 and line.lstrip(b"\xef\xbb\xbf").startswith(TARDIS_HEADER):
            yield Skipped("header")
            continue
        if not line.strip():
            yield Skipped("empty line")
            continue
        try:
            ex, symbol_b, ts_b, local_b, id_b, side_b, price_b, amount_b = fields(line, 8)
            v = venue or _venue(ex)
            symbol = symbol_b.decode()
            inst = instrument(v, symbol)
            ts, received = _us_to_ms(ts_b, "timestamp"), _us_to_ms(local_b, "local_timestamp")
            price = _number(price_b, "price")
            base, usd = inst.convert(_number(amount_b, "amount"), price)
            if liquidations:
                side = _LIQ_SIDE.get(side_b)
                if side is None:
                    raise ParseError(f"side: {side_b[:20]!r}")
                native = id_b.decode() or None
                eid = event_id(v, symbol, native, ts=ts, parts=(side_b.decode(), amount_b.decode(), price_b.decode()))
                yield Liquidation(event_id=eid, venue=v, symbol=symbol, asset=inst.asset, side=side, price=price,
                                  quantity=base, notional_usd=usd, ts=ts, received_ts=received,
                                  completeness=_COMPLETENESS[v])
            elif side_b == b"unknown":
                yield Skipped("trade side unknown")
            elif side_b == b"buy" or side_b == b"sell":
                yield Trade(v, symbol, inst.asset, ts, price, base, usd, side_b.decode(), id_b.decode() or None)
            else:
                raise ParseError(f"side: {side_b[:20]!r}")
        except (ParseError, ValueError, UnicodeDecodeError) as exc:
            yield RowError(no, "invalid", str(exc), line)
