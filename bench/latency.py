"""Alert latency under a live load on one embedded Tansu broker, with the real worker.

The load is produced live, stamped with the wall clock as event time (as a venue connector would):
10 assets (BTC, ETH and eight others), 1-second trade-flow bars from three venues each and small
liquidations of both sides, about --rate events/s in all (default 1,000); after --warmup seconds a
burst of --burst-rate events/s (default 10,000) for --burst seconds (default 60) in which long
liquidations pile up so that each asset crosses its cold-start cascade floor at a different time
(BTC at 1/11 of the burst, the others 1/11 apart); then the steady load again for --cooldown seconds.
Events go out through the project's Publisher in batch envelopes (--single: one event per message)
that linger at most CASCADEWATCH_BATCH__LINGER_S (0.25 s).

For every first publication of an alert (revision 0), the latency is the wall time from producing
the event that decided it (the alert's `ts` is that event's time, and event time is production
time here) to the alert's arrival on the alert topic. p50/p99/max are printed next to the
watermark's lateness (the detector publishes a decision once the feeds are that far past it), with
the goal p99 <= lateness + 2 s. The worker's lag (messages on the input topics not yet committed)
is sampled every second; its series and whether it grew during the burst are printed.

Run: python bench/latency.py [--rate 1000] [--burst-rate 10000] [--burst 60] [--warmup 30] [--cooldown 30] [--single] [--sink]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402
from kafka import KafkaConsumer, TopicPartition  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from _probe import LagProbe, die_with_parent, proc_status_kib, stop_process, tail  # noqa: E402
from pipeline.config import BatchConfig, Settings  # noqa: E402
from pipeline.runtime.broker import EmbeddedBroker  # noqa: E402
from pipeline.runtime.topics import ensure_topics  # noqa: E402
from pipeline.wire.producer import Publisher  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ASSETS = ["BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "AVAX", "LINK", "LTC", "DOT"]
VENUES = ["binance-usdm", "bybit", "okx"]
PRICE = {a: 100.0 * (i + 1) for i, a in enumerate(ASSETS)}
TICK_S = 0.01


class Load:
    """Events for one tick of wall time: bars once a second per venue and asset, liquidations for the rest."""

    def __init__(self, floors: dict[str, float], burst_s: float):
        self.seq = itertools.count()
        self.last_bar_s = -1
        self.last_ms = 0
        self.carry = 0.0
        # long USD per second that brings asset i to 1.3x its cold-start floor (5-minute window) at
        # (i + 1) / 11 of the burst: the assets' cascades are decided one after the other through it
        step = burst_s / (len(ASSETS) + 1)
        self.burst_usd_s = {a: 1.3 * floors[a] / ((i + 1) * step) for i, a in enumerate(ASSETS)}
        self.burst_s = burst_s

    def tick(self, now_ms: int, rate: float, burst: bool) -> list[dict]:
        """The events due since the last tick: `rate` per second, and in a burst the long liquidations'
        USD per second whatever number of events carries it (a slow producer sends fewer, larger ones)."""
        out: list[dict] = []
        dt = min(1.0, (now_ms - self.last_ms) / 1000) if self.last_ms else TICK_S
        self.last_ms = now_ms
        second = now_ms // 1000
        if second != self.last_bar_s:
            self.last_bar_s = second
            for a in ASSETS:
                for v in VENUES:
                    p = PRICE[a]
                    out.append({"type": "trade_flow", "venue": v, "symbol": f"{a}USDT", "asset": a,
                                "ts": (second - 1) * 1000, "interval_ms": 1000, "buy_volume_usd": 5e4,
                                "sell_volume_usd": 5e4, "open": p, "high": p, "low": p, "close": p,
                                "trade_count": 10})
        self.carry += rate * dt
        n, self.carry = int(self.carry), self.carry % 1
        picks = [(next(self.seq), i) for i in range(n)]
        longs: dict[str, int] = {}
        sides = []
        for k, _ in picks:
            a = ASSETS[k % len(ASSETS)]
            long = (k // len(ASSETS)) % 10 != 0 if burst else (k // len(ASSETS)) % 2 == 1
            sides.append((k, a, long))
            if long:
                longs[a] = longs.get(a, 0) + 1
        for k, a, long in sides:
            usd = self.burst_usd_s[a] * dt / longs[a] if burst and long else 50.0 if burst else 5.0
            p = PRICE[a]
            out.append({"type": "liquidation", "event_id": f"bench:{k}", "venue": VENUES[k % 3],
                        "symbol": f"{a}USDT", "asset": a, "side": "long" if long else "short", "price": p,
                        "quantity": usd / p, "notional_usd": usd, "ts": now_ms, "received_ts": now_ms,
                        "completeness": "full"})
        return out


class AlertTail(threading.Thread):
    """Records each alert with the wall time it arrived."""

    def __init__(self, bootstrap: str, topic: str):
        super().__init__(daemon=True)
        self.bootstrap, self.topic = bootstrap, topic
        self.got: list[tuple[float, dict]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        c = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                          fetch_max_wait_ms=20, auto_offset_reset="earliest")
        parts = [TopicPartition(self.topic, p) for p in sorted(c.partitions_for_topic(self.topic) or ())]
        c.assign(parts)
        c.seek_to_beginning(*parts)
        try:
            while not self.halt.is_set():
                for records in c.poll(timeout_ms=50).values():
                    now = time.time()
                    self.got.extend((now, orjson.loads(r.value)) for r in records)
        finally:
            c.close()


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=1000.0, help="steady events/s (default 1000)")
    ap.add_argument("--burst-rate", type=float, default=10000.0, help="events/s during the burst (default 10000)")
    ap.add_argument("--burst", type=float, default=60.0, help="burst seconds (default 60)")
    ap.add_argument("--warmup", type=float, default=30.0, help="steady seconds before the burst (default 30)")
    ap.add_argument("--cooldown", type=float, default=30.0, help="steady seconds after the burst (default 30)")
    ap.add_argument("--single", action="store_true", help="one event per message instead of batch envelopes")
    ap.add_argument("--sink", action="store_true", help="run the worker with the ClickHouse sink (chDB)")
    args = ap.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 150)
    for var in ("KAFKA_BOOTSTRAP", "CASCADEWATCH_KAFKA_BOOTSTRAP"):
        os.environ.pop(var, None)
    settings = Settings(batch=BatchConfig(enabled=not args.single))
    det = settings.detector
    floors = {a: det.cold_floor_usd.get(a, det.cold_floor_usd_default) for a in ASSETS}
    lateness_s = det.exchange_lateness_ms / 1000
    tmp = Path(tempfile.mkdtemp(prefix="cascadewatch-latency-"))
    worker = None
    try:
        with EmbeddedBroker(log_path=tmp / "broker.log") as broker:
            ensure_topics(settings, broker.bootstrap)
            env = {**os.environ, "KAFKA_BOOTSTRAP": broker.bootstrap, "CASCADEWATCH_DATA_DIR": str(tmp / "var"),
                   "CLICKHOUSE_URL": f"chdb://{tmp / 'chdb'}", "CASCADEWATCH_APP_ID": "bench-latency"}
            log = tmp / "worker.log"
            with open(log, "ab") as fh:
                worker = subprocess.Popen([sys.executable, "-m", "pipeline", "worker",
                                           "--sink" if args.sink else "--no-sink"], env=env, stdout=fh, stderr=fh,
                                          cwd=REPO, preexec_fn=die_with_parent)
            inputs = settings.topics.inputs()
            probe = LagProbe(broker.bootstrap, inputs)
            with console.status("waiting for the worker to join its group ..."):
                pub = Publisher(broker.bootstrap, settings, background=True)
                deadline = time.monotonic() + 120
                while not probe.lag("bench-latency", inputs)[1]:  # a first commit: it is consuming
                    if worker.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"worker not consuming:\n{tail(log)}")
                    pub.send({"type": "trade_flow", "venue": "okx", "symbol": "BTCUSDT", "asset": "BTC",
                              "ts": int(time.time() * 1000) - 1000, "interval_ms": 1000, "buy_volume_usd": 1.0,
                              "sell_volume_usd": 1.0, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,
                              "trade_count": 1})
                    time.sleep(0.5)
            tail_thread = AlertTail(broker.bootstrap, settings.topics.alerts)
            tail_thread.start()
            load = Load(floors, args.burst)
            lag_series: list[tuple[float, str, int]] = []
            start = time.time()
            phases = [("steady", args.warmup, args.rate), ("burst", args.burst, args.burst_rate),
                      ("steady", args.cooldown, args.rate)]
            sent = 0
            achieved: list[tuple[str, float, float]] = []  # phase, seconds, events/s achieved
            next_lag = start
            for phase, seconds, rate in phases:
                phase_start = time.time()
                with console.status(f"{phase} load at {rate:,.0f} events/s for {seconds:.0f}s") as status:
                    while (now := time.time()) < phase_start + seconds:
                        for e in load.tick(int(now * 1000), rate, phase == "burst"):
                            pub.send(e)
                            sent += 1
                        if now >= next_lag:
                            lag = probe.lag("bench-latency", inputs)[0]
                            lag_series.append((now - start, phase, lag))
                            status.update(f"{phase} load at {rate:,.0f} events/s: {sent:,} sent, lag {lag:,} messages")
                            next_lag += 1.0
                        pub.check()
                        time.sleep(max(0.0, TICK_S - (time.time() - now)))
                achieved.append((phase, seconds, (pub.events - sum(r * t for _, t, r in achieved)) / seconds))
            pub.close()
            with console.status("waiting for the last alerts ..."):
                time.sleep(lateness_s + 5)
            tail_thread.halt.set()
            tail_thread.join(5)
            rss = proc_status_kib(worker.pid, "VmHWM")
            broker_rss = proc_status_kib(broker.proc.pid, "VmHWM")
            stop_process(worker)
            worker = None
        console.print("load achieved: " + ", ".join(f"{p} {t:.0f}s at {r:,.0f} events/s" for p, t, r in achieved))
        report(console, args, tail_thread.got, lag_series, start, lateness_s, sent, rss, broker_rss)
        return 0
    finally:
        if worker is not None:
            stop_process(worker)
        shutil.rmtree(tmp, ignore_errors=True)


def report(console: Console, args, got, lag_series, start, lateness_s, sent, rss, broker_rss) -> None:
    burst_from, burst_to = args.warmup, args.warmup + args.burst
    firsts = [(at, a) for at, a in got if a.get("revision", 0) == 0 and a["stage"] != "expired"]
    lat = [(at - a["ts"] / 1000, a, at - start) for at, a in firsts]
    table = Table(title=f"Alert latency, {'single-event messages' if args.single else 'batch envelopes'}, "
                        f"{os.cpu_count()} cores, worker {'with' if args.sink else 'without'} sink")
    for col in ("alerts", "n", "p50 s", "p99 s", "max s", "watermark lateness s", "goal p99 <= s", "met"):
        table.add_column(col, justify="left" if col == "alerts" else "right")
    groups = {"all first publications": [x for x, _, _ in lat],
              "decided during the burst": [x for x, _, t in lat if burst_from <= t - x <= burst_to]}
    for name, values in groups.items():
        if not values:
            table.add_row(name, "0", "-", "-", "-", f"{lateness_s:.0f}", f"{lateness_s + 2:.0f}", "-")
            continue
        p99 = pct(values, 0.99)
        table.add_row(name, str(len(values)), f"{statistics.median(values):.2f}", f"{p99:.2f}",
                      f"{max(values):.2f}", f"{lateness_s:.0f}", f"{lateness_s + 2:.0f}",
                      "yes" if p99 <= lateness_s + 2 else "no")
    console.print(table)
    console.print("alerts: " + ", ".join(f"{a['asset']} {a['stage']} {x:.2f}s" for x, a, _ in sorted(lat, key=lambda v: v[2])))
    console.print(f"{sent:,} events sent; {len(got)} alert messages ({len(got) - len(firsts)} amendments or expiries); "
                  f"worker peak RSS {rss / 1024:,.0f} MiB, broker {broker_rss / 1024:,.0f} MiB")
    burst = [lag for t, phase, lag in lag_series if phase == "burst"]
    series = " ".join(f"{int(t)}s:{lag}" for t, _, lag in lag_series[::5])
    console.print(f"lag (input messages not committed), every 5 s: {series}")
    if burst:
        half = len(burst) // 2
        grew = max(burst[half:], default=0) > 2 * max(max(burst[:half], default=0), 1) + 100
        console.print(f"lag during the burst: max {max(burst):,}, first half max {max(burst[:half], default=0):,}, "
                      f"second half max {max(burst[half:], default=0):,}: {'GROWING' if grew else 'not growing'}")


if __name__ == "__main__":
    sys.exit(main())
