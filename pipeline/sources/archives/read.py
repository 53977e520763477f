"""One data file of any supported format -> normalized event dicts (liquidations and taker-flow
bars), in the same shape and with the same error dicts as `normalize_lines`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson

from pipeline.contracts.models import ContractError, Liquidation, TradeFlow, event_from_dict
from pipeline.sources.exchanges.base import BarAggregator, Trade
from pipeline.sources.exchanges.normalize import ERROR_TYPE, NormalizeStats, normalize_lines

from . import binance_csv, hyperliquid_fills, tardis_csv, trade_blocks
from .detect import ArchiveSource
from .files import open_binary
from .rows import RowError, Skipped
from pipeline.sources.exchanges.vbars import VectorBars

TRADE_FORMATS = ("binance-aggtrades", "binance-trades", "tardis-trades")


def _rows(src: ArchiveSource, lines) -> Iterator[Any]:
    if src.fmt == "tardis-liquidations":
        return tardis_csv.read(lines, liquidations=True, venue=src.venue)
    if src.fmt == "hyperliquid-node-fills":
        return hyperliquid_fills.read(lines)
    assert src.venue is not None and src.symbol is not None
    if src.fmt == "binance-klines":
        return binance_csv.klines(lines, src.venue, src.symbol)
    if src.fmt == "binance-liquidations":
        return binance_csv.liquidations(lines, src.venue, src.symbol)
    raise ValueError(f"no reader for format {src.fmt!r}")


def normalize_file(src: ArchiveSource, *, stats: NormalizeStats | None = None, now_ms: int | None = None,
                   on_bytes: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]:
    """Yield event dicts and error dicts ({"type": "error", ...}) for one file. Trades become 1 s bars
    per venue/symbol (in numpy, a block of lines at a time); kline rows are bars already.
    `on_bytes(n)` is called with the bytes read so far (for progress), every few thousand lines."""
    st = stats if stats is not None else NormalizeStats()
    with open_binary(src.path) as fh:
        lines = _counting(fh, on_bytes) if on_bytes is not None else fh
        if src.fmt == "messages":
            assert src.venue is not None
            yield from normalize_lines(src.venue, lines, stats=st, now_ms=now_ms)
            return
        if src.fmt == "interchange":
            yield from _interchange(lines, st)
            return
        if src.fmt in TRADE_FORMATS:
            yield from _trade_bars(src, lines, st)
            return
        bars = BarAggregator()
        for row in _rows(src, lines):
            st.lines += 1
            if type(row) is Trade:  # node fills: trades and liquidations interleaved
                st.lines -= 1
                st.trades += 1
                for bar in bars.add(row):
                    st.bars += 1
                    yield bar.model_dump(mode="json")
                continue
            if isinstance(row, Skipped):
                st.lines -= row.reason == "header"
                st.skipped[row.reason] += 1
                continue
            if isinstance(row, RowError):
                st.errors += 1
                yield _error(row)
                continue
            st.messages += 1
            if isinstance(row, Liquidation):
                st.liquidations += 1
            elif isinstance(row, TradeFlow):
                st.bars += 1
            yield row.model_dump(mode="json")
        for bar in bars.flush():
            st.bars += 1
            yield bar.model_dump(mode="json")
        st.late_trades = bars.late_trades


def _trade_bars(src: ArchiveSource, lines, st: NormalizeStats) -> Iterator[dict[str, Any]]:
    bars = VectorBars()
    for block in trade_blocks.blocks(lines, src.fmt, src.venue, src.symbol):
        st.trades += block.trades
        st.messages += block.trades
        st.lines += block.trades
        for problem in block.problems:
            if isinstance(problem, RowError):
                st.lines += 1
                st.errors += 1
                yield _error(problem)
            else:
                st.lines += problem.reason != "header"
                st.skipped[problem.reason] += 1
        out: list[tuple] = []
        for c in block.columns:
            out.extend(bars.add_rows((c.venue, c.symbol), c.asset, c.ts, c.price, c.usd, c.taker_sold))
        out.sort()  # by time (rows are tuples: dicts only as they are handed on, see VectorBars)
        st.bars += len(out)
        yield from map(bars.as_dict, out)
    out = bars.flush_rows()
    st.bars += len(out)
    yield from map(bars.as_dict, out)
    st.late_trades = bars.late_trades


def _interchange(lines, st: NormalizeStats) -> Iterator[dict[str, Any]]:
    """Already normalized events: checked against their contract, passed through unchanged."""
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        st.lines += 1
        try:
            ev = event_from_dict(orjson.loads(line))
        except (orjson.JSONDecodeError, ContractError) as exc:
            st.errors += 1
            yield _error(RowError(no, "invalid", str(exc), line.rstrip(b"\r\n")))
            continue
        st.messages += 1
        st.liquidations += ev.type == "liquidation"
        st.bars += ev.type == "trade_flow"
        yield ev.model_dump(mode="json")


def _error(row: RowError) -> dict[str, Any]:
    raw = row.raw.decode("utf-8", "replace")
    return {"type": ERROR_TYPE, "line": row.line, "reason": row.reason, "detail": row.detail[:300], "raw": raw[:200]}


def _counting(fh, on_bytes: Callable[[int], None]):
    seen = 0
    for i, line in enumerate(fh):
        seen += len(line)
        if i % 4096 == 0:
            on_bytes(seen)
        yield line
    on_bytes(seen)
