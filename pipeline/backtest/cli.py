"""`cascadewatch backtest`: replay the detector over recorded history in any supported file format,
with progress bars and rates, and write alerts, a summary, bad lines and an evaluation."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from pipeline.report.book import REPORT_STAGES


def parse_time(value: str) -> int:
    """Epoch ms from '2025-08-24', '2025-08-24T21:00[:00][Z]' (UTC) or a number of ms."""
    if value.isdigit():
        return int(value)
    text = value.strip().replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1]
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{value!r}: expected an ISO-8601 UTC time (2025-08-24 or 2025-08-24T21:00Z) "
                                 "or epoch milliseconds") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


class _Rate(ProgressColumn):
    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} {self.unit}/s", style="cyan")


def backtest(
    files: Annotated[list[Path], typer.Argument(
        help="Data files, any mix: venue messages (JSON, cryptofeed or tardis.dev raw lines), tardis.dev "
             "trades/liquidations CSV, Binance archive CSVs (aggTrades, trades, klines, liquidationSnapshot), "
             "cascadewatch interchange files (whale transfers, ETF flows); plain, .gz or .zip",
        exists=True, dir_okay=False, readable=True)],
    start: Annotated[Optional[str], typer.Option("--from", help="First event time kept (UTC ISO or epoch ms)")] = None,
    end: Annotated[Optional[str], typer.Option("--to", help="Events at or after this time are left out")] = None,
    out: Annotated[Path, typer.Option("--out", help="Directory for alerts.jsonl, summary.json, bad_lines.jsonl, "
                                                    "evaluation.json and reports/ (an HTML page and a PNG per "
                                                    "episode, and index.html)")] = Path("backtest-out"),
    reports: Annotated[str, typer.Option(
        help="Episode reports to write into OUT/reports: 'cascades' (episodes that reached a cascade), 'all' "
             "episodes, or 'none'")] = "cascades",
    labels: Annotated[Optional[Path], typer.Option(help="Labels (JSON lines, as `cascadewatch simulate` writes) "
                                                        "to score the alerts against", exists=True)] = None,
    venue: Annotated[Optional[str], typer.Option(
        help="Venue of message files whose name and content do not say")] = None,
    run_size: Annotated[int, typer.Option(min=1_000, help="Events per sorted run held in memory while sorting")] = 200_000,
) -> None:
    """Backtest on recorded history: detect each file's format, normalize it, sort all events by
    event time with bounded memory (sorted runs on disk, merged), replay the detector over them and
    write the alerts and a report page per episode (as `cascadewatch report` draws them, from the
    backtest's own events, no store needed). With --labels, also score them (as `cascadewatch evaluate`)."""
    from pipeline.backtest import backtest as run_backtest
    from pipeline.config import Settings
    from pipeline.sinks.render import alert_line
    from pipeline.sources.archives import FORMATS, detect
    from pipeline.sources.archives.files import ArchiveError

    err = Console(stderr=True) if sys.stderr.isatty() else Console(stderr=True, width=250)
    console = Console() if sys.stdout.isatty() else Console(width=250)
    start_ms = parse_time(start) if start else None
    end_ms = parse_time(end) if end else None
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        err.print("[bold red]error:[/] --to must be after --from")
        raise typer.Exit(2)
    if reports not in REPORT_STAGES:
        err.print(f"[bold red]error:[/] --reports {reports!r}: one of {', '.join(REPORT_STAGES)}")
        raise typer.Exit(2)
    try:
        sources = [detect(f, venue=venue) for f in files]
    except ArchiveError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        err.print(f"known formats: {', '.join(FORMATS)}")
        raise typer.Exit(2) from None
    label_rows = None
    if labels is not None:
        try:
            label_rows = [orjson.loads(x) for x in labels.read_bytes().splitlines() if x.strip()]
        except orjson.JSONDecodeError as exc:
            err.print(f"[bold red]error:[/] {labels}: not JSON lines: {exc}")
            raise typer.Exit(2) from None
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), _Rate("B"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=not err.is_terminal) as bars:
        def on_file(src):
            with src.path.open("rb") as fh:  # packed files report unpacked bytes: no total for them
                packed = fh.read(2) in (b"\x1f\x8b", b"PK")
            task = bars.add_task(f"{src.path.name} [{src.fmt}]", total=None if packed else src.path.stat().st_size)
            return lambda n: bars.update(task, completed=n)

        replay_task = None

        def on_replay(done, total):
            nonlocal replay_task
            if replay_task is None:
                replay_task = bars.add_task("replay (events)", total=total)
            bars.update(replay_task, completed=done)

        report_task = None

        def on_report(done, total):
            nonlocal report_task
            if report_task is None:
                report_task = bars.add_task("episode reports", total=total)
            bars.update(report_task, completed=done)

        result = run_backtest(sources, out, start_ms=start_ms, end_ms=end_ms, labels=label_rows,
                              config=Settings().detector, run_size=run_size, on_file=on_file, on_replay=on_replay,
                              reports=reports, on_report=on_report)
    table = Table("file", "format", "venue", "lines", "liquidations", "trades", "bars", "in window", "errors",
                  title="inputs")
    for f in result.files:
        st = f.stats
        table.add_row(Path(f.path).name, f.fmt, f.venue or "(per row)", f"{st.lines:,}", f"{st.liquidations:,}",
                      f"{st.trades:,}", f"{st.bars:,}", f"{f.in_window:,}", f"{st.errors:,}")
    console.print(table)
    for alert in result.alerts:
        console.print(alert_line(alert.model_dump(mode="json")), highlight=False)
    if result.evaluation is not None:
        ev = Table("alert kind", "episodes", "found", "false", "precision", "recall", title="evaluation")
        fmt = lambda v: "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))  # noqa: E731
        for r in result.evaluation["rows"]:
            ev.add_row(r["kind"], str(r["episodes"]), str(r["found"]), str(r["false_alerts"]), fmt(r["precision"]),
                       fmt(r["recall"]))
        console.print(ev)
    if result.reports:
        err.print(f"{len(result.reports)} episode report(s): {out / 'reports' / 'index.html'}")
    err.print(f"{result.events:,} events replayed from {result.runs} sorted run(s), {len(result.alerts)} alerts, "
              f"{result.bad_lines} bad lines (in {out / 'bad_lines.jsonl'}), {result.late} late, "
              f"{result.duplicates} duplicates; written to {out}/")
