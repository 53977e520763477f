"""Query results as text: a rich table on a terminal, whole plain columns, CSV, TSV or JSON lines elsewhere.

Nothing is ever cut: a rich table is drawn only on a terminal, and even there its cells fold
instead of ending in an ellipsis. When stdout is a pipe or a file, `table` prints plain columns
padded to their widest value, so `cut`, `awk` and `column` see every character.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import sys
from collections.abc import Sequence
from typing import IO

import orjson
from rich.console import Console
from rich.table import Table

FORMATS = ("table", "csv", "json", "tsv")


def text(value: object) -> str:
    """One value as ClickHouse would print it: UTC times without offset, milliseconds only when present."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(" ", "milliseconds" if value.microsecond else "seconds")
    if isinstance(value, float) and math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


def _json_default(value: object) -> object:
    if isinstance(value, (dt.datetime, dt.date)):
        return text(value) if isinstance(value, dt.datetime) else value.isoformat()
    return str(value)


def _tsv_escape(value: object) -> str:
    # ClickHouse's TabSeparated escaping, so the output can be fed back with FORMAT TSV.
    if value is None:
        return "\\N"
    return text(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def plain_table(names: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest value; numbers right-aligned, text left-aligned."""
    cells = [[text(v) for v in row] for row in rows]
    widths = [max([len(n), *(len(r[i]) for r in cells)]) for i, n in enumerate(names)]
    numeric = [bool(rows) and all(isinstance(r[i], (int, float)) or r[i] is None for r in rows) for i in range(len(names))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip()

    out = [line(list(names)), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join(out) + "\n"


def write_rows(names: Sequence[str], rows: Sequence[Sequence[object]], fmt: str, *, stream: IO[str] | None = None,
               console: Console | None = None) -> None:
    """Write a query result in `fmt` (one of FORMATS) to `stream` (default stdout)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    stream = stream or sys.stdout
    if fmt == "json":
        for row in rows:
            stream.write(orjson.dumps(dict(zip(names, row)), default=_json_default).decode() + "\n")
    elif fmt == "csv":
        w = csv.writer(stream, lineterminator="\n")
        w.writerow(names)
        w.writerows([text(v) for v in row] for row in rows)
    elif fmt == "tsv":
        stream.write("\t".join(names) + "\n")
        for row in rows:
            stream.write("\t".join(_tsv_escape(v) for v in row) + "\n")
    elif stream.isatty():
        table = Table(*names)
        for col in table.columns:
            col.overflow = "fold"
        for row in rows:
            table.add_row(*(text(v) for v in row))
        (console or Console(file=stream)).print(table)
    else:
        stream.write(plain_table(names, rows))
    stream.flush()
