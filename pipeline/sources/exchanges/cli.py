"""`cascadewatch normalize`: recorded exchange messages -> normalized JSON lines.

The lead mounts it with:  from pipeline.sources.exchanges.cli import normalize
                          app.command("normalize")(normalize)
`normalize_app` is the same command as a standalone Typer app.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import orjson
import typer

from . import VENUES
from .normalize import ERROR_TYPE, NormalizeStats, normalize_lines

MAX_ERROR_LINES = 50


def normalize(
    venue: Annotated[str, typer.Option("--venue", help=f"One of: {', '.join(VENUES)}")],
    file: Annotated[Optional[Path], typer.Argument(help="Recorded messages, one per line: raw JSON or cryptofeed "
                                                         "'<receive_time>: <json>'. Reads stdin when omitted.",
                                                    exists=True, dir_okay=False, readable=True)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary on stderr, not each bad line")] = False,
) -> None:
    """Normalize exchange messages: liquidations and 1-second trade_flow bars as JSON lines on stdout.
    Unparseable or unknown lines are reported on stderr with a count at the end; the exit code is 0."""
    if venue not in VENUES:
        typer.echo(f"error: unknown venue {venue!r}; known: {', '.join(VENUES)}", err=True)
        raise typer.Exit(2)
    stats = NormalizeStats()
    out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
    shown = 0

    def lines():
        if file is None:
            src = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else sys.stdin
            yield from src
        else:
            with file.open("rb") as fh:
                yield from fh

    for obj in normalize_lines(venue, lines(), stats=stats):
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
    if stats.errors > shown and not quiet:
        typer.echo(f"... {stats.errors - shown} more bad lines not shown", err=True)
    typer.echo(f"{venue}: {stats.summary()}", err=True)
    typer.echo(f"errors: {stats.errors}", err=True)


normalize_app = typer.Typer(help="Normalize recorded exchange messages.", no_args_is_help=True)


@normalize_app.callback()
def _group() -> None:
    """Exchange connectors."""


normalize_app.command("normalize")(normalize)
