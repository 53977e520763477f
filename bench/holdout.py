"""Hold-out market scenarios: score the detector on files written apart from its own simulator.

For each seed, every family below gets --files files (6 h to 3 days, so most runs start cold), each
replayed through a fresh detector (`pipeline.replay`, what `cascadewatch replay` runs) and scored
with `pipeline.evaluate.evaluate` (what `cascadewatch evaluate --labels --alerts` runs):

\b
  eth_whale_late_sell  ETH deposit, selling 10-25 min later for ~20 min, then a long cascade
  btc_whale            BTC deposit, selling 0-28 min later for 5-40 min, then a long cascade
  eth_only_cascade     a long cascade on ETH alone
  small_asset_cascade  a long cascade on SOL, XRP or DOGE alone
  btc_no_whale         a BTC flash crash with no deposit
  contagion            a BTC cascade, then an ETH one 0-20 min after it began
  calm                 1-3 whole UTC days of noise (calm_day labels)
  deposit_no_sell      a large inflow nobody sells (one in three an exchange-internal move)
  sell_absorbed        inflow and selling that dip buyers absorb, no cascade
  short_squeeze        shorts liquidated at cascade sizes as the price spikes
  small_flurry         a 2-8 minute flurry of long liquidations ($1-5M on BTC, scaled)

Cascades last 10-90 min in six shapes (ramp, decay, surges, bleed then crash, crash in the first
minute, plateau); hourly sizes follow the feeds (BTC $10-200M, one in ten up to 7.5x that). Binance
keeps one liquidation per symbol and second, OKX part of them; clocks are skewed, arrival delayed
and reordered, 0.5% of messages duplicated, and a venue drops out for 5-15 min in 3 files of 10.

Table per family: files, hours, episodes, found, false alerts (cascade alerts that found no episode,
negatives' alerts included), median and p90 latency (first cascade alert minus burst start, event
time), and per seed the totals with the worst seed marked. --cases DIR writes cases-SEED.json with
each missed episode and false alert and what is needed to diagnose it.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pydantic import ValidationError
import orjson
import typer
from _holdout.build import build
from _holdout.families import FAMILIES, POSITIVE_FAMILIES
from _holdout.score import FamilyScore, score_file
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from pipeline.contracts.models import dump_event
from pipeline.evaluate import quantile
from pipeline.detect import DetectorConfig
from pipeline.replay import replay_files

app = typer.Typer(add_completion=False, rich_markup_mode=None)


def parse_seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            out += list(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            raise typer.BadParameter(f"{text!r}: give seeds as 1-10 or 1,3,9") from None
    if not out:
        raise typer.BadParameter("no seeds")
    return out


def run_seed(seed: int, files: int, out: Path, progress: Progress, task,
             config: DetectorConfig | None = None) -> tuple[dict[str, FamilyScore], dict[str, list]]:
    scores = {f: FamilyScore() for f in FAMILIES}
    cases: dict[str, list] = {"missed": [], "false_alerts": [], "found": []}
    labels: list[dict] = []
    for slot_base, family in enumerate(FAMILIES):
        for i in range(files):
            case = build(family, seed, slot_base * files + i, i)
            path = out / f"seed{seed}" / f"{case.name}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"".join(orjson.dumps(ev) + b"\n" for ev in case.events))
            result = replay_files([path], config)
            if result.bad:
                raise RuntimeError(f"{path}: {len(result.bad)} lines rejected, first: {result.bad[0].error}")
            alerts = [orjson.loads(dump_event(a)) for a in result.alerts]
            (path.with_suffix(".alerts.jsonl")).write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in alerts))
            score_file(case, alerts, scores[family], cases)
            labels += case.labels
            progress.advance(task)
    (out / f"seed{seed}" / "labels.jsonl").write_bytes(b"".join(orjson.dumps(lab) + b"\n" for lab in labels))
    return scores, cases


def kind_table(fams: dict[str, FamilyScore], per_seed: dict[int, dict[str, FamilyScore]]) -> Table:
    """evaluate's own rows per alert kind, summed over every file, with the worst seed's recall."""
    pooled = FamilyScore()
    for s in fams.values():
        pooled.add_rows([{"kind": k, **v} for k, v in s.kinds.items()])
    t = Table(title="per alert kind (evaluate's rows, all files)")
    for col in ("kind", "episodes", "found", "false alerts", "wrong kind", "precision", "recall", "worst seed recall"):
        t.add_column(col, justify="left" if col == "kind" else "right")
    for kind, k in pooled.kinds.items():
        called = k["found"] + k["false_alerts"]
        worst = []
        for scores in per_seed.values():
            one = FamilyScore()
            for s in scores.values():
                one.add_rows([{"kind": kk, **v} for kk, v in s.kinds.items()])
            row = one.kinds.get(kind)
            if row and row["episodes"]:
                worst.append(row["found"] / row["episodes"])
        t.add_row(kind, str(k["episodes"]), str(k["found"]), str(k["false_alerts"]), str(k["wrong_kind"]),
                  _fmt(k["found"] / called if called else None, 3), _fmt(k["found"] / k["episodes"] if k["episodes"] else None, 3),
                  _fmt(min(worst) if worst else None, 3))
    return t


def _config(settings: list[str]) -> DetectorConfig:
    over = {}
    for item in settings:
        name, eq, value = item.partition("=")
        if not eq:
            raise typer.BadParameter(f"{item!r}: give a setting as NAME=JSON")
        try:
            over[name.strip()] = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise typer.BadParameter(f"{item!r}: the value is not JSON") from None
    try:
        return DetectorConfig(**over)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from None


def _fmt(x: float | None, p: int = 0) -> str:
    return "-" if x is None else f"{x:.{p}f}"


@app.command(help=__doc__)
def main(seeds: Annotated[str, typer.Option(help="Seeds, e.g. 1-10 or 1,3,9")] = "1-10",
         files: Annotated[int, typer.Option(min=1, help="Files per family and seed")] = 2,
         out: Annotated[Path | None, typer.Option(help="Keep the files here: seedN/FAMILY-I.jsonl, its "
                                                  ".alerts.jsonl and seedN/labels.jsonl (default: a temporary dir)")] = None,
         cases: Annotated[Path | None, typer.Option(help="Write cases-SEED.json here: every missed episode and false "
                                                    "alert with what diagnosis needs, and each found episode's latency")] = None,
         json_out: Annotated[Path | None, typer.Option("--json", help="Also write the tables as JSON here")] = None,
         settings: Annotated[list[str] | None, typer.Option("--set", help="A detector setting for this run, as "
                                                             "NAME=JSON, e.g. --set floor_factor=12 (repeatable)")] = None) -> None:
    """Generate hold-out market scenarios, replay and score them; print a table per family and per seed."""
    seed_list = parse_seeds(seeds)
    config = _config(settings or [])
    console = Console(width=None if sys.stdout.isatty() else 200)
    tmp = None if out else tempfile.TemporaryDirectory(prefix="holdout-")
    root = out or Path(tmp.name)
    per_seed: dict[int, dict[str, FamilyScore]] = {}
    t0 = time.perf_counter()
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("hold-out files", total=len(seed_list) * len(FAMILIES) * files)
        for seed in seed_list:
            per_seed[seed], found_cases = run_seed(seed, files, root, progress, task, config)
            if cases:
                cases.mkdir(parents=True, exist_ok=True)
                (cases / f"cases-{seed}.json").write_text(json.dumps(found_cases, indent=1, default=str))
    elapsed = time.perf_counter() - t0
    fams = {f: FamilyScore() for f in FAMILIES}
    for scores in per_seed.values():
        for f, s in scores.items():
            t = fams[f]
            t.files += s.files
            t.hours += s.hours
            t.episodes += s.episodes
            t.found += s.found
            t.false_alerts += s.false_alerts
            t.negatives_alerted += s.negatives_alerted
            t.calm_days += s.calm_days
            t.latency_s += s.latency_s
            t.add_rows([{"kind": k, **v} for k, v in s.kinds.items()])
    table = Table(title=f"hold-out scenarios, seeds {seeds}, {files} file(s) per family and seed")
    for col in ("family", "files", "hours", "episodes", "found", "false alerts", "median latency s", "p90 latency s"):
        table.add_column(col, justify="left" if col == "family" else "right", overflow="fold")
    rows = []
    for f, s in fams.items():
        med, p90 = quantile(s.latency_s, 0.5), quantile(s.latency_s, 0.9)
        false = f"{s.false_alerts}" + (f" ({s.false_alerts / s.calm_days:.2f}/calm day)" if s.calm_days else "")
        table.add_row(f, str(s.files), f"{s.hours:.0f}", str(s.episodes) if f in POSITIVE_FAMILIES else "-",
                      str(s.found) if f in POSITIVE_FAMILIES else "-", false, _fmt(med), _fmt(p90))
        rows.append({"family": f, "files": s.files, "hours": round(s.hours, 1), "episodes": s.episodes,
                     "found": s.found, "false_alerts": s.false_alerts, "calm_days": s.calm_days,
                     "negatives_alerted": s.negatives_alerted, "median_latency_s": med, "p90_latency_s": p90})
    console.print(table)
    console.print(kind_table(fams, per_seed))
    seed_rows = []
    for seed, scores in per_seed.items():
        eps = sum(s.episodes for s in scores.values())
        found = sum(s.found for s in scores.values())
        false = sum(s.false_alerts for s in scores.values())
        lat = [x for s in scores.values() for x in s.latency_s]
        f1 = 2 * found / (eps + found + false) if eps else 0.0  # F1 of found episodes against alerts
        seed_rows.append({"seed": seed, "episodes": eps, "found": found, "false_alerts": false, "f1": round(f1, 3),
                          "median_latency_s": quantile(lat, 0.5), "p90_latency_s": quantile(lat, 0.9)})
    worst = min(seed_rows, key=lambda r: (r["f1"], -(r["median_latency_s"] or 1e9)))
    st = Table(title="per seed (worst: lowest F1 of found episodes against false alerts)")
    for col in ("seed", "episodes", "found", "false alerts", "F1", "median latency s", "p90 latency s"):
        st.add_column(col, justify="right")
    for r in seed_rows:
        mark = " (worst)" if r is worst else ""
        st.add_row(f"{r['seed']}{mark}", str(r["episodes"]), str(r["found"]), str(r["false_alerts"]), f"{r['f1']:.3f}",
                   _fmt(r["median_latency_s"]), _fmt(r["p90_latency_s"]))
    console.print(st)
    console.print(f"recall {sum(r['found'] for r in seed_rows)}/{sum(r['episodes'] for r in seed_rows)}, "
                  f"mean F1 {statistics.mean(r['f1'] for r in seed_rows):.3f}, worst seed {worst['seed']}; "
                  f"{elapsed:.0f} s for {len(seed_list)} seed(s)")
    if json_out:
        json_out.write_text(json.dumps({"families": rows, "seeds": seed_rows, "worst_seed": worst["seed"],
                                        "seconds": round(elapsed, 1)}, indent=1))
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    app()
