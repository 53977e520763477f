"""Score the detector on stress files (pipeline/scenarios/stress.py): short, cold-started files in
shapes and noise unlike the month simulator's. Prints one row per file that missed or falsely
alerted, then the totals: cascades found, false alerts (on calm files and elsewhere), and the median
and 90th percentile of the first alert's time after the burst's start.

Run: python bench/stress.py [--seeds 61-300] [--noise 1.0] [--size 1.0]
(--noise multiplies the background liquidation rate, --size the bursts' USD.)
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402
from rich.progress import track  # noqa: E402
from rich.table import Table  # noqa: E402

from pipeline.scenarios.backtest import parse_seeds  # noqa: E402
from pipeline.scenarios.stress import StressCase, score  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="61-300", help="seed list or range, e.g. 1-60 or 1,5,9")
    ap.add_argument("--noise", type=float, default=1.0, help="background liquidation rate multiplier")
    ap.add_argument("--size", type=float, default=1.0, help="burst size multiplier")
    args = ap.parse_args()
    out = Console(width=None if sys.stdout.isatty() else 200)
    seeds = parse_seeds(args.seeds)
    results = [score(StressCase.draw(s, noise=args.noise, size=args.size))
               for s in track(seeds, description="replaying stress files", console=Console(stderr=True),
                              disable=not sys.stderr.isatty())]
    table = Table("seed", "kind", "asset", "hours", "shape", "minutes", "burst $M", "found", "false", "alert kinds",
                  title="files that missed or falsely alerted")
    for r in results:
        if r.false_alerts or r.found is False:
            c = r.case
            table.add_row(str(c.seed), c.kind, c.asset, str(c.hours), c.shape, str(c.minutes),
                          f"{c.total_usd / 1e6:.1f}", str(r.found), str(r.false_alerts), ", ".join(r.kinds))
    out.print(table)
    pos = [r for r in results if r.found is not None]
    lat = sorted(r.latency_s for r in pos if r.found)
    calm = [r for r in results if r.found is None]
    out.print(f"files {len(results)} (noise x{args.noise}, size x{args.size}): cascades found {sum(r.found for r in pos)}"
              f" of {len(pos)}; false alerts {sum(r.false_alerts for r in results)}, of which on calm files "
              f"{sum(r.false_alerts for r in calm)} ({len(calm)} files, {sum(r.case.hours for r in calm) / 24:.1f} days)")
    if lat:
        out.print(f"latency after the burst start (event time): median {statistics.median(lat):.1f} s, "
                  f"p90 {lat[int(0.9 * (len(lat) - 1))]:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
