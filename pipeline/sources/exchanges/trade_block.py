"""Trades of a block of venue messages, as columns: the fast path for the hot message type.

A venue's `trade_rows(msg)` lifts the raw fields of a plain trade message (symbol, time, price and
size as the venue sent them, taker sold?) without building an object per trade; `TradeBlock`
collects those rows from many lines, converts and checks them in numpy at the end of the block,
and hands per-(venue, symbol) columns to `VectorBars`. The checks are the ones `Venue.parse`
applies (finite, positive price and size, ms in range, a known instrument); a line with any row
that fails them is handed back so the caller can run it through `Venue.parse`, which reports it
exactly as the one-message-at-a-time path does. Trades that `Venue.parse` produced go into the same
block, already converted, so each symbol's trades reach the bars in input order.
"""

from __future__ import annotations

import re
from operator import itemgetter
from typing import TYPE_CHECKING

import numpy as np

from .base import ParseError, _day_ms

if TYPE_CHECKING:
    from .base import Instrument, Trade, Venue

# tardis.dev raw lines: '<ISO-8601 receipt time> <message>'. Only stamps that `iso_ms` surely
# accepts take the fast path (anything else goes through `split_line`, which reports it). A stamp is
# checked to the second once (a set of the seconds seen valid: a busy market has many lines a
# second), and its fraction on every line.
_SECOND = re.compile(rb"\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:(?:[0-5]\d|60)")
_EPOCH = re.compile(rb"\d{9,11}(?:\.\d+)?")
_MAX_MS = 10**14
_IDENTITY = (1.0, 0.0)  # usd = qty * a + (qty * b) * price; rows already converted carry usd as qty


