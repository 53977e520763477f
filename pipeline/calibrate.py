"""`cascadewatch calibrate`: what the detector would consider extreme, per asset, learned from history.

Replays the files through the detector exactly as `cascadewatch replay` does, then reads each
asset's learned level and the thresholds it gives (see docs/detection.md, "Learned floors").
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline.config import Settings
from pipeline.paths import output_file
from pipeline.detect import CascadeDetector, DetectorConfig
from pipeline.detect.thresholds import threshold
from pipeline.detect.config import MINUTE
from pipeline.detect.floors import key
from pipeline.sinks.render import terminal_console


def calibrate(events: list, config: DetectorConfig | None = None) -> list[dict]:
    """One row per asset with liquidations: history, level, and the threshold of each window."""
    det = CascadeDetector(config)
    cascades: dict[str, int] = {}
    for ev in events:
        for alert in det.feed(ev):
            if alert.stage == "cascade" and not alert.revision:
                cascades[alert.asset] = cascades.get(alert.asset, 0) + 1
    for alert in det.finish():
        if alert.stage == "cascade" and not alert.revision:
            cascades[alert.asset] = cascades.get(alert.asset, 0) + 1
    cfg, rows = det.cfg, []
    for asset, st in sorted(det.assets.items()):
        if st.floors is None or st.floors.minute is None:
            continue
        at = st.floors.minute
        levels, minutes = st.floors.level_at(at)
        row = {"asset": asset, "history_minutes": minutes, "level_usd": levels.get(key("usd", cfg.level_window_ms)),
               "cascades": cascades.get(asset, 0), "as_of_ts": at}
        for width, factor in cfg.windows():
            need, info = threshold(cfg, st, width, factor, at)
            w = width // MINUTE
            row[f"level_{w}m_usd"] = info["floor_level_usd"]
            row[f"threshold_{w}m_usd"] = round(need, 2)
            row[f"count_{w}m"] = info["count_needed"]
            row["floor_source"] = info["floor_source"]
            row["young_factor"] = info.get("young_factor", 1.0)
        rows.append(row)
    return rows


def calibrate_command(
    files: Annotated[list[Path], typer.Argument(help="Interchange files (JSON lines, any order); days of history "
                                                "give learned levels, less gives the cold-start fallbacks", exists=True,
                                                dir_okay=False)],
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per asset on stdout instead of a table")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Also write the rows as JSON here",
                                                callback=output_file)] = None,
) -> None:
    """Print, per asset, the cascade levels learned from history: for each window (5, 15 and 60 minutes)
    the level (the median over days of each day's extreme window sum of the asset's own long liquidations),
    the threshold (a multiple of it), how many liquidations the window must hold, and whether they are
    learned or still the cold-start fallback. A window at or above its threshold is a cascade."""
    from rich.progress import Progress

    from pipeline.replay import ReplayResult, load

    settings = Settings()
    err = terminal_console(stderr=True)
    loaded = ReplayResult()
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        bar.add_task("loading", total=None)
        events = load(files, loaded, max_bytes=settings.max_event_bytes)
    for bad in loaded.bad[:20]:
        err.print(f"[yellow]skipped[/] {escape(str(bad.path))}:{bad.line_no}: {escape(str(bad.error))}")
    if not events:
        err.print("[bold red]error:[/] no event could be read from " + ", ".join(escape(str(f)) for f in files))
        raise typer.Exit(1)
    with err.status(f"learning from {len(events):,} events..."):
        rows = calibrate(events, settings.detector)
    if out:
        out.write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2))
    if json_out:
        for row in rows:
            sys.stdout.buffer.write(orjson.dumps(row) + b"\n")
        return
    console = Console() if sys.stdout.isatty() else Console(width=200)  # whole lines when piped
    widths = [k.split("_")[1] for k in (rows[0] if rows else {}) if k.startswith("threshold_")]
    table = Table("asset", "history (h)", *[f"{w} window" for w in widths], "source", "cascades seen",
                  title="What the detector considers a cascade, per asset: threshold (level x factor), liquidations")
    m = lambda v: "-" if v is None else f"${v / 1e6:,.2f}M"  # noqa: E731
    for r in rows:
        cells = [f"{m(r[f'threshold_{w}_usd'])} ({m(r[f'level_{w}_usd'])} x), {r[f'count_{w}']}+ liqs" for w in widths]
        source = r["floor_source"] + (f", young x{r['young_factor']}" if r["young_factor"] > 1 else "")
        table.add_row(r["asset"], f"{r['history_minutes'] / 60:,.1f}", *cells, source, str(r["cascades"]))
    for column in table.columns:
        column.overflow = "fold"  # a narrow terminal wraps a cell's text rather than cutting it to "…"
    console.print(table)
