"""The Farside Investors flow tables (BTC and ETH spot ETFs), parsed from the HTML page as served.

The page holds one `<table class="etf">`: header rows (fund sponsors, the ticker row with Date
and Total, a fee row), one row per trading day ("11 Jan 2024"), then footer rows (Total,
Average, Maximum, Minimum). The ticker row changes as funds launch, so columns are read from it
on every parse. Cells are US$ millions: "(95.1)" is an outflow, "-" no figure, "1,045.0" has a
thousands separator. Only the standard library's HTML parser is used.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from .events import ReadResult, parse_day
from .wide import TableError, read_wide

_TICKER = re.compile(r"^[A-Z][A-Z0-9]{1,7}$")


class _Tables(HTMLParser):
    """Collects every table as (attrs, rows of cell texts)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[tuple[dict, list[list[str]]]] = []
        self._stack: list[tuple[dict, list[list[str]]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._stack.append((dict(attrs), []))
        elif tag == "tr" and self._stack:
            self._stack[-1][1].append([])
        elif tag in ("td", "th") and self._stack:
            if not self._stack[-1][1]:
                self._stack[-1][1].append([])
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._close_cell()
        elif tag == "table" and self._stack:
            self._close_cell()
            self.tables.append(self._stack.pop())

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def _close_cell(self):
        if self._cell is not None and self._stack and self._stack[-1][1]:
            self._stack[-1][1][-1].append(" ".join("".join(self._cell).split()))
        self._cell = None


def _is_header(row: list[str]) -> bool:
    named = [c for c in row[1:] if c]
    return bool(named) and any(c.lower() == "total" for c in named) and \
        sum(bool(_TICKER.match(c)) for c in named) >= len(named) - 1


def _pick_table(tables: list[tuple[dict, list[list[str]]]]) -> list[list[str]]:
    def days(rows):
        return sum(1 for r in rows if r and parse_day(r[0]))
    etf = [rows for attrs, rows in tables if "etf" in (attrs.get("class") or "").split()]
    candidates = etf or [rows for _, rows in tables]
    best = max(candidates, key=days, default=None)
    if best is None or days(best) == 0:
        raise TableError("no flow table on the page (no table with a row per trading day)")
    return best


def read_farside_html(html: str, asset: str) -> ReadResult:
    parser = _Tables()
    parser.feed(html)
    parser.close()
    rows = [r for r in _pick_table(parser.tables)]
    first_day = next(i for i, r in enumerate(rows) if r and parse_day(r[0]))
    header_at = next((i for i in range(first_day - 1, -1, -1) if _is_header(rows[i])), None)
    if header_at is None:
        raise TableError("the flow table has no ticker row (a header row with fund tickers and Total)")
    header = list(rows[header_at])
    header[0] = header[0] or "Date"
    body = [(i + 1, r) for i, r in enumerate(rows) if i >= first_day]
    return read_wide(header, body, asset, row_label="table row")
