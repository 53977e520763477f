"""What the CSV readers yield besides events: a row that could not be read, with its line number."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    reason: str  # "invalid" | "unknown"
    detail: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class Skipped:
    reason: str


def fields(line: bytes, n: int) -> list[bytes]:
    """The n comma-separated fields of a CSV line (these archives never quote), or ValueError."""
    parts = line.rstrip(b"\r\n").split(b",")
    if len(parts) != n:
        raise ValueError(f"expected {n} columns, got {len(parts)}")
    return parts
