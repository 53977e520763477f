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

from . import get_venue
from .base import BarAggregator, MetaLine, split_line

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


def normalize_lines(venue_name: str, lines: Iterable[str | bytes], *, stats: NormalizeStats | None = None,
                    now_ms: int | None = None) -> Iterator[dict[str, Any]]:
    """Yield event dicts (`model_dump(mode="json")`) and error dicts, in input order; bars go out when
    their second is over for that symbol, and the rest at the end of the input.

    received_ts: the recording's receive time when the line has one, else `now_ms` (default: the
    wall clock when the line is read).
    """
    venue = get_venue(venue_name)  # ValueError for an unknown venue name: a usage error, not bad input
    st = stats if stats is not None else NormalizeStats()
    bars = BarAggregator()
    for line_no, line in enumerate(lines, 1):
        st.lines += 1
        try:
            received, msg = split_line(line)
        except MetaLine as exc:
            st.skipped[str(exc)] += 1
            continue
        except (ValueError, UnicodeError) as exc:
            st.errors += 1
            yield _error(line_no, "unparseable", str(exc), line)
            continue
        st.messages += 1
        if received is None:
            received = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        result = venue.parse(msg, received)
        for err in result.errors:
            st.errors += 1
            yield _error(line_no, "unknown" if err.startswith("unknown") else "invalid", err, line)
        if result.errors:
            continue  # a message with any bad part is reported whole, nothing from it is emitted
        if result.skipped and not (result.liquidations or result.trades):
            st.skipped[result.skipped] += 1
        for liq in result.liquidations:
            st.liquidations += 1
            yield liq.model_dump(mode="json")
        for trade in result.trades:
            st.trades += 1
            for bar in bars.add(trade):
                st.bars += 1
                yield bar.model_dump(mode="json")
    for bar in bars.flush():
        st.bars += 1
        yield bar.model_dump(mode="json")
    st.late_trades = bars.late_trades
