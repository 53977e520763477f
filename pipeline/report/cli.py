"""`cascadewatch report`: write one episode's report (HTML and PNG) from the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from pipeline.config import Settings
from pipeline.sinks.render import terminal_console

err = terminal_console(stderr=True)


def write_report(store, alert_id: str | None, out: Path) -> tuple[Path, Path]:
    """Write OUT/<alert_id>.html and .png for `alert_id` (None: the latest alert); returns both paths."""
    from pipeline.report.data import latest_alert_id, load_episode

    return write_episode(load_episode(store, alert_id or latest_alert_id(store)), out)


def write_episode(episode, out: Path, source: str | None = None) -> tuple[Path, Path]:
    """Write OUT/<alert_id>.html and .png for a loaded Episode; `source` names where its data came from."""
    from pipeline.report.chart import render
    from pipeline.report.page import STORE_SOURCE, page

    svg, png = render(episode)
    out.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in episode.alert_id)
    png_path, html_path = out / f"{safe}.png", out / f"{safe}.html"
    png_path.write_bytes(png)
    html_path.write_text(page(episode, svg, png_path.name, source or STORE_SOURCE), encoding="utf-8")
    return html_path, png_path


def report(
    alert_id: Annotated[Optional[str], typer.Argument(help="The alert to report (alert_id); see --latest")] = None,
    latest: Annotated[bool, typer.Option("--latest", help="Report the most recent alert (cascades first)")] = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for ALERT_ID.html and ALERT_ID.png")] = Path("reports"),
) -> None:
    """Write one episode as a self-contained HTML page (opens offline) and a PNG: price, net taker flow and
    long/short liquidations per minute, the deposit and every stage as markers, feed gaps, the evidence and
    the ETF context. Reads CLICKHOUSE_URL, so it works after the demo and on a production store."""
    from pipeline.report.data import ReportError
    from pipeline.sinks.clickhouse import open_store

    if bool(alert_id) == latest:
        err.print("[bold red]error:[/] give an ALERT_ID or --latest (one of them)", soft_wrap=True)
        raise typer.Exit(2)
    settings = Settings()
    try:
        store = open_store(settings.clickhouse_url)
        try:
            html_path, png_path = write_report(store, alert_id, out)
        finally:
            store.close()
    except ReportError as exc:
        err.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    except Exception as exc:  # noqa: BLE001 - store errors are shown as one message
        hint = ""
        if "does not exist" in str(exc) or "UNKNOWN_DATABASE" in str(exc) or "Code: 81" in str(exc):
            hint = " (nothing stored yet: run `cascadewatch schema apply`, or `scripts/demo`, and a worker first)"
        err.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}{hint}", soft_wrap=True)
        raise typer.Exit(1) from None
    Console(soft_wrap=True).print(f"report: {html_path}\nimage:  {png_path}")