class _Seconds:
    """'YYYY-MM-DDTHH:MM:SS' prefixes seen valid, the date included (Feb 30 is not)."""

    def __init__(self) -> None:
        self.ok: set[bytes] = set()

    def valid(self, second: bytes) -> bool:
        if not _SECOND.fullmatch(second):
            return False
        try:
            _day_ms(second[:10].decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            return False
        if len(self.ok) > 100_000:  # a long file: start over rather than grow
            self.ok.clear()
        self.ok.add(second)
        return True


_seconds = _Seconds()


def message_body(line: bytes) -> bytes | None:
    """The JSON part of a recording line whose prefix is surely valid (bare message, tardis.dev
    receipt time, cryptofeed epoch); None for anything `split_line` has to judge."""
    if line[:1] == b"{":
        return line
    if line[10:11] == b"T":
        i = line.find(b" ", 19, 40)
        if i < 0:
            return None
        second = line[:19]
        if second not in _seconds.ok and not _seconds.valid(second):
            return None
        frac = line[19:i]  # '', 'Z', '.1234567' or '.1234567Z'
        if frac and frac != b"Z":
            digits = frac[1:-1] if frac[-1:] == b"Z" else frac[1:]
            if frac[:1] != b"." or not digits.isdigit():
                return None
        return line[i + 1:]
    i = line.find(b": ", 9, 24)
    if i > 0 and _EPOCH.fullmatch(line, 0, i):
        return line[i + 2:]
    return None


class TradeBlock:
    """Rows of one block of lines, in input order. The hot loop appends to `rows` (the row tuples
    of every message, flat), `lines` (the line number of each row) and `raws` (line number -> raw
    line, for a line handed back): flat lists of atomic values, so the garbage collector has
    nothing to walk (a list per message made it a third of the time). `add_trade` takes a Trade
    `Venue.parse` produced."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.rows: list[tuple] = []
        self.lines: list[int] = []
        self.raws: dict[int, bytes] = {}
        self.events: list[dict] = []  # the block's liquidations, to go out in time order with its bars
        self._parsed_assets: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def add_trade(self, t: Trade) -> None:
        """A parsed trade (its notional already in USD, line -1)."""
        self._parsed_assets[t.symbol] = t.asset
        self.rows.append((t.symbol, t.ts, t.price, t.notional_usd, t.taker_side == "sell"))
        self.lines.append(-1)

    def columns(self) -> tuple[list[tuple[tuple[str, str], str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                               set[int], int]:
        """(per key: (venue, symbol), asset, ts, price, usd, taker_sold, in input order), the lines to
        hand back to `Venue.parse`, and the number of fast rows kept (parsed trades are counted by
        their parser)."""
        rows = self.rows
        if not rows:
            return [], set(), 0
        n = len(rows)
        # column by column: zip(*rows) would hold an iterator per row at once, tracked objects
        # enough to set off full garbage collections
        syms, ts_l, price_l, qty_l, sold_l = (list(map(itemgetter(k), rows)) for k in range(5))
        symbols = list(dict.fromkeys(syms))
        codes = {s: i for i, s in enumerate(symbols)}
        key = np.fromiter(map(codes.__getitem__, syms), np.int64, n)
        lines = np.asarray(self.lines, dtype=np.int64)
        parsed = lines < 0  # Venue.parse has judged those rows, and converted them
        try:
            ts = np.asarray(ts_l, dtype=np.int64)
        except OverflowError:  # an int beyond int64: out of range anyway
            ts = np.asarray([t if -2**62 < t < 2**62 else -1 for t in ts_l], dtype=np.int64)
        price, qty = _floats(price_l), _floats(qty_l)
        conv_a, conv_b = np.zeros(len(symbols)), np.zeros(len(symbols))
        known = np.zeros(len(symbols), dtype=bool)
        assets: dict[str, str] = dict(self._parsed_assets)
        has_parsed = bool(parsed.any())
        fast_symbols = {s for s, no in zip(syms, self.lines) if no >= 0} if has_parsed else codes
        for c, symbol in enumerate(symbols):
            if symbol not in fast_symbols:
                continue
            inst = _instrument(self.venue, symbol)
            if inst is not None:  # else: unknown instrument, Venue.parse reports those lines
                (conv_a[c], conv_b[c]), known[c] = _factors(inst), True
                assets.setdefault(symbol, inst.asset)
        a, b = conv_a[key], conv_b[key]
        if has_parsed:
            a, b = np.where(parsed, _IDENTITY[0], a), np.where(parsed, _IDENTITY[1], b)
        with np.errstate(invalid="ignore", over="ignore"):
            usd = qty * a + (qty * b) * price
            good = (known[key] & np.isfinite(price) & np.isfinite(qty) & (price > 0) & (qty > 0) & (ts >= 0)
                    & (ts <= _MAX_MS) & (usd > 0)) | parsed
        bad_lines: set[int] = set()
        if not good.all():  # a message with any bad row is judged whole by Venue.parse
            bad_lines = set(lines[~good].tolist())
            good &= ~np.isin(lines, np.fromiter(bad_lines, dtype=np.int64))
        sold = np.asarray(sold_l, dtype=bool)
        out = []
        order = np.argsort(key, kind="stable")  # stable: each symbol's trades stay in input order
        for idx in np.split(order, np.flatnonzero(np.diff(key[order])) + 1):
            idx = idx[good[idx]]
            if len(idx):
                symbol = symbols[int(key[idx[0]])]
                out.append(((self.venue.name, symbol), assets[symbol], ts[idx], price[idx], usd[idx], sold[idx]))
        kept = int(good.sum()) - (int(parsed.sum()) if has_parsed else 0)
        return out, bad_lines, kept


def _floats(values) -> np.ndarray:
    """Python float() of each value (numpy uses it for a list of str); NaN where it fails, so the
    row fails the checks and its line is judged by Venue.parse."""
    try:
        return np.array(values, dtype=np.float64)
    except (ValueError, TypeError):
        out = np.empty(len(values))
        for i, v in enumerate(values):
            try:
                out[i] = float(v) if type(v) is not bool else np.nan
            except (ValueError, TypeError):
                out[i] = np.nan
        return out


def _factors(inst: Instrument) -> tuple[float, float]:
    # the same operations, in the same order, as Instrument.convert: exact equality with Venue.parse
    return (0.0, inst.contract_size) if inst.unit == "base" else (inst.contract_size, 0.0)


def _instrument(venue: Venue, symbol: str) -> Instrument | None:
    try:
        return venue.trade_instrument(symbol)
    except ParseError:
        return None
