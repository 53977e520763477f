"""The long CSV (date, fund, flow) and JSON lines of `etf_flow` events.

Long CSV columns: `date`, `fund`, and the figure as `flow` (US$ millions, like the page) or
`net_flow_usd` (USD); optional `asset` (else --asset) and `published_ts` (ms since the epoch or
an ISO time; else the history rule). A day whose every figure is 0.0 is not filled yet and is
skipped, as in a wide table (wide.py). JSON lines are interchange events, validated against the
contract and kept as they are, ids and published_ts included.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import orjson

from pipeline.contracts.models import ContractError, event_from_dict

from .events import CellError, FlowFigure, ReadResult, Skipped, parse_day, parse_millions
from .wide import UNFILLED_REASON, TableError

FLOW_COLUMNS = {"flow": 1e6, "flow_usd_m": 1e6, "net_flow_usd_m": 1e6, "net_flow_usd": 1.0, "flow_usd": 1.0}


def _published(text: str) -> int:
    t = text.strip()
    if t.isdigit():
        return int(t)
    ts = dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.timezone.utc)
    return int(ts.timestamp() * 1000)


def read_long_csv(text: str, asset: str) -> ReadResult:
    reader = csv.DictReader(io.StringIO(text))
    cols = {c.strip().lower(): c for c in reader.fieldnames or []}
    flow_col = next((c for c in FLOW_COLUMNS if c in cols), None)
    missing = [c for c in ("date", "fund") if c not in cols] + ([] if flow_col else ["flow (or net_flow_usd)"])
    if missing:
        raise TableError(f"long CSV needs columns date, fund, flow; missing {', '.join(missing)} "
                         f"(header: {', '.join(reader.fieldnames or [])})")
    unit = FLOW_COLUMNS[flow_col]
    res = ReadResult()
    for n, row in enumerate(reader, start=2):
        where = f"line {n}"
        date = parse_day(row.get(cols["date"]) or "")
        if date is None:
            res.skipped.append(Skipped(where, f"not a date: {row.get(cols['date'])!r}", "date"))
            continue
        fund = (row.get(cols["fund"]) or "").strip()
        if not fund:
            res.skipped.append(Skipped(where, "no fund", "fund"))
            continue
        try:
            value = parse_millions(row.get(cols[flow_col]) or "")
        except CellError as exc:
            res.skipped.append(Skipped(where, str(exc), cols[flow_col]))
            continue
        if value is None:
            continue
        row_asset = (row.get(cols["asset"]) or "").strip().upper() if "asset" in cols else ""
        pub = None
        if "published_ts" in cols and (row.get(cols["published_ts"]) or "").strip():
            try:
                pub = _published(row[cols["published_ts"]])
            except ValueError:
                res.skipped.append(Skipped(where, f"not a time: {row[cols['published_ts']]!r}", "published_ts"))
                continue
        res.figures.append(FlowFigure(row_asset or asset, fund, date, round(value * unit, 2), pub))
    days: dict[tuple, list[FlowFigure]] = {}
    for f in res.figures:
        days.setdefault((f.asset, f.date, f.published_ts), []).append(f)
    unfilled = {k for k, figs in days.items() if len(figs) > 1 and not any(f.usd for f in figs)}
    if unfilled:
        res.figures = [f for f in res.figures if (f.asset, f.date, f.published_ts) not in unfilled]
        res.skipped += [Skipped(f"{a} {d}", UNFILLED_REASON) for a, d, _ in sorted(unfilled, key=str)]
    return res


def read_jsonl(data: bytes, asset: str | None = None) -> ReadResult:
    """etf_flow events, one per line; other lines are skipped with the reason."""
    res = ReadResult()
    for n, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
            ev = event_from_dict(obj, expect={"etf_flow"})
        except orjson.JSONDecodeError as exc:
            res.skipped.append(Skipped(f"line {n}", f"malformed JSON: {exc}"))
            continue
        except ContractError as exc:
            res.skipped.append(Skipped(f"line {n}", str(exc)))
            continue
        if asset and ev.asset != asset:
            res.skipped.append(Skipped(f"line {n}", f"asset {ev.asset}, not {asset}"))
            continue
        res.events.append(obj)  # as written: validated, extra fields kept
    return res
