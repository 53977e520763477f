"""Shared pieces of the ETF sources: cell parsing, the history publication rule, events, reports.

Figures on pages and in the files people keep are US$ millions; the `etf_flow` topic carries USD.
A figure is stamped with when it became known (`published_ts`). For history, which says nothing
about when each figure appeared, the rule is: the trading day's US close (16:00 New York time)
plus a delay (default 14 h, which lands on the next morning in Europe, when the tables are
usually complete). A figure's event_id includes its published_ts, so a revision is a new event.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
US_CLOSE = dt.time(16, 0)
DEFAULT_PUBLISH_DELAY_H = 14.0
TOTAL_FUND = "TOTAL"  # a day's total as the source reports it (used when a source has no per-fund figures)
BLANKS = {"", "-", "–", "—", "n/a", "na", "nan"}
FOOTER_LABELS = {"total", "average", "maximum", "minimum", "max", "min", "sum"}
_NUMBER = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")
_DATE_FORMATS = ("%d %b %Y", "%d %B %Y", "%Y-%m-%d", "%d-%b-%Y", "%b %d, %Y")


class CellError(ValueError):
    """A cell that is neither a number nor a blank."""


@dataclass(frozen=True)
class FlowFigure:
    """One fund's net flow for one trading day, in USD, as a source printed it."""

    asset: str
    fund: str
    date: str  # YYYY-MM-DD
    usd: float
    published_ts: int | None = None  # when the source says; else the history rule applies


@dataclass
class Skipped:
    where: str  # "row 12 (29 Oct 2024)", "line 3"
    reason: str
    column: str | None = None

    def __str__(self) -> str:
        col = f", column {self.column}" if self.column else ""
        return f"{self.where}{col}: {self.reason}"


@dataclass
class ReadResult:
    """What a source read: figures, rows it skipped (with why), and warnings on rows it kept."""

    figures: list[FlowFigure] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[Skipped] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # fund columns, for table sources
    events: list[dict] = field(default_factory=list)  # ready etf_flow events (JSON lines keep their own ids)

    def extend(self, other: "ReadResult") -> None:
        self.figures += other.figures
        self.skipped += other.skipped
        self.warnings += other.warnings
        self.columns += [c for c in other.columns if c not in self.columns]
        self.events += other.events


def parse_millions(cell: str) -> float | None:
    """'(95.1)' -> -95.1, '1,045.0' -> 1045.0, '-' -> None. Raises CellError on anything else."""
    s = cell.replace("\xa0", " ").strip().replace("$", "").replace(" ", "")
    if s.lower() in BLANKS:
        return None
    neg = False
    if s.startswith("(") and s.endswith(")"):
        neg, s = True, s[1:-1]
    elif s.startswith("-") or s.startswith("−"):
        neg, s = True, s[1:]
    elif s.startswith("+"):
        s = s[1:]
    if not _NUMBER.match(s):
        raise CellError(f"not a figure: {cell.strip()!r}")
    value = float(s.replace(",", ""))
    return -value if neg else value


def parse_day(text: str) -> str | None:
    """'11 Jan 2024' or '2024-01-11' -> '2024-01-11'; None if the text is not a date."""
    t = " ".join(text.replace("\xa0", " ").split())
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(t, fmt).date().isoformat()
        except ValueError:
            continue
    return None


def history_published_ts(date: str, delay_h: float = DEFAULT_PUBLISH_DELAY_H) -> int:
    """The documented rule for history: US close of the trading day plus a delay, in ms UTC."""
    day = dt.date.fromisoformat(date)
    close = dt.datetime.combine(day, US_CLOSE, tzinfo=NEW_YORK)
    return int((close + dt.timedelta(hours=delay_h)).timestamp() * 1000)


def event_id(asset: str, fund: str, date: str, published_ts: int) -> str:
    return f"etf:{asset}:{fund}:{date}:{published_ts}"


def to_event(fig: FlowFigure, source: str, published_ts: int) -> dict:
    return {"type": "etf_flow", "event_id": event_id(fig.asset, fig.fund, fig.date, published_ts),
            "date": fig.date, "fund": fig.fund, "asset": fig.asset, "net_flow_usd": round(fig.usd, 2),
            "published_ts": published_ts, "source": source}


def to_events(figures: list[FlowFigure], source: str, *, delay_h: float = DEFAULT_PUBLISH_DELAY_H,
              now_ms: int | None = None) -> list[dict]:
    """Events for figures; those without a published_ts get the history rule, never later than now_ms."""
    out = []
    for fig in figures:
        pub = fig.published_ts
        if pub is None:
            pub = history_published_ts(fig.date, delay_h)
            if now_ms is not None:
                pub = min(pub, now_ms)
        out.append(to_event(fig, source, pub))
    return out


def summary(events: list[dict], result: ReadResult) -> dict:
    """Days, funds, events and skipped rows with their reasons: what `etf import` prints at the end."""
    return {"days": len({e["date"] for e in events}), "funds": len({e["fund"] for e in events}),
            "events": len(events), "assets": sorted({e["asset"] for e in events}),
            "first_day": min((e["date"] for e in events), default=None),
            "last_day": max((e["date"] for e in events), default=None),
            "skipped": [str(s) for s in result.skipped], "warnings": [str(w) for w in result.warnings]}
