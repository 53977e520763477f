"""Benchmark of `normalize` throughput, in input lines per second, for each trade format.

Input: the aggTrade messages of the real Binance futures recording (tests/data/exchange_samples,
2021-07-22, 4 symbols) repeated to --lines lines as time-shifted copies with fresh ids, written once
per format into a temporary directory:
  binance-aggtrades   the Binance archive CSV (one symbol per file, as Binance publishes it)
  tardis-trades       tardis.dev's normalized trades CSV (all four symbols)
  messages/cryptofeed `<epoch>: {"stream": ..., "data": {aggTrade}}` lines
  messages/tardis     `<ISO time> {"stream": ..., "data": {aggTrade}}` lines
Each file goes through the same code as `cascadewatch normalize FILE` (detect + normalize_file, the
event dicts are produced but not written), timed alone, best of --repeat runs, in wall time and in
this process's CPU time (the steadier figure when other work shares the cores; the load average
before and after is printed). Goal: 200k lines/s
for trades, so a day of BTCUSDT trades (a few million aggTrades) imports in well under a minute.

Run: python bench/normalize.py [--lines N] [--repeat R] [--profile FORMAT]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from pipeline.sources.archives import detect, normalize_file  # noqa: E402
from pipeline.sources.exchanges.normalize import NormalizeStats  # noqa: E402

RECORDING = ROOT / "tests" / "data" / "exchange_samples" / "cryptofeed_sessions" / "BINANCE_FUTURES.ws.1.0"


def recorded_aggtrades() -> list[tuple[float, dict]]:
    out = []
    for line in RECORDING.read_bytes().splitlines():
        if line.startswith(b"wss://"):
            continue
        stamp, _, body = line.partition(b": ")
        data = orjson.loads(body).get("data", {})
        if data.get("e") == "aggTrade":
            out.append((float(stamp), data))
    return out


def copies(n: int, squeeze: int):
    """n aggTrades: the recording repeated, each copy's times squeezed `squeeze`-fold toward its
    start (the recording's 3 trades/s become the ~100/s of a busy BTCUSDT day) and shifted past
    the previous copy, ids renumbered."""
    base = recorded_aggtrades()
    t0, r0 = base[0][1]["T"], base[0][0]
    span_ms = (base[-1][1]["T"] - t0) // squeeze + 1000
    i = 0
    while True:
        for k in range(len(base)):
            if i == n:
                return
            copy_no, (t, d) = i // len(base), base[k]
            shift = copy_no * span_ms
            ts = t0 + (d["T"] - t0) // squeeze + shift
            recv = r0 + (t - r0) / squeeze + shift / 1000
            yield recv, {**d, "a": d["a"] + copy_no * 10**6, "T": ts, "E": ts}
            i += 1


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def write_inputs(tmp: Path, n: int, squeeze: int) -> dict[str, Path]:
    paths = {"binance-aggtrades": tmp / "SUSHIUSDT-aggTrades-2021-07-22.csv",
             "tardis-trades": tmp / "binance-futures_trades_2021-07-22_ALL.csv",
             "messages/cryptofeed": tmp / "BINANCE_FUTURES.ws.1.0",
             "messages/tardis": tmp / "binance-futures_2021-07-22.log"}
    fh = {k: p.open("w") for k, p in paths.items()}
    fh["binance-aggtrades"].write("agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,"
                                  "is_buyer_maker\n")
    fh["tardis-trades"].write("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n")
    for t, d in copies(n, squeeze):
        # the Binance archive is one symbol per file: every row is written under SUSHIUSDT
        fh["binance-aggtrades"].write(f"{d['a']},{d['p']},{d['q']},{d['f']},{d['l']},{d['T']},{str(d['m']).lower()}\n")
        side = "sell" if d["m"] else "buy"
        fh["tardis-trades"].write(f"binance-futures,{d['s']},{d['T'] * 1000},{round(t * 1e6)},{d['a']},{side},"
                                  f"{d['p']},{d['q']}\n")
        msg = orjson.dumps({"stream": f"{d['s'].lower()}@aggTrade", "data": d}).decode()
        fh["messages/cryptofeed"].write(f"{t:.6f}: {msg}\n")
        fh["messages/tardis"].write(f"{iso(t)} {msg}\n")
    for f in fh.values():
        f.close()
    return paths


def run_once(path: Path) -> tuple[float, float, NormalizeStats]:
    """(wall seconds, CPU seconds of this process, stats). On a shared machine the CPU time is the
    steadier figure: it leaves out the time other processes held the core."""
    st = NormalizeStats()
    src = detect(path)
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in normalize_file(src, stats=st, now_ms=0):
        pass
    return time.perf_counter() - t0, time.process_time() - c0, st


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--squeeze", type=int, default=30, help="time compression of the recording (trade density)")
    ap.add_argument("--profile", help="profile one format (e.g. binance-aggtrades) and print the top functions")
    args = ap.parse_args()
    console = Console() if sys.stdout.isatty() else Console(width=200)  # whole cells when piped
    with tempfile.TemporaryDirectory() as tmp:
        console.print(f"writing {args.lines:,} lines per format ...")
        load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
        paths = write_inputs(Path(tmp), args.lines, args.squeeze)
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            run_once(paths[args.profile])
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(15)
            return
        table = Table(title=f"normalize throughput, {args.lines:,} trade lines, best of {args.repeat}")
        for col in ("format", "lines/s", "seconds", "lines/CPU-s", "trades", "bars", "errors", "goal 200k/s"):
            table.add_column(col, justify="right" if col not in ("format",) else "left")
        for name, path in paths.items():
            best, cpu, st = min((run_once(path) for _ in range(args.repeat)), key=lambda r: r[0])
            rate = args.lines / best
            table.add_row(name, f"{rate:,.0f}", f"{best:.2f}", f"{args.lines / cpu:,.0f}", f"{st.trades:,}",
                          f"{st.bars:,}", str(st.errors), "yes" if rate >= 200_000 else "no")
        console.print(table)
        console.print(f"load average before/after: {load_before} / {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
                      f"on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
