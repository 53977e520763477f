"""Independent market scenarios: score the detector on markets modelled apart from its own simulator.

Each seed is 4 days (--days) of BTC, ETH and SOL on binance-usdm, bybit and okx, written from the
event schemas and from how markets behave, not from the project's simulator. Every seed is built in
memory, replayed through a fresh detector (`pipeline.replay`, what `cascadewatch replay` runs) and
scored with `pipeline.evaluate.evaluate` (what `cascadewatch evaluate` runs).

\b
Market: per-second Student-t returns with BTC as the common factor, hourly volatility regimes times
  a time-of-day factor; one-minute trade_flow bars per venue, leverage (open interest, funding, mark)
  every minute; noise liquidations clustered, heavy tailed, more of them when the price moves against
  a side; background chain transfers (outflows, internal, other, modest inflows).
Episodes per seed:
  whale_cascade       4  a real exchange deposit ($60M-$2.5B on BTC, ETH x0.3), selling 0-25 min
                         after the block for 5-40 min, then a long cascade
  no_whale_cascade    4  a little selling, then a long cascade (BTC, ETH, SOL, SOL)
  contagion           2  a BTC cascade, then an ETH one 0-20 min after it began
  negatives              deposits nobody sells, selling that dip buyers absorb, short squeezes,
                         2-6 minute flurries of long liquidations, one calm UTC day
Cascades last 10-90 min in five shapes (spike_decay, grind_then_flush, double_dip, staircase,
slow_bleed); the worst hour liquidates $10M-$500M on BTC (ETH x0.5, SOL x0.11), the price falls with
the burst and retraces part of it. Feeds: binance-usdm keeps one liquidation per symbol and second,
events arrive late and reordered by up to 3 s, 0.3% are sent twice, transfers are seen 12-600 s
after their block, and each venue drops out for 5-15 min on most days.

Tables: per seed and alert kind (episodes, found, false alerts, precision, recall, median and p90
latency: first cascade alert minus burst start, event time), per kind over all seeds with the mean
and the worst seed, then every missed episode and every false alert.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Annotated

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
import typer
from _independent.build import build
from _independent.score import SeedScore, replay, score
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from pipeline.config import Settings
from pipeline.evaluate import POSITIVE, quantile
from pipeline.scenarios.backtest import parse_seeds

app = typer.Typer(add_completion=False, rich_markup_mode=None)
KINDS = ("whale_cascade", "liquidation_cascade", "contagion_cascade")


def _fmt(x: float | None, p: int = 0) -> str:
    return "-" if x is None else f"{x:.{p}f}"


def _musd(x: float | None) -> str:
    return "-" if x is None else f"{x / 1e6:.2f}"


def _table(title: str, *cols: str) -> Table:
    t = Table(title=title, title_justify="left")
    for c in cols:
        t.add_column(c, justify="left" if c in ("kind", "alert kind", "episode", "asset", "shape", "at", "during",
                                                "burst start", "alerts in window") else "right")
    return t


def seed_table(scores: list[SeedScore]) -> Table:
    t = _table("per seed", "seed", "alert kind", "episodes", "found", "false alerts", "precision", "recall",
               "median latency s", "p90 latency s")
    for s in scores:
        rows = [r for r in s.rows if r["kind"] in KINDS or r["episodes"] or r["false_alerts"]]
        for i, r in enumerate(rows):
            t.add_row(str(s.seed) if i == 0 else "", r["kind"], str(r["episodes"]), str(r["found"]),
                      str(r["false_alerts"]), _fmt(r["precision"], 3), _fmt(r["recall"], 3),
                      _fmt(r["median_latency_s"]), _fmt(r["p90_latency_s"]), end_section=i == len(rows) - 1)
    return t


def summary(scores: list[SeedScore]) -> list[dict]:
    """Per alert kind: totals, pooled precision and recall, means over seeds, and the worst seed
    (lowest recall, then most false alerts)."""
    out = []
    kinds = list(KINDS) + sorted({r["kind"] for s in scores for r in s.rows} - set(KINDS))
    for kind in kinds:
        rows = [(s.seed, r) for s in scores for r in s.rows if r["kind"] == kind]
        eps, found, false = (sum(r[k] for _, r in rows) for k in ("episodes", "found", "false_alerts"))
        lat = [f["latency_s"] for s in scores for f in s.found if POSITIVE[f["kind"]][0] == kind]
        seed, worst = min(rows, key=lambda sr: (sr[1]["recall"] if sr[1]["recall"] is not None else 2,
                                                -sr[1]["false_alerts"]))
        out.append({"kind": kind, "episodes": eps, "found": found, "false_alerts": false,
                    "precision": round(found / (found + false), 4) if found + false else None,
                    "recall": round(found / eps, 4) if eps else None,
                    "mean_precision": _mean(rows, "precision"), "mean_recall": _mean(rows, "recall"),
                    "median_latency_s": quantile(lat, 0.5), "p90_latency_s": quantile(lat, 0.9),
                    "worst_seed": seed, "worst_found": worst["found"], "worst_episodes": worst["episodes"],
                    "worst_false_alerts": worst["false_alerts"]})
    return out


def _mean(rows: list[tuple[int, dict]], key: str) -> float | None:
    vals = [r[key] for _, r in rows if r[key] is not None]
    return statistics.mean(vals) if vals else None


def summary_table(rows: list[dict], seeds: str) -> Table:
    t = _table(f"all seeds ({seeds}): totals, mean over seeds, worst seed (lowest recall, then most false alerts)",
               "alert kind", "episodes", "found", "false alerts", "precision", "recall", "mean precision",
               "mean recall", "median latency s", "p90 latency s", "worst seed", "worst found", "worst false")
    for r in rows:
        t.add_row(r["kind"], str(r["episodes"]), str(r["found"]), str(r["false_alerts"]), _fmt(r["precision"], 3),
                  _fmt(r["recall"], 3), _fmt(r["mean_precision"], 3), _fmt(r["mean_recall"], 3),
                  _fmt(r["median_latency_s"]), _fmt(r["p90_latency_s"]), str(r["worst_seed"]),
                  f"{r['worst_found']}/{r['worst_episodes']}", str(r["worst_false_alerts"]))
    return t


def missed_table(scores: list[SeedScore]) -> Table:
    t = _table("missed episodes", "seed", "episode", "kind", "asset", "shape", "minutes", "worst hour $M",
               "burst $M", "drop %", "deposit $M", "burst start", "alerts in window")
    for s in scores:
        for m in s.missed:
            t.add_row(str(m["seed"]), m["episode_id"], m["kind"], m["asset"], m["shape"] or "-",
                      str(m["minutes"] or "-"), _musd(m["worst_hour_usd"]), _musd(m["burst_usd"]),
                      _fmt(m["drop_pct"], 2), _musd(m["deposit_usd"]), m["burst_start"] or "-",
                      ", ".join(m["alerts_in_window"]) or "-")
    return t


def false_table(scores: list[SeedScore]) -> Table:
    t = _table("false alerts", "seed", "alert kind", "asset", "at", "long liquidations $M", "threshold $M", "during")
    for s in scores:
        for f in s.false_alerts:
            t.add_row(str(f["seed"]), f["kind"], f["asset"], f["at"], _musd(f["long_usd"]),
                      _musd(f["threshold_usd"]), f["during"])
    return t


def _write(out: Path, seed: int, sc, alerts: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"events-{seed}.jsonl", "w") as f:
        f.writelines(json.dumps(e, separators=(",", ":")) + "\n" for e in sc.events)
    with open(out / f"labels-{seed}.jsonl", "w") as f:
        f.writelines(json.dumps(lab) + "\n" for lab in sc.labels)
    (out / f"alerts-{seed}.jsonl").write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in alerts))


@app.command(help=__doc__)
def main(seeds: Annotated[str, typer.Option(help="Seeds, e.g. 1-15 or 1,3,9")] = "1-5",
         days: Annotated[int, typer.Option(min=2, help="Days per seed")] = 4,
         out: Annotated[Path | None, typer.Option(help="Also write events-SEED.jsonl, labels-SEED.jsonl and "
                                                  "alerts-SEED.jsonl here")] = None,
         json_out: Annotated[Path | None, typer.Option("--json", help="Write the scores, missed episodes and "
                                                        "false alerts as JSON here")] = None) -> None:
    """Build independent market scenarios, replay and score them; print tables per seed and per kind."""
    try:
        seed_list = parse_seeds(seeds)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    config = Settings().detector
    console = Console(width=None if sys.stdout.isatty() else 200)
    err = Console(stderr=True)
    scores: list[SeedScore] = []
    t0 = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("seeds", total=len(seed_list))
        for seed in seed_list:
            progress.update(task, description=f"seed {seed}: building")
            sc = build(seed, days)
            progress.update(task, description=f"seed {seed}: replaying {len(sc.events):,} events")
            alerts = replay(sc.events, config)
            s = score(sc, alerts, config)
            scores.append(s)
            if out:
                _write(out, seed, sc, alerts)
            progress.advance(task)
    elapsed = time.perf_counter() - t0
    rows = summary(scores)
    console.print(seed_table(scores))
    console.print(summary_table(rows, seeds))
    negatives: dict[str, list[int]] = {}
    for s in scores:
        for k, v in s.result["negatives"].items():
            n = negatives.setdefault(k, [0, 0])
            n[0], n[1] = n[0] + v["alerted"], n[1] + v["episodes"]
    console.print("negative episodes with a cascade alert: "
                  + ", ".join(f"{k} {a}/{e}" for k, (a, e) in negatives.items() if e))
    console.print(missed_table(scores))
    console.print(false_table(scores))
    found = sum(len(s.found) for s in scores)
    total = found + sum(len(s.missed) for s in scores)
    false = sum(len(s.false_alerts) for s in scores)
    console.print(f"found {found}/{total} episodes, {false} false alerts over {len(seed_list)} seed(s) of {days} "
                  f"days; {elapsed:.0f} s")
    if json_out:
        json_out.write_text(json.dumps({
            "seeds": seed_list, "days": days, "summary": rows, "seconds": round(elapsed, 1),
            "negatives": {k: {"alerted": a, "episodes": e} for k, (a, e) in negatives.items()},
            "per_seed": [{"seed": s.seed, "events": s.events, "alerts": len(s.alerts), "rows": s.rows,
                          "negatives": s.result["negatives"]} for s in scores],
            "found": [f for s in scores for f in s.found], "missed": [m for s in scores for m in s.missed],
            "false_alerts": [f for s in scores for f in s.false_alerts]}, indent=1, default=float))


if __name__ == "__main__":
    app()
