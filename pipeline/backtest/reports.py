"""The episode reports of a backtest: one HTML page and PNG per episode (as `cascadewatch report`
writes them), drawn from the backtest's own alerts and the per-minute data of its events, and an
index page linking them."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

from pipeline.report.book import MinuteBook, episode_stages, reported

SOURCE = "the backtest's own events (1-minute sums of its bars and liquidations)"


def write_reports(book: MinuteBook, alerts: list[dict], out_dir: Path, which: str = "cascades",
                  on_progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Write OUT/reports/<alert_id>.html|.png for the chosen episodes and OUT/reports/index.html;
    returns the pages written (none: no index either)."""
    from pipeline.report.cli import write_episode

    stages = episode_stages(alerts)
    ids = reported(stages, which)
    if not ids:
        return []
    folder = out_dir / "reports"
    pages: list[tuple[str, Path]] = []
    for n, alert_id in enumerate(ids):
        if on_progress is not None:
            on_progress(n, len(ids))
        html_path, _ = write_episode(book.episode(alert_id, stages[alert_id]), folder, SOURCE)
        pages.append((alert_id, html_path))
    if on_progress is not None:
        on_progress(len(ids), len(ids))
    (folder / "index.html").write_text(_index(pages, stages), encoding="utf-8")
    return [p for _, p in pages]


def _index(pages: list[tuple[str, Path]], stages) -> str:
    e = html.escape
    rows = []
    for alert_id, path in pages:
        last = stages[alert_id][-1]
        a = last.alert
        rows.append(f'<tr><td><a href="{e(path.name)}">{e(alert_id)}</a></td><td>{e(a["asset"])}</td>'
                    f'<td>{e(str(a.get("kind", "")))}</td><td>{e(last.stage)}</td><td>{e(last.severity)}</td>'
                    f"<td>{last.ts:%Y-%m-%d %H:%M:%S}Z</td></tr>")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>backtest episodes</title></head>"
            "<body><h1>Backtest episodes</h1><table id=\"episodes\"><tr><th>alert</th><th>asset</th><th>kind</th>"
            f"<th>last stage</th><th>severity</th><th>time</th></tr>{''.join(rows)}</table></body></html>\n")
