"""Hyperliquid liquidations and taker flow from a non-validator node's fills output.

A node run with `--write-fills` writes every fill of the exchange, hourly files under
`node_fills/hourly/{YYYYMMDD}/{H}` (one `[user, fill]` per line, until 2025-07-27) or, with
`--batch-by-block`, under `node_fills_by_block/hourly/...` (one block per line:
``{"local_time": ..., "block_time": ..., "block_number": N, "events": [[user, fill], ...]}``).
Hyperliquid's public archive bucket holds the same files. A fill is in the API `userFills` shape::

    {"coin": "HYPE", "px": "21.147", "sz": "5.2", "side": "A", "time": 1768931202995, "dir": "Close Long",
     "crossed": true, "tid": 345752513742025,
     "liquidation": {"liquidatedUser": "0x193b...", "markPx": "21.193", "method": "market"}, ...}

- Liquidations: the fills of the liquidated user (user == `liquidation.liquidatedUser`; the other
  side of the trade is not counted again). The liquidated position is long when that fill sold
  (`side` "A") and short when it bought ("B"). Both methods count: "market" (sold into the book)
  and "backstop" (taken over by the liquidator vault). Completeness "full": every fill is there.
- Trades: the taker fill of each trade (`crossed` true); `side` "B" = the taker bought.
- Spot ("@107") and builder-deployed ("dex:COIN") markets are skipped. Sizes are coins, USDC as USD.
- `received_ts`: the block's `local_time` (the node's receipt) in the by-block format, else the fill time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import orjson

from pipeline.contracts.models import Liquidation
from pipeline.sources.exchanges.base import ASSET_RE, ParseError, Trade, iso_ms, ms, pos, text

from .rows import RowError, Skipped

VENUE = "hyperliquid"
_TAKER = {"B": "buy", "A": "sell"}
_LIQUIDATED = {"A": "long", "B": "short"}


def _fills(obj) -> tuple[list, int | None]:
    if isinstance(obj, dict) and isinstance(obj.get("events"), list):
        local = obj.get("local_time")
        return obj["events"], iso_ms(local, "local_time") if local is not None else None
    if isinstance(obj, list) and len(obj) == 2 and isinstance(obj[0], str) and isinstance(obj[1], dict):
        return [obj], None
    raise ParseError("not a node fills line ([user, fill] or a block with events)")


def read(lines: Iterable[bytes], start: int = 1) -> Iterator[Trade | Liquidation | RowError | Skipped]:
    for no, line in enumerate(lines, start):
        if not line.strip():
            yield Skipped("empty line")
            continue
        try:
            events, received = _fills(orjson.loads(line))
            out: list = []
            for pair in events:
                if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], dict)):
                    raise ParseError("event: expected [user, fill]")
                item = _fill(text(pair[0], "user"), pair[1], received)
                if item is not None:
                    out.extend(item)
            if not out:
                yield Skipped("no perp taker fill")
            yield from out
        except (ParseError, orjson.JSONDecodeError, ValueError) as exc:
            yield RowError(no, "invalid", str(exc)[:300], line.rstrip(b"\r\n"))


def _fill(user: str, f: dict, received: int | None) -> list | None:
    coin = text(f.get("coin"), "coin")
    asset = coin.upper()
    if not ASSET_RE.match(asset):
        return None
    side = f.get("side")
    if side not in _TAKER:
        raise ParseError(f"side: {side!r}")
    price, size = pos(f.get("px"), "px"), pos(f.get("sz"), "sz")
    ts = ms(f.get("time"), "time")
    tid = f.get("tid")
    out: list = []
    liq = f.get("liquidation")
    if isinstance(liq, dict) and liq.get("liquidatedUser") == user:
        if tid is None:
            raise ParseError("liquidation fill without tid")
        out.append(Liquidation(event_id=f"{VENUE}:{coin}:{tid}", venue=VENUE, symbol=coin, asset=asset,
                               side=_LIQUIDATED[side], price=price, quantity=size, notional_usd=price * size, ts=ts,
                               received_ts=received if received is not None else ts, completeness="full"))
    if f.get("crossed") is True:
        out.append(Trade(VENUE, coin, asset, ts, price, size, price * size, _TAKER[side],
                         None if tid is None else str(tid)))
    return out
