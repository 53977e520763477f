"""Recorded or live lines -> normalized event dicts (liquidations and 1-second trade_flow bars).

`normalize_lines` never raises on bad input: a line that is not JSON, not a message the venue
parser knows, or a known message that cannot be normalized is yielded as an error dict
({"type": "error", ...}) and counted in `NormalizeStats`. Connection lines of cryptofeed
recordings and known-but-unused channels (books, tickers, acks) are counted as skipped.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import orjson

from . import get_venue
from .base import MetaLine, Venue, split_line
from .trade_block import TradeBlock, message_body
from .vbars import VectorBars

ERROR_TYPE = "error"


@dataclass
class NormalizeStats:
    lines: int = 0
    messages: int = 0
    liquidations: int = 0
    trades: int = 0
    bars: int = 0
    errors: int = 0
    late_trades: int = 0
    skipped: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        skipped = sum(self.skipped.values())
        return (f"{self.lines} lines, {self.messages} messages: {self.liquidations} liquidations, {self.trades} trades "
                f"-> {self.bars} bars, {self.late_trades} late trades dropped, {skipped} skipped, "
                f"{self.errors} errors")


def _error(line_no: int, reason: str, detail: str, raw: str | bytes) -> dict[str, Any]:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    return {"type": ERROR_TYPE, "line": line_no, "reason": reason, "detail": detail[:300], "raw": raw[:200]}


# bars go out, and memory is bounded, a block at a time: at most this many fast-path messages or trades
BLOCK_MESSAGES = 50_000
BLOCK_ROWS = 200_000


def normalize_lines(venue_name: str, lines: Iterable[str | bytes], *, stats: NormalizeStats | None = None,
                    now_ms: int | None = None, fast: bool = True) -> Iterator[dict[str, Any]]:
    """Yield event dicts (`model_dump(mode="json")`) and error dicts: errors as their lines are
    read; liquidations and bars a block of lines at a time, in time order within the block (the
    last bar of each symbol goes out with a later block, or at the end of the input).

    Every message goes through `Venue.parse` (as in the live feed), except plain trade messages
    the venue's `trade_rows` can lift field by field: those are converted and checked in numpy a
    block at a time (trade_block.py), with the same result; `fast=False` parses every message.
    received_ts: the recording's receive time when the line has one, else `now_ms` (default: the
    wall clock when the line is read).
    """
    venue = get_venue(venue_name)  # ValueError for an unknown venue name: a usage error, not bad input
    st = stats if stats is not None else NormalizeStats()
    bars = VectorBars()
    rows_of = venue.trade_rows if fast else None
    block = TradeBlock(venue)
    add_rows, add_line, add_lines, raws = block.rows.extend, block.lines.append, block.lines.extend, block.raws
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    line_no = 0
    for line_no, line in enumerate(lines, 1):
        rows = None
        if rows_of is not None:
            raw = line if type(line) is bytes else line.encode() if isinstance(line, str) else bytes(line)
            body = message_body(raw)
            if body is not None:
                try:
                    msg = loads(body)
                except decode_error:
                    msg = None
                if type(msg) is dict:
                    rows = rows_of(msg)
        if rows:
            add_rows(rows)
            if len(rows) == 1:
                add_line(line_no)
            else:
                add_lines([line_no] * len(rows))
            raws[line_no] = raw
            if len(raws) < BLOCK_MESSAGES and len(block.rows) < BLOCK_ROWS:
                continue
        else:
            yield from _one(venue, line_no, line, st, now_ms, block)
            if len(block.rows) + len(block.events) < BLOCK_ROWS:
                continue
        yield from _flush(block, bars, venue, st, now_ms)  # the block is full
        block = TradeBlock(venue)
        add_rows, add_line, add_lines = block.rows.extend, block.lines.append, block.lines.extend
        raws = block.raws
    yield from _flush(block, bars, venue, st, now_ms)
    for row in bars.flush_rows():
        st.bars += 1
        yield bars.as_dict(row)
    st.late_trades = bars.late_trades


def _one(venue: Venue, line_no: int, line: str | bytes, st: NormalizeStats, now_ms: int | None,
         block: TradeBlock) -> Iterator[dict[str, Any]]:
    """One line through `split_line` and `Venue.parse`: errors out, liquidations and trades into the block."""
    st.lines += 1
    try:
        received, msg = split_line(line)
    except MetaLine as exc:
        st.skipped[str(exc)] += 1
        return
    except (ValueError, UnicodeError) as exc:
        st.errors += 1
        yield _error(line_no, "unparseable", str(exc), line)
        return
    st.messages += 1
    if received is None:
        received = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    result = venue.parse(msg, received)
    for err in result.errors:
        st.errors += 1
        yield _error(line_no, "unknown" if err.startswith("unknown") else "invalid", err, line)
    if result.errors:
        return  # a message with any bad part is reported whole, nothing from it is emitted
    if result.skipped and not (result.liquidations or result.trades):
        st.skipped[result.skipped] += 1
    for liq in result.liquidations:
        st.liquidations += 1
        block.events.append(liq.model_dump(mode="json"))
    for trade in result.trades:
        st.trades += 1
        block.add_trade(trade)


def _ts(event: dict) -> int:
    return event["ts"]


def _by_time(rows: list[tuple], as_dict, events: list[dict]) -> Iterator[dict[str, Any]]:
    """Bar rows (sorted, time first) and event dicts (sorted by ts) merged in time order; a bar
    before an event of the same millisecond."""
    i = 0
    for row in rows:
        while i < len(events) and events[i]["ts"] < row[0]:
            yield events[i]
            i += 1
        yield as_dict(row)
    yield from events[i:]


def _flush(block: TradeBlock, bars: VectorBars, venue: Venue, st: NormalizeStats,
           now_ms: int | None) -> Iterator[dict[str, Any]]:
    fast_lines = len(block.raws)
    st.lines += fast_lines
    st.messages += fast_lines
    columns, handed_back, kept = block.columns()
    st.trades += kept
    out: list[tuple] = []
    for key, asset, ts, price, usd, sold in columns:
        out.extend(bars.add_rows(key, asset, ts, price, usd, sold))
    out.sort()
    st.bars += len(out)
    yield from _by_time(out, bars.as_dict, sorted(block.events, key=_ts))
    if handed_back:  # lines the block's checks refused: Venue.parse reports them as it would alone
        again = TradeBlock(venue)
        for line_no in sorted(handed_back):
            st.lines -= 1
            st.messages -= 1
            yield from _one(venue, line_no, block.raws[line_no], st, now_ms, again)
        if len(again):
            yield from _flush(again, bars, venue, st, now_ms)
