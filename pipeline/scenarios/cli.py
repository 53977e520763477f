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

from pipeline.paths import output_file
from pipeline.sinks.render import terminal_console

console = terminal_console()
err = terminal_console(stderr=True)


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
    out: Annotated[Path, typer.Option("--out", "-o", help="Events file to write (interchange JSON lines)",
                                      callback=output_file)],
    labels: Annotated[Path, typer.Option(help="Ground-truth labels file to write (one JSON per episode)",
                                         callback=output_file)],
    days: Annotated[int, typer.Option(help="Simulated days", min=1)] = 30,
    per_kind: Annotated[int, typer.Option(help="Episodes of each kind (30 days hold 30 of each)", min=0)] = 30,
    seed: Annotated[int, typer.Option(min=0, help="Random seed: same seed, same files")] = 1,
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


def _show(renderable) -> None:
    """Print to stdout; when piped, as wide as the table needs, so that no cell is cut."""
    if console.is_terminal or isinstance(renderable, str):
        for column in getattr(renderable, "columns", ()):
            column.overflow = "fold"  # a narrow terminal wraps a cell's text rather than cutting it to "…"
        console.print(renderable, soft_wrap=isinstance(renderable, str))
        return
    width = Console(width=100_000).measure(renderable).maximum
    Console(width=max(width, 40)).print(renderable)


def _fmt(v, p: int = 3) -> str:
    if v is None:
        return "-"
    return f"{v:.{p}f}" if isinstance(v, float) else str(v)


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"


def _rows_table(title: str, rows: list[dict], seed: bool = False):
    from rich.table import Table

    cols = ["alert kind", "episodes", "found", "false", "wrong kind", "precision", "recall", "false/day",
            "false/calm day", "median s", "p90 s", "wall median s", "wall p90 s", "burst done at alert"]
    table = Table(*(["seed"] if seed else []), *cols, title=title, title_justify="left")
    for r in rows:
        table.add_row(*([str(r["seed"])] if seed else []), r["kind"], str(r["episodes"]), str(r["found"]),
                      str(r["false_alerts"]), str(r["wrong_kind"]), _fmt(r["precision"]), _fmt(r["recall"]),
                      _fmt(r["false_alerts_per_day"]), _fmt(r["false_alerts_per_calm_day"]),
                      _fmt(r["median_latency_s"], 1), _fmt(r["p90_latency_s"], 1), _fmt(r["wall_median_latency_s"], 1),
                      _fmt(r["wall_p90_latency_s"], 1), _pct(r.get("median_share_at_alert")))
    return table


def _summary_table(summary: list[dict], seeds: list[int]):
    from rich.table import Table

    table = Table("alert kind", "episodes", "found", "false", "precision worst/mean", "recall worst/mean",
                  "false/day worst/mean", "false/calm day worst/mean", "median s worst/mean", "p90 s worst/mean",
                  "wall median s worst/mean", "burst done at alert worst/mean",
                  title=f"{len(seeds)} seeds ({_seed_text(seeds)}): worst seed / mean",
                  title_justify="left")
    pair = lambda r, m, p=3: f"{_fmt(r['worst_' + m], p)} / {_fmt(r['mean_' + m], p)}"  # noqa: E731
    for r in summary:
        table.add_row(r["kind"], str(r["episodes"]), str(r["found"]), str(r["false_alerts"]), pair(r, "precision"),
                      pair(r, "recall"), pair(r, "false_alerts_per_day"), pair(r, "false_alerts_per_calm_day"),
                      pair(r, "median_latency_s", 1), pair(r, "p90_latency_s", 1), pair(r, "wall_median_latency_s", 1),
                      f"{_pct(r.get('worst_median_share_at_alert'))} / {_pct(r.get('mean_median_share_at_alert'))}")
    return table


def _seed_text(seeds: list[int]) -> str:
    return f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 1 else \
        ",".join(map(str, seeds))


