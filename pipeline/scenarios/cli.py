"""`simulate` and `evaluate` commands: labelled market simulations and scoring the detector on them.

Registered on the main app with: app.command("simulate")(simulate), app.command("evaluate")(evaluate)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console()
err = Console(stderr=True)


def _fail(msg: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {msg}")
    raise typer.Exit(code)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True, disable=not err.is_terminal)


def write_jsonl(path: Path, rows: list[dict], what: str) -> None:
    with _progress() as bar, open(path, "wb") as f:
        task = bar.add_task(f"writing {what}", total=len(rows))
        for i in range(0, len(rows), 20_000):
            f.write(b"".join(orjson.dumps(r) + b"\n" for r in rows[i:i + 20_000]))
            bar.advance(task, min(20_000, len(rows) - i))


def simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Events file to write (interchange JSON lines)")],
    labels: Annotated[Path, typer.Option(help="Ground-truth labels file to write (one JSON per episode)")],
    days: Annotated[int, typer.Option(help="Simulated days", min=1)] = 30,
    per_kind: Annotated[int, typer.Option(help="Episodes of each kind (30 days hold 30 of each)", min=0)] = 30,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files")] = 1,
    calm_days: Annotated[Optional[int], typer.Option(help="Whole days with no episode (default: a fifth of the days)",
                                                     min=0)] = None,
) -> None:
    """Write a labelled market simulation at the scale real feeds deliver (see docs/evaluation.md).

    Five assets (BTC, ETH, SOL, XRP, DOGE): one-minute taker-flow bars on binance-usdm, bybit and okx; bursty background liquidations (Binance's sampled to one per symbol per second); whale transfers for BTC and ETH; ETF flows.

    Episodes: whale cascades, deposits nobody sells, sells the market absorbs, cascades without a whale on any asset, short squeezes, exchange-internal transfers, small liquidation flurries, ETH cascades that follow BTC's (contagion); and calm days with none of them.
    """
    from pipeline.scenarios.simulate import KINDS, CapacityError, SimConfig, label_dicts
    from pipeline.scenarios.simulate import simulate as run_simulation

    cfg = SimConfig(days=days, per_kind=per_kind, seed=seed, calm_days=calm_days)
    try:
        with err.status(f"simulating {days} days..."):
            events, labs = run_simulation(cfg)
    except CapacityError as exc:
        _fail(str(exc))
    write_jsonl(out, events, "events")
    write_jsonl(labels, label_dicts(labs), "labels")
    console.print(f"{len(events):,} events -> {out}; {len(labs) - cfg.calm} episodes ({per_kind} of each of "
                  f"{len(KINDS)} kinds) and {cfg.calm} calm days -> {labels}")
