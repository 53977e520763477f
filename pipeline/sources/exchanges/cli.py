"""`cascadewatch normalize`: recorded exchange messages and archive files -> normalized JSON lines
(liquidations and taker-flow bars) on stdout, with bad lines reported on stderr."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import orjson
import typer

from pipeline.sources.archives.detect import FORMATS

from . import VENUES
from .normalize import ERROR_TYPE, NormalizeStats, normalize_lines

MAX_ERROR_LINES = 50


def normalize(
    file: Annotated[Optional[Path], typer.Argument(
        help="A data file: venue messages one per line (bare JSON, cryptofeed '<receive_time>: <json>', tardis.dev "
             "raw '<ISO time> <json>'), a tardis.dev trades/liquidations CSV, or a Binance archive CSV "
             "(aggTrades, trades, klines, liquidationSnapshot); plain, .gz or .zip. Reads messages from stdin "
             "when omitted (then --venue is required).",
        exists=True, dir_okay=False, readable=True)] = None,
    venue: Annotated[Optional[str], typer.Option(
        "--venue", help=f"One of: {', '.join(VENUES)}. Needed for messages when neither the file name nor "
                        "the messages tell it")] = None,
    fmt: Annotated[Optional[str], typer.Option(
        "--format", help=f"Skip detection: {', '.join(FORMATS)}")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary on stderr, not each bad line")] = False,
) -> None:
    """Normalize exchange data: liquidations and taker-flow bars (1 s from trades, the kline interval
    from klines) as JSON lines on stdout. The format is detected from the file's first lines and name.
    Unparseable or unknown lines are reported on stderr with a count at the end; the exit code is 0."""
    from pipeline.sources.archives import detect, normalize_file
    from pipeline.sources.archives.files import ArchiveError

    if venue is not None and venue not in VENUES:
        typer.echo(f"error: unknown venue {venue!r}; known: {', '.join(VENUES)}", err=True)
        raise typer.Exit(2)
    stats = NormalizeStats()
    progress = None
    if file is None:
        if venue is None:
            typer.echo("error: reading stdin needs --venue", err=True)
            raise typer.Exit(2)
        src = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else sys.stdin
        events = normalize_lines(venue, src, stats=stats)
        label = venue
    else:
        try:
            source = detect(file, fmt=fmt, venue=venue)
        except ArchiveError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        progress = _Progress(file) if sys.stderr.isatty() else None
        events = normalize_file(source, stats=stats, on_bytes=progress.update if progress else None)
        label = f"{file.name} ({source.fmt}{', ' + source.venue if source.venue else ''})"
    out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
    shown = 0
    for obj in events:
        if obj.get("type") == ERROR_TYPE:
            if not quiet and shown < MAX_ERROR_LINES:
                typer.echo(f"line {obj['line']}: {obj['reason']}: {obj['detail']}", err=True)
                shown += 1
            continue
        data = orjson.dumps(obj) + b"\n"
        if out is not None:
            out.write(data)
        else:
            sys.stdout.write(data.decode())
    if out is not None:
        out.flush()
    if progress is not None:
        progress.close()
    if stats.errors > shown and not quiet:
        typer.echo(f"... {stats.errors - shown} more bad lines not shown", err=True)
    typer.echo(f"{label}: {stats.summary()}", err=True)
    typer.echo(f"errors: {stats.errors}", err=True)


class _Progress:
    """A rich progress bar on stderr (a terminal only) with the bytes read and their rate."""

    def __init__(self, path: Path):
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeElapsedColumn, TransferSpeedColumn

        with path.open("rb") as fh:
            packed = fh.read(2) in (b"\x1f\x8b", b"PK")  # unpacked bytes are counted: no total then
        self.bar = Progress("{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                            TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        self.task = self.bar.add_task(path.name, total=None if packed else path.stat().st_size)
        self.bar.start()

    def update(self, n: int) -> None:
        self.bar.update(self.task, completed=n)

    def close(self) -> None:
        self.bar.stop()


normalize_app = typer.Typer(help="Normalize recorded exchange messages and archive files.", no_args_is_help=True)


@normalize_app.callback()
def _group() -> None:
    """Exchange connectors."""


normalize_app.command("normalize")(normalize)