def evaluate(
    labels: Annotated[Optional[Path], typer.Option(help="Labels written by `cascadewatch simulate`", exists=True,
                                                   dir_okay=False)] = None,
    alerts: Annotated[Optional[Path], typer.Option(help="Alerts written by `cascadewatch replay --out`", exists=True,
                                                   dir_okay=False)] = None,
    seeds: Annotated[Optional[str], typer.Option(help="Instead of files: simulate, replay and score these seeds, "
                                                      "e.g. 1-5 or 1,3,9")] = None,
    days: Annotated[Optional[int], typer.Option(help="Simulated days: per seed with --seeds (default 30); with files, "
                                                     "overrides the whole UTC days the labels span", min=1)] = None,
    per_kind: Annotated[int, typer.Option(help="With --seeds: episodes of each kind per seed", min=0)] = 30,
    calm_days: Annotated[Optional[int], typer.Option(help="With --seeds: calm days per seed (default a fifth)",
                                                     min=0)] = None,
    delivery_ms: Annotated[int, typer.Option(help="Feed delivery delay added, with the watermark's lateness, to "
                                                  "event-time latency for the wall-clock columns", min=0)] = 500,
    bar_ms: Annotated[int, typer.Option(help="Trade-flow bar length added to the wall-clock columns too (the bar feed "
                                             "holds the watermark at its latest bar's start; the venue connectors "
                                             "close 1 s bars)", min=0)] = 1000,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the scores as JSON here",
                                                     callback=output_file)] = None,
) -> None:
    """Score the detector against simulated ground truth, per alert kind.

    Two modes. Files: --labels L --alerts A (from `simulate` and `replay`). Seeds: --seeds 1-5 [--days 30] simulates each seed, replays it in-process exactly as `cascadewatch replay` does, scores it, and prints a table per seed and one with the worst seed and the mean.

    Columns: precision, recall, false alerts per simulated day and per calm day (days with no episode), latency = first cascade alert minus burst start in event time (median, p90), and the wall-clock latency, which adds the exchange watermark's lateness (DetectorConfig.exchange_lateness_ms), --delivery-ms and one trade-flow bar (--bar-ms). An amended alert counts once, as the kind of its latest revision, at the time of its first. A baseline row alerts on every large deposit.
    """
    from pipeline.config import Settings
    from pipeline.evaluate import evaluate as score

    detector = Settings().detector
    if seeds is not None and (labels is not None or alerts is not None):
        _fail("give --seeds or --labels and --alerts, not both: --seeds simulates its own files")
    if json_out is not None and json_out.is_dir():
        _fail(f"--json {json_out} is a directory")
    if seeds is None:
        if labels is None or alerts is None:
            _fail("give --labels and --alerts (files from `simulate` and `replay`), or --seeds (e.g. --seeds 1-5)")
        try:
            labs = [orjson.loads(x) for x in labels.read_bytes().splitlines() if x.strip()]
            alts = [orjson.loads(x) for x in alerts.read_bytes().splitlines() if x.strip()]
            if not labs:
                _fail(f"{labels} holds no labels")
            result = score(labs, alts, detector, days=days, delivery_ms=delivery_ms, bar_ms=bar_ms)
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            _fail(f"cannot read labels/alerts ({type(exc).__name__}: {exc}); are these files from `simulate` and "
                  f"`replay`?")
        _show(_rows_table(f"{result['days']} simulated days, {result['calm_days']} calm", result["rows"]))
        _show(_negatives_line(result))
        _show(_leverage_table(result["leverage"]))
        if json_out:
            json_out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
        return

    from pipeline.runtime.gc_tuning import tune_gc
    from pipeline.scenarios.backtest import parse_seeds, score_seed, summarize

    tune_gc()

    days = days or 30
    from pipeline.scenarios.simulate import CapacityError, SimConfig

    try:
        seed_list = parse_seeds(seeds)
    except ValueError as exc:
        _fail(str(exc))
    per_seed = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as bar:
        overall = bar.add_task("seeds", total=len(seed_list))
        for s in seed_list:
            step = bar.add_task(f"seed {s}: simulating", total=None)

            def progress(stage: str, done: int, total: int, step=step, s=s) -> None:
                bar.update(step, description=f"seed {s}: {stage}", completed=done, total=total)

            try:
                per_seed.append(score_seed(SimConfig(days=days, per_kind=per_kind, seed=s, calm_days=calm_days),
                                           detector, delivery_ms, progress, bar_ms))
            except CapacityError as exc:
                _fail(str(exc))
            bar.remove_task(step)
            bar.advance(overall)
            err.print(f"seed {s}: {per_seed[-1]['events']:,} events simulated in {per_seed[-1]['simulate_s']} s, "
                      f"replayed in {per_seed[-1]['replay_s']} s, {per_seed[-1]['alerts']} alerts")
    rows = [{**r, "seed": s["seed"]} for s in per_seed for r in s["rows"]]
    _show(_rows_table(f"per seed ({days} days each)", rows, seed=True))
    summary = summarize(per_seed)
    _show(_summary_table(summary, seed_list))
    negatives = {k: {"episodes": sum(s["negatives"][k]["episodes"] for s in per_seed),
                     "alerted": sum(s["negatives"][k]["alerted"] for s in per_seed)} for k in per_seed[0]["negatives"]}
    _show(_negatives_line({"negatives": negatives}) + " (all seeds)")
    _show(_leverage_table([{**r, "seed": s["seed"]} for s in per_seed for r in s["leverage"]], seed=True))
    if json_out:
        json_out.write_bytes(orjson.dumps({"seeds": seed_list, "summary": summary, "negatives": negatives,
                                           "per_seed": per_seed}, option=orjson.OPT_INDENT_2))


def _leverage_table(rows: list[dict], seed: bool = False):
    """Leverage context of the true cascade alerts against the false ones (pipeline/evaluate_leverage.py)."""
    from rich.table import Table

    table = Table(*(["seed"] if seed else []), "alerts", "n", "with context", "loaded", "unloaded", "building",
                  "OI pct (median)", "funding z (median)", "OI 24h % (median)", "flush % (median)",
                  title="leverage context: does it separate cascades from look-alikes?", title_justify="left")
    fmt = (lambda v: "-" if v is None else f"{v:g}")
    for r in rows:
        table.add_row(*([str(r["seed"])] if seed else []), r["group"], str(r["alerts"]), str(r["with_context"]),
                      fmt(r["loaded_share"]), fmt(r["unloaded_share"]), fmt(r["building_share"]),
                      fmt(r["median_oi_percentile"]), fmt(r["median_funding_z"]), fmt(r["median_oi_change_24h_pct"]),
                      fmt(r["median_flush_pct"]))
    return table


def _negatives_line(result: dict) -> str:
    parts = [f"{k} {v['alerted']}/{v['episodes']}" for k, v in result["negatives"].items() if v["episodes"]]
    return "negative episodes with a cascade alert: " + (", ".join(parts) if parts else "none labelled")
