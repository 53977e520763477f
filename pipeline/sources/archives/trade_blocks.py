"""Trade CSVs (Binance aggTrades/trades archives, tardis.dev trades) read in blocks of lines into
column arrays per venue/symbol. A block is parsed by pandas' C reader; a block it cannot take whole
(a bad row anywhere in it) is read again row by row, so every bad row is reported with its line
number and every good row is kept."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

import numpy as np
import pandas as pd

from pipeline.sources.exchanges.base import ParseError, Trade

from . import binance_csv, tardis_csv
from .detect import VENUE_ALIASES
from .rows import RowError, Skipped
from .units import instrument

BLOCK_LINES = 250_000


@dataclass
class Columns:
    """One symbol's trades of a block, in input order."""

    venue: str
    symbol: str
    asset: str
    ts: np.ndarray
    price: np.ndarray
    usd: np.ndarray
    taker_sold: np.ndarray


@dataclass
class Block:
    columns: list[Columns] = field(default_factory=list)
    trades: int = 0
    problems: list[RowError | Skipped] = field(default_factory=list)


class _Fallback(Exception):
    pass


def blocks(lines: Iterable[bytes], fmt: str, venue: str | None, symbol: str | None) -> Iterator[Block]:
    it = iter(lines)
    first = 1
    while True:
        chunk = list(islice(it, BLOCK_LINES))
        if not chunk:
            return
        try:
            yield _fast(chunk, first, fmt, venue, symbol)
        except _Fallback:
            yield _slow(chunk, first, fmt, venue, symbol)
        first += len(chunk)


def _strip_header(chunk: list[bytes], first: int, block: Block) -> list[bytes]:
    if first == 1 and chunk and chunk[0].lstrip(b"\xef\xbb\xbf")[:1].isalpha():
        block.problems.append(Skipped("header"))
        return chunk[1:]
    return chunk


def _read(chunk: list[bytes], usecols: list[int], dtype: dict) -> pd.DataFrame:
    try:
        df = pd.read_csv(io.BytesIO(b"".join(chunk)), header=None, usecols=usecols, dtype=dtype,
                         engine="c", skip_blank_lines=False, na_filter=True)
    except (ValueError, pd.errors.ParserError):
        raise _Fallback from None
    if len(df) != len(chunk) or df.isna().to_numpy().any():
        raise _Fallback
    return df


def _fast(chunk: list[bytes], first: int, fmt: str, venue: str | None, symbol: str | None) -> Block:
    block = Block()
    rows = _strip_header(chunk, first, block)
    if not rows:
        return block
    if fmt in ("binance-aggtrades", "binance-trades"):
        assert venue is not None and symbol is not None
        agg = fmt == "binance-aggtrades"
        ncols = 7 if agg else 6
        if any(r.count(b",") != ncols - 1 for r in (rows[0], rows[-1])):
            raise _Fallback
        i_px, i_qty, i_ts, i_m = (1, 2, 5, 6) if agg else (1, 2, 4, 5)
        df = _read(rows, [i_px, i_qty, i_ts, i_m], {i_px: "float64", i_qty: "float64", i_ts: "int64", i_m: "str"})
        maker = df[i_m].str.lower()
        sold = (maker == "true").to_numpy()
        if not (sold | (maker == "false").to_numpy()).all():
            raise _Fallback
        try:
            inst = instrument(venue, symbol)
        except ParseError:
            raise _Fallback from None
        ts = df[i_ts].to_numpy()
        ts = np.where(ts > 10**14, ts // 1000, ts)
        _add(block, venue, symbol, inst, ts, df[i_px].to_numpy(), df[i_qty].to_numpy(), sold)
        return block
    # tardis-trades: exchange,symbol,timestamp,local_timestamp,id,side,price,amount
    df = _read(rows, [0, 1, 2, 5, 6, 7], {0: "str", 1: "str", 2: "int64", 5: "str", 6: "float64", 7: "float64"})
    side = df[5].to_numpy()
    known = side != "unknown"
    if not known.all():
        block.problems.extend(Skipped("trade side unknown") for _ in range(int((~known).sum())))
        df, side = df[known], side[known]
    sold = side == "sell"
    if not (sold | (side == "buy")).all():
        raise _Fallback
    keys = (df[0] + "," + df[1]).to_numpy()
    codes, uniques = pd.factorize(keys, sort=False)
    ts_all, px_all, qty_all = df[2].to_numpy() // 1000, df[6].to_numpy(), df[7].to_numpy()
    for code, key in enumerate(uniques):
        ex, sym = key.split(",", 1)
        v = venue or VENUE_ALIASES.get(ex)
        if v is None:
            raise _Fallback
        try:
            inst = instrument(v, sym)
        except ParseError:
            raise _Fallback from None
        sel = codes == code
        _add(block, v, sym, inst, ts_all[sel], px_all[sel], qty_all[sel], sold[sel])
    return block


def _add(block: Block, venue: str, symbol: str, inst, ts, price, qty, sold) -> None:
    if not ((price > 0).all() and (qty > 0).all() and np.isfinite(price).all() and np.isfinite(qty).all()
            and (ts >= 0).all()):
        raise _Fallback
    q = qty * inst.contract_size
    usd = q * price if inst.unit == "base" else q
    block.columns.append(Columns(venue, symbol, inst.asset, ts.astype(np.int64), price, usd, sold))
    block.trades += len(ts)


def _slow(chunk: list[bytes], first: int, fmt: str, venue: str | None, symbol: str | None) -> Block:
    block = Block()
    if fmt == "tardis-trades":
        rows = tardis_csv.read(chunk, liquidations=False, venue=venue, start=first)
    else:
        assert venue is not None and symbol is not None
        rows = binance_csv.trades(chunk, venue, symbol, agg=fmt == "binance-aggtrades", start=first)
    by_key: dict[tuple[str, str], list[Trade]] = {}
    for row in rows:
        if type(row) is Trade:
            by_key.setdefault((row.venue, row.symbol), []).append(row)
        else:
            block.problems.append(row)
    for (v, sym), trades in by_key.items():
        block.columns.append(Columns(
            v, sym, trades[0].asset, np.array([t.ts for t in trades], dtype=np.int64),
            np.array([t.price for t in trades]), np.array([t.notional_usd for t in trades]),
            np.array([t.taker_side == "sell" for t in trades])))
        block.trades += len(trades)
    return block
