"""`backtest`: files -> normalized events in [start, end) -> external sort -> detector replay ->
alerts (and an evaluation against labels, and the episode reports). Every bad input line is kept
in `bad_lines.jsonl`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from pipeline.contracts.models import Alert, Event, dump_event, event_from_dict, parse_event
from pipeline.detect import DetectorConfig
from pipeline.replay import run
from pipeline.report.book import MinuteBook
from pipeline.sources.archives import ArchiveSource, normalize_file
from pipeline.sources.exchanges.normalize import ERROR_TYPE, NormalizeStats

from .reports import write_reports
from .sort import RUN_SIZE, ExternalSorter


@dataclass
class FileReport:
    path: str
    fmt: str
    venue: str | None
    stats: NormalizeStats
    in_window: int = 0
    outside_window: int = 0

    def as_dict(self) -> dict:
        st = self.stats
        return {"path": self.path, "format": self.fmt, "venue": self.venue, "lines": st.lines,
                "liquidations": st.liquidations, "trades": st.trades, "bars": st.bars, "errors": st.errors,
                "late_trades": st.late_trades, "skipped": dict(st.skipped), "events_in_window": self.in_window,
                "events_outside_window": self.outside_window}


@dataclass
class BacktestResult:
    files: list[FileReport] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    events: int = 0
    runs: int = 0
    late: int = 0
    duplicates: int = 0
    bad_lines: int = 0
    evaluation: dict | None = None
    reports: list[Path] = field(default_factory=list)

    def summary(self) -> dict:
        return {"events": self.events, "alerts": len(self.alerts), "sorted_runs": self.runs, "late": self.late,
                "duplicates": self.duplicates, "bad_lines": self.bad_lines,
                "reports": [str(p) for p in self.reports], "files": [f.as_dict() for f in self.files]}


class _Counted(Sequence):
    """An event stream `replay.run` can take in place of a list: iterated once; its length is the
    number of events seen so far (run reads it after the loop)."""

    def __init__(self, events: Iterator[Event]):
        self._events = events
        self.n = 0

    def __iter__(self):
        for ev in self._events:
            self.n += 1
            yield ev

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):  # pragma: no cover - not used by run()
        raise TypeError("a stream of events has no random access")


def _kept_in(book: MinuteBook, events: Iterator[Event]) -> Iterator[Event]:
    for ev in events:
        book.add(ev)
        yield ev


def backtest(sources: list[ArchiveSource], out_dir: Path, *, start_ms: int | None = None, end_ms: int | None = None,
             labels: list[dict] | None = None, config: DetectorConfig | None = None,
             run_size: int = RUN_SIZE, on_file: Callable[[ArchiveSource], Callable[[int], None] | None] | None = None,
             on_replay: Callable[[int, int], None] | None = None, reports: str = "cascades",
             on_report: Callable[[int, int], None] | None = None) -> BacktestResult:
    """Run the whole backtest and write alerts.jsonl, summary.json, bad_lines.jsonl (and
    evaluation.json with labels) into out_dir, and the episode reports into out_dir/reports
    (`reports`: "cascades", "all" episodes or "none"). `on_file(src)` may return a bytes-read
    callback for that file; `on_replay(done, total)` and `on_report(done, total)` report progress."""
    book = None if reports == "none" else MinuteBook()
    out_dir.mkdir(parents=True, exist_ok=True)
    result = BacktestResult()
    sorter = ExternalSorter(run_size, tmp_dir=out_dir)
    try:
        with (out_dir / "bad_lines.jsonl").open("wb") as bad:
            for src in sources:
                report = FileReport(str(src.path), src.fmt, src.venue, NormalizeStats())
                result.files.append(report)
                progress = on_file(src) if on_file is not None else None
                for obj in normalize_file(src, stats=report.stats, on_bytes=progress):
                    if obj.get("type") == ERROR_TYPE:
                        result.bad_lines += 1
                        bad.write(orjson.dumps({"path": str(src.path), **obj}) + b"\n")
                        continue
                    ts = obj.get("ts")
                    if ts is None:  # whale transfers and ETF flows name their time differently
                        ts = event_from_dict(obj).ts
                    if (start_ms is not None and ts < start_ms) or (end_ms is not None and ts >= end_ms):
                        report.outside_window += 1
                        continue
                    report.in_window += 1
                    sorter.add(ts, orjson.dumps(obj))
        result.runs = sorter.runs
        total = sorter.count
        events = (parse_event(line) for line in sorter.sorted())
        stream = _Counted(events if book is None else _kept_in(book, events))
        replayed = run(stream, config, progress=(lambda i: on_replay(i, total)) if on_replay else None)
    finally:
        sorter.close()
    result.alerts, result.events = replayed.alerts, replayed.events
    result.late, result.duplicates = replayed.late, replayed.duplicates
    if on_replay is not None:
        on_replay(result.events, total)
    with (out_dir / "alerts.jsonl").open("wb") as fh:
        for alert in result.alerts:
            fh.write(dump_event(alert) + b"\n")
    if labels is not None:
        from pipeline.evaluate import evaluate

        result.evaluation = evaluate(labels, [a.model_dump(mode="json") for a in result.alerts], config)
        (out_dir / "evaluation.json").write_bytes(orjson.dumps(result.evaluation, option=orjson.OPT_INDENT_2))
    if book is not None:
        result.reports = write_reports(book, [a.model_dump(mode="json") for a in result.alerts], out_dir, reports,
                                       on_report)
    (out_dir / "summary.json").write_bytes(orjson.dumps(result.summary(), option=orjson.OPT_INDENT_2))
    return result
