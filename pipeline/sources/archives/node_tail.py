"""Follow a Hyperliquid node's fills directory live: `feed hyperliquid --node-fills DIR`.

The node appends to one hourly file at a time (`.../hourly/{YYYYMMDD}/{H}`) and starts the next
hour's file when the hour turns. The tail starts at the end of the newest file (or at its start
with `from_start`), reads whole lines as they are appended, and moves to the next file once the
current one has been read to its end and a newer file exists. Each line goes through the same
reader as the archive import (hyperliquid_fills.py): liquidations go out at once, taker fills into
1 s bars that go out when a later second starts or `bar_grace_ms` after their second ends.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.contracts.models import Liquidation
from pipeline.sources.exchanges.base import BarAggregator, Trade

from . import hyperliquid_fills
from .rows import RowError

Sink = Callable[[list[dict]], Awaitable[None]]
_HOUR_FILE = re.compile(r"(\d{8})/(\d{1,2})$")


@dataclass
class TailStats:
    lines: int = 0
    liquidations: int = 0
    trades: int = 0
    bars: int = 0
    errors: int = 0
    files: int = 0


def hour_files(root: Path) -> list[Path]:
    """The node's hourly files under root, oldest first (by date and hour, not by name)."""
    found = []
    for p in root.rglob("*"):
        m = _HOUR_FILE.search(p.as_posix())
        if m and p.is_file():
            found.append(((m.group(1), int(m.group(2))), p))
    return [p for _, p in sorted(found)]


class NodeFillsTail:
    def __init__(self, root: Path, sink: Sink, *, coins: list[str] | None = None, from_start: bool = False,
                 poll_s: float = 0.2, bar_grace_ms: int = 2000, on_error: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.time):
        self.root, self.sink, self.poll_s, self.bar_grace_ms = Path(root), sink, poll_s, bar_grace_ms
        self.coins = set(coins) if coins else None
        self.from_start, self.on_error, self.clock = from_start, on_error, clock
        self.stats = TailStats()
        self.bars = BarAggregator()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self, duration_s: float | None = None) -> TailStats:
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: not a directory")
        deadline = None if duration_s is None else self.clock() + duration_s
        current, pos, rest = None, 0, b""
        while not self._stop.is_set() and (deadline is None or self.clock() < deadline):
            files = hour_files(self.root)
            if current is None and files:
                current = files[-1]
                pos = 0 if self.from_start else current.stat().st_size
                self.stats.files += 1
            if current is not None:
                with current.open("rb") as fh:
                    fh.seek(pos)
                    data = fh.read()
                pos += len(data)
                lines = (rest + data).split(b"\n")
                rest = lines.pop()
                await self._lines(lines)
                newer = files[files.index(current) + 1:] if current in files else []
                if not data and newer:
                    if rest:
                        await self._lines([rest])
                    current, pos, rest = newer[0], 0, b""
                    self.stats.files += 1
                    continue
            await self._emit(self.bars.flush_before(int(self.clock() * 1000) - self.bar_grace_ms))
            try:  # asyncio.timeout, not wait_for: on Python 3.11 wait_for can lose a cancellation
                async with asyncio.timeout(self.poll_s):
                    await self._stop.wait()
            except TimeoutError:
                pass
        await self._emit(self.bars.flush())
        return self.stats

    async def _lines(self, lines: list[bytes]) -> None:
        out: list = []
        for line in lines:
            if not line.strip():
                continue
            self.stats.lines += 1
            for row in hyperliquid_fills.read([line]):
                if isinstance(row, Liquidation):
                    self.stats.liquidations += 1
                    out.append(row.model_dump(mode="json"))
                elif type(row) is Trade and (self.coins is None or row.symbol in self.coins):
                    self.stats.trades += 1
                    out.extend(b.model_dump(mode="json") for b in self.bars.add(row))
                elif isinstance(row, RowError):
                    self.stats.errors += 1
                    if self.on_error is not None:
                        self.on_error(f"{row.detail}: {row.raw[:120]!r}")
        self.stats.bars += sum(e["type"] == "trade_flow" for e in out)
        if out:
            await self.sink(out)

    async def _emit(self, bars) -> None:
        if bars:
            self.stats.bars += len(bars)
            await self.sink([b.model_dump(mode="json") for b in bars])
