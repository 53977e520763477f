"""External merge sort of events by event time: sorted runs of at most `run_size` events are
written to temporary files and merged lazily, so memory holds one run while sorting and one line
per run while merging, whatever the size of the input. Equal times keep their input order."""

from __future__ import annotations

import heapq
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

RUN_SIZE = 200_000


class ExternalSorter:
    def __init__(self, run_size: int = RUN_SIZE, tmp_dir: str | Path | None = None):
        self.run_size = run_size
        self._tmp = tempfile.TemporaryDirectory(prefix="cascadewatch-sort-", dir=tmp_dir)
        self._runs: list[Path] = []
        self._buf: list[tuple[int, int, bytes]] = []
        self._seq = 0
        self.count = 0

    def add(self, ts: int, line: bytes) -> None:
        self._buf.append((ts, self._seq, line))
        self._seq += 1
        self.count += 1
        if len(self._buf) >= self.run_size:
            self._spill()

    def extend(self, items: Iterable[tuple[int, bytes]]) -> None:
        for ts, line in items:
            self.add(ts, line)

    @property
    def runs(self) -> int:
        return len(self._runs) + bool(self._buf)

    def _spill(self) -> None:
        self._buf.sort()
        path = Path(self._tmp.name) / f"run{len(self._runs):05d}"
        with path.open("wb") as fh:
            for ts, seq, line in self._buf:
                fh.write(b"%d\t%d\t%s\n" % (ts, seq, line))
        self._runs.append(path)
        self._buf = []

    def sorted(self) -> Iterator[bytes]:
        """The lines in (ts, input order). Call once, after the last add."""
        if not self._runs:
            self._buf.sort()
            yield from (line for _, _, line in self._buf)
            self._buf = []
        else:
            if self._buf:
                self._spill()
            yield from (line for _, _, line in heapq.merge(*(self._read(p) for p in self._runs)))
        self.close()

    @staticmethod
    def _read(path: Path) -> Iterator[tuple[int, int, bytes]]:
        with path.open("rb") as fh:
            for raw in fh:
                ts, seq, line = raw.rstrip(b"\n").split(b"\t", 2)
                yield int(ts), int(seq), line

    def close(self) -> None:
        self._tmp.cleanup()
