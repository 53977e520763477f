"""Read any supported ETF source into events: format detection and dispatch."""

from __future__ import annotations

from .events import DEFAULT_PUBLISH_DELAY_H, ReadResult, to_events
from .farside import read_farside_html
from .files import read_jsonl, read_long_csv
from .sosovalue import read_sosovalue
from .wide import TableError, read_wide_csv

FORMATS = ("farside-html", "wide-csv", "long-csv", "jsonl", "sosovalue")
SOURCE_NAMES = {"farside-html": "farside", "wide-csv": "wide-csv", "long-csv": "long-csv", "sosovalue": "sosovalue"}


class FormatError(ValueError):
    """The format could not be detected, or is not one we read."""


def detect_format(data: bytes, name: str = "") -> str:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    low = name.lower()
    if low.endswith((".html", ".htm")) or head.startswith((b"<!doctype", b"<html", b"<table", b"<")):
        return "farside-html"
    if low.endswith((".jsonl", ".ndjson")) or head.startswith(b'{"type"') or b'"type": "etf_flow"' in head \
            or b'"type":"etf_flow"' in head:
        return "jsonl"
    if head.startswith(b"{"):
        return "sosovalue"
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace")
    cols = [c.strip().strip('"') for c in first.split(",")]
    if "fund" in cols and "date" in cols:
        return "long-csv"
    if len(cols) >= 2:
        return "wide-csv"
    raise FormatError(f"cannot tell the format of {name or 'the input'}; pass --format ({', '.join(FORMATS)})")


def read_any(data: bytes, fmt: str, asset: str) -> ReadResult:
    if fmt not in FORMATS:
        raise FormatError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if fmt == "jsonl":
        return read_jsonl(data, asset)
    if fmt == "sosovalue":
        return read_sosovalue(data, asset)
    text = data.decode("utf-8-sig", errors="replace")
    if fmt == "farside-html":
        return read_farside_html(text, asset)
    if fmt == "wide-csv":
        return read_wide_csv(text, asset)
    return read_long_csv(text, asset)


def load_events(data: bytes, fmt: str | None, asset: str, *, name: str = "",
                delay_h: float = DEFAULT_PUBLISH_DELAY_H, now_ms: int | None = None) -> tuple[list[dict], ReadResult]:
    """Events from a file or page (history rule for figures without a publication time)."""
    fmt = fmt or detect_format(data, name)
    res = read_any(data, fmt, asset)
    events = res.events + to_events(res.figures, SOURCE_NAMES.get(fmt, fmt), delay_h=delay_h, now_ms=now_ms)
    return events, res


__all__ = ["FORMATS", "FormatError", "TableError", "detect_format", "load_events", "read_any"]
