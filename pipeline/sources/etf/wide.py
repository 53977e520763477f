"""Wide tables: a date column, one column per fund, an optional Total column; cells in US$ millions.

This is the shape of the Farside page and of the CSV files people keep from it. A row whose
first cell is a footer label (Total, Average, Maximum, Minimum) is not a day. A row with a cell
that is not a figure is skipped whole, naming the row and the column, and the other rows import.
A day whose funds do not add up to its Total cell (within the cells' rounding) is kept, with a
warning: the fund cells are the figures, the Total is only a check.

A row whose every figure is 0.0, Total included, is a day the page has not filled yet (Farside
shows the next day that way before its figures come in; 1 Nov 2024 in the recorded table): it is
skipped, so it cannot stand as a day of no flows, breaking a streak, until it is filled.

A column that is a known fund of another asset (ETHA read as BTC) means the wrong table for the
asset: the read fails rather than adding one asset's flows to another's.
"""

from __future__ import annotations

import csv
import io

from .events import FOOTER_LABELS, CellError, FlowFigure, ReadResult, Skipped, parse_day, parse_millions

TOTAL_NAMES = {"total", "net total", "total net flow"}
FOOTER_REASON = "footer row, not a day"
UNFILLED_REASON = "every cell 0.0: the row is not filled yet"
# US spot ETFs by asset, as their tables name them (BTC and ETH alone are Grayscale's mini trusts).
KNOWN_FUNDS = {
    "BTC": {"IBIT", "FBTC", "BITB", "ARKB", "BTCO", "EZBC", "BRRR", "HODL", "BTCW", "GBTC", "BTC", "DEFI"},
    "ETH": {"ETHA", "FETH", "ETHW", "CETH", "ETHV", "QETH", "EZET", "ETHE", "ETH"},
}


class TableError(ValueError):
    """The table has no usable header (no date column or no fund column)."""


def fund_columns(header: list[str]) -> tuple[list[int], int | None]:
    """Indexes of the fund columns and of the Total column (None if absent)."""
    funds, total = [], None
    for i, name in enumerate(header[1:], start=1):
        if name.strip().lower() in TOTAL_NAMES:
            total = i
        elif name.strip():
            funds.append(i)
    return funds, total


def read_wide(header: list[str], rows: list[tuple[int, list[str]]], asset: str, *, unit: float = 1e6,
              row_label: str = "row") -> ReadResult:
    """Figures from a wide table. rows are (1-based row number, cells)."""
    res = ReadResult()
    header = [h.strip() for h in header]
    funds, total_col = fund_columns(header)
    if not funds:
        raise TableError(f"no fund columns in the header {header!r}")
    blank_names = [i for i, h in enumerate(header[1:], start=1) if not h]
    if blank_names:
        res.warnings.append(Skipped("header", f"column {blank_names[0] + 1} has no name; its cells are ignored"))
    res.columns = [header[i] for i in funds]
    for i in funds:
        owner = next((a for a, names in KNOWN_FUNDS.items() if header[i].upper() in names), None)
        if owner is not None and owner != asset.upper() and header[i].upper() not in KNOWN_FUNDS.get(asset.upper(), ()):
            raise TableError(f"column {header[i]!r} is one of the {owner} funds: this looks like the {owner} table, "
                             f"read as {asset} (give the asset: --asset {owner})")
    for num, cells in rows:
        first = cells[0].strip() if cells else ""
        where = f"{row_label} {num} ({first})" if first else f"{row_label} {num}"
        if not any(c.strip() for c in cells):
            continue
        date = parse_day(first)
        if date is None:
            if first.lower() in FOOTER_LABELS:
                res.skipped.append(Skipped(where, FOOTER_REASON))
            else:
                res.skipped.append(Skipped(where, f"not a date: {first!r}", header[0] or "date"))
            continue
        if len(cells) != len(header):
            res.skipped.append(Skipped(where, f"{len(cells)} cells, the header has {len(header)} columns"))
            continue
        figures, bad = [], None
        for i in funds:
            try:
                m = parse_millions(cells[i])
            except CellError as exc:
                bad = Skipped(where, str(exc), header[i])
                break
            if m is not None:
                figures.append(FlowFigure(asset, header[i], date, round(m * unit, 2)))
        if bad is not None:
            res.skipped.append(bad)
            continue
        total = None
        if total_col is not None:
            try:
                total = parse_millions(cells[total_col])
            except CellError as exc:
                res.warnings.append(Skipped(where, f"{exc}; kept the fund cells", header[total_col]))
                total = None
        if len(figures) > 1 and not any(f.usd for f in figures) and not total:
            res.skipped.append(Skipped(where, UNFILLED_REASON))
            continue
        if total is not None and figures:
            got = sum(f.usd for f in figures) / unit
            # each printed cell is rounded to 0.1, so the sum may be off by half a unit per cell
            if abs(got - total) > 0.05 * (len(figures) + 1) + 1e-9:
                res.warnings.append(Skipped(where, f"Total cell {total:,.1f} differs from the funds' sum "
                                                   f"{got:,.1f}; kept the fund cells", header[total_col]))
        res.figures += figures
    return res


def read_wide_csv(text: str, asset: str) -> ReadResult:
    """The wide CSV: date, one column per fund, Total; US$ millions."""
    reader = csv.reader(io.StringIO(text))
    lines = [row for row in reader]
    start = next((i for i, r in enumerate(lines) if any(c.strip() for c in r)), None)
    if start is None:
        raise TableError("the file is empty")
    header = lines[start]
    rows = [(i + 1, r) for i, r in enumerate(lines) if i > start]
    return read_wide(header, rows, asset, row_label="line")
