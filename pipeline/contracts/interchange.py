"""The interchange format: files of events, one JSON object per line, any order of types."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.contracts.models import ContractError, Event, parse_event


@dataclass(frozen=True)
class BadLine:
    path: str
    line_no: int
    raw: bytes
    error: ContractError


def read_events(path: str | Path, *, max_bytes: int | None = None) -> Iterator[Event | BadLine]:
    """Yield each line's event, or a BadLine saying why it was rejected. Blank lines are skipped."""
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            raw = line.rstrip(b"\r\n")
            if not raw.strip():
                continue
            try:
                yield parse_event(raw, max_bytes=max_bytes)
            except ContractError as exc:
                yield BadLine(str(path), n, raw, exc)


def event_time(event: Event) -> int:
    """The time an event happened: block time, exchange time, bar start, or publish time."""
    return event.ts
