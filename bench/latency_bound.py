"""How soon could any size test call these bursts? The detector's latency next to a hindsight bound.

A cascade test on window sums of long liquidations calls a burst once one of its windows is larger
than anything the asset's ordinary market produces. This bench replays simulated months (the same
files as `cascadewatch evaluate`) and, for each cascade burst, finds the first moment at which a
window of 1, 5, 15 or 60 minutes ending then holds more long liquidations (as delivered: Binance
sampled, duplicates removed) than every window of the same width anywhere else on that asset within
--horizon hours either side that does not overlap a cascade burst. Flurries, short squeezes and the
noise all count as "elsewhere": they must not alert.

That oracle knows the noise to come and sets its thresholds per burst, just above the largest
ordinary window nearby: no detector that uses liquidation sizes alone and raises no false alert in
those hours can be sooner. Latency is measured from the burst's start (event time), in --step-s
steps. A burst the oracle never separates from the ordinary windows is counted as not separable.

Printed per kind and per burst shape: the detector's median latency over the bursts it found (first
cascade alert, as `evaluate` scores it), the oracle's median over all bursts (one it cannot separate
counts as never), and how many bursts the oracle calls within 60 s.

Run: python bench/latency_bound.py [--seeds 1-5] [--days 30] [--horizon 24]
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Annotated

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import orjson  # noqa: E402
import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import track  # noqa: E402
from rich.table import Table  # noqa: E402

from pipeline.contracts.models import event_from_dict  # noqa: E402
from pipeline.evaluate import POSITIVE, cascade_calls, match  # noqa: E402
from pipeline.replay import run  # noqa: E402
from pipeline.scenarios.backtest import parse_seeds  # noqa: E402
from pipeline.scenarios.simulate import SimConfig, label_dicts, simulate  # noqa: E402

WIDTHS_MIN = (1, 5, 15, 60)
CASCADE_KINDS = ("whale_cascade", "no_whale_cascade", "contagion_cascade")

app = typer.Typer(add_completion=False, rich_markup_mode=None)


def long_series(raw: list[dict], start_ms: int, steps: int, step_ms: int) -> dict[str, np.ndarray]:
    """asset -> long liquidation USD per step, as delivered (each event id once)."""
    out: dict[str, np.ndarray] = {}
    seen: set[str] = set()
    for e in raw:
        if e.get("type") != "liquidation" or e["side"] != "long" or e["event_id"] in seen:
            continue
        seen.add(e["event_id"])
        i = (e["ts"] - start_ms) // step_ms
        if 0 <= i < steps:
            arr = out.get(e["asset"])
            if arr is None:
                arr = out[e["asset"]] = np.zeros(steps)
            arr[i] += e["notional_usd"]
    return out


def oracle_latencies(series: np.ndarray, bursts: list[tuple[int, int]], step_ms: int,
                     horizon_steps: int) -> list[float | None]:
    """For each burst (first step, last step): seconds from its start to the end of the first step at
    which some window exceeds every clean window of its width within the horizon; None if none does."""
    steps = len(series)
    csum = np.concatenate(([0.0], np.cumsum(series)))
    dirty = np.zeros(steps + 1, dtype=np.int64)  # prefix count of burst steps
    inside = np.zeros(steps, dtype=bool)
    for b0, b1 in bursts:
        inside[max(0, b0):min(steps, b1 + 1)] = True
    dirty[1:] = np.cumsum(inside)
    idx = np.arange(steps)
    sums, clean = {}, {}
    for minutes in WIDTHS_MIN:
        w = max(1, minutes * 60_000 // step_ms)
        lo = np.maximum(0, idx + 1 - w)
        sums[w] = csum[idx + 1] - csum[lo]
        clean[w] = (dirty[idx + 1] - dirty[lo]) == 0
    out: list[float | None] = []
    for b0, b1 in bursts:
        h0, h1 = max(0, b0 - horizon_steps), min(steps, b1 + 1 + horizon_steps)
        first = None
        for w, s in sums.items():
            c = clean[w][h0:h1]
            bar = float(s[h0:h1][c].max()) if c.any() else 0.0
            above = np.nonzero(s[b0:min(steps, b1 + 1)] > bar)[0]
            if above.size and (first is None or above[0] < first):
                first = int(above[0])
        out.append(None if first is None else (first + 1) * step_ms / 1000)
    return out


def one_seed(seed: int, days: int, per_kind: int, step_ms: int, horizon_h: float) -> list[dict]:
    sim = SimConfig(seed=seed, days=days, per_kind=per_kind)
    raw, labels = simulate(sim)
    labs = label_dicts(labels)
    steps = days * 86_400_000 // step_ms
    series = long_series(raw, sim.start_ms, steps, step_ms)
    # The detector: replayed as `cascadewatch replay` does, scored as `evaluate` matches alerts.
    result = run(sorted((event_from_dict(e) for e in raw), key=lambda e: e.ts))
    alerts = [orjson.loads(orjson.dumps(a.model_dump(mode="json"))) for a in result.alerts]
    calls = cascade_calls(alerts)
    hits = {lab["episode_id"]: hit for lab, hit in zip(labs, match(labs, calls))}
    cascades = [lab for lab in labs if lab["kind"] in CASCADE_KINDS and lab.get("burst_start_ts") is not None]
    rows = []
    for asset in sorted({lab["asset"] for lab in cascades}):
        mine = [lab for lab in cascades if lab["asset"] == asset]
        spans = [((lab["burst_start_ts"] - sim.start_ms) // step_ms, (lab["burst_end_ts"] - sim.start_ms) // step_ms)
                 for lab in mine]
        bound = oracle_latencies(series.get(asset, np.zeros(steps)), spans, step_ms,
                                 int(horizon_h * 3_600_000 // step_ms))
        for lab, oracle in zip(mine, bound):
            hit = hits[lab["episode_id"]]
            found = None if hit is None else (calls[hit].ts - lab["burst_start_ts"]) / 1000
            rows.append({"seed": seed, "kind": lab["kind"], "shape": lab["shape"], "detector_s": found,
                         "oracle_s": oracle})
    return rows


def _median(xs: list[float]) -> str:
    if not xs:
        return "-"
    med = statistics.median(xs)
    return "never" if med == float("inf") else f"{med:.0f}"


@app.command()
def main(seeds: Annotated[str, typer.Option(help="Seeds, e.g. 1-5 or 1,3")] = "1-5",
         days: Annotated[int, typer.Option(help="Days per simulated file")] = 30,
         per_kind: Annotated[int, typer.Option(help="Episodes of each kind per file")] = 30,
         horizon: Annotated[float, typer.Option(help="Hours either side of a burst whose ordinary windows the "
                                                     "oracle stays above")] = 24.0,
         step_s: Annotated[int, typer.Option(help="Time step of the oracle's windows, seconds")] = 5) -> None:
    """Median latency of the detector and of a hindsight oracle, per cascade kind and burst shape."""
    out = Console(width=None if sys.stdout.isatty() else 200)
    rows: list[dict] = []
    for seed in track(parse_seeds(seeds), description="simulating and replaying", console=Console(stderr=True),
                      disable=not sys.stderr.isatty()):
        rows += one_seed(seed, days, per_kind, step_s * 1000, horizon)
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        groups[(POSITIVE[r["kind"]][0], r["shape"])].append(r)
        groups[(POSITIVE[r["kind"]][0], "all")].append(r)
    table = Table("alert kind", "shape", "bursts", "detector found", "detector median s", "oracle median s",
                  "oracle within 60 s", "not separable",
                  title=f"latency after the burst's start, seeds {seeds}, {days} days, oracle horizon ±{horizon:g} h")
    for (kind, shape), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] != "all", kv[0][1])):
        det = [r["detector_s"] for r in rs if r["detector_s"] is not None]
        orc = [float("inf") if r["oracle_s"] is None else r["oracle_s"] for r in rs]  # never: last
        table.add_row(kind, shape, str(len(rs)), str(len(det)), _median(det), _median(orc),
                      str(sum(o <= 60 for o in orc)), str(sum(o == float("inf") for o in orc)))
    out.print(table)


if __name__ == "__main__":
    app()
