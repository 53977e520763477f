"""End-to-end throughput on one embedded Tansu broker: bare consumer, Faust doing nothing, the worker.

One run, one broker (memory storage, started here on a free port):

 1. publish   N events (default 100,000: the bundled Aug 2025 scenario repeated as copies shifted
              32 days apart with fresh ids, bench/_scenario.py) three times, with the project's
              publisher: one event per message (`single.*` topics), and in batch envelopes
              (schemas/batch.schema.json) of at most 200 events / 128 KiB lingering up to --linger
              (10) seconds of the events' own arrival times (`batched.*`), or --full-linger (600)
              seconds (`full.*`: envelopes as full as a feed at crash rates makes them).
 2. for each of the three backlogs, each consumer in its own process and consumer group, from the
    earliest offset:
      - bare:    aiokafka getmany + orjson.loads of every message (bench/_baseline_consumer.py),
                 three processes one after the other, the median reported;
      - faust:   a Faust agent doing nothing (bench/_faust_noop.py);
      - detect:  the worker, `python -m pipeline worker --no-sink`;
      - sink:    the worker with the ClickHouse sink on embedded chDB;
    and on the two batched backlogs, two detect-only workers in one group.
    Startup: spawn to first commit (bare: to partition assignment). Throughput: the events behind
    at that first commit, divided by the time until the group's lag is zero (still zero 1 s later).
    The worker commits about once a second, so both ends are late by about the same amount.
 3. checks, each an error (exit code 1) when it fails: every worker run's alerts, read from its own
    alert topic, equal the offline reference field for field (bench/_reference.py: `replay`'s
    alerts, contagion links included); the sink runs stored all N input events and every alert.

The backlogs are published before any consumer starts, so nothing competes with the consumers
for the cores: the figures are catch-up (maximum) throughput. Peak RSS is VmHWM from
/proc/PID/status, read just before each process stops.
CPU s is the user + system time the consumer's processes used between the two ends (/proc/PID/stat,
all threads); events/CPU-s divides the events by it. On a shared machine the wall-clock rate falls with
the load; the rate per CPU second much less (it still pays for cache misses and the broker's share).

Run: python bench/throughput.py [--events N] [--linger S] [--timeout S] [--keep] [--record]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from _probe import LagProbe, cpu_seconds, die_with_parent, proc_status_kib, read_all, stop_process, tail  # noqa: E402
from _reference import differences, reference_alerts  # noqa: E402
from _scenario import base_events, scenario_events, type_mix  # noqa: E402
from pipeline.config import BatchConfig, Settings, TopicNames  # noqa: E402
from pipeline.runtime.broker import EmbeddedBroker  # noqa: E402
from pipeline.runtime.topics import ensure_topics  # noqa: E402
from pipeline.wire.producer import publish  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
POLL_S = 0.2
CONFIRM_S = 1.0
# Every topic a backlog writes or the worker reads as input, prefixed per backlog (a topic left out would be
# shared by the backlogs and read several times over).
INPUT_TOPICS = ("whale_transfers", "liquidations", "trade_flow", "etf_flows", "leverage", "feed_health", "trades")
OUTPUT_TOPICS = ("alerts", "links", "late", "deadletter")
TARGET_EPS, TARGET_SINK_RATIO, TARGET_RSS_MIB = 20_000, 0.7, 200


class BenchError(RuntimeError):
    pass


@dataclass
class Backlog:
    mode: str  # single | batched
    settings: Settings
    messages: int
    events: int

    @property
    def per_message(self) -> float:
        return self.events / self.messages


@dataclass
class Result:
    mode: str
    label: str
    startup_s: float
    seconds: float
    measured_events: float
    rss_kib: list[int]
    runs: list[float] = field(default_factory=list)
    cpu_s: float = float("nan")  # CPU seconds the consumer's processes used between the two ends (all threads)

    @property
    def per_cpu_s(self) -> float:
        """Events per CPU second of the consumer's processes (all threads): a figure other processes on a
        shared machine move less than the wall-clock rate."""
        return self.measured_events / self.cpu_s if self.cpu_s > 0 else float("nan")

    @property
    def rate(self) -> float:
        """Events per second; NaN when the consumer was done before its first commit (too few events)."""
        return self.measured_events / self.seconds if self.seconds > 0 and self.measured_events else float("nan")


def with_topics(settings: Settings, prefix: str, names: tuple[str, ...], **update) -> Settings:
    topics = settings.topics.model_copy(update={n: f"{prefix}.{getattr(TopicNames(), n)}" for n in names})
    return settings.model_copy(update={"topics": topics, **update})


def topic_env(settings: Settings) -> dict[str, str]:
    return {f"CASCADEWATCH_TOPICS__{n.upper()}": getattr(settings.topics, n) for n in TopicNames.model_fields}


def make_backlog(mode: str, events: list[dict], base: Settings, linger: float, bootstrap: str,
                 console: Console) -> Backlog:
    settings = with_topics(base, mode, INPUT_TOPICS, batch=BatchConfig(enabled=mode != "single", linger_s=linger))
    ensure_topics(settings, bootstrap)
    t0 = time.perf_counter()
    written = publish(events, bootstrap, settings)
    took = time.perf_counter() - t0
    messages = sum(written.values())
    console.print(f"[bold]publish {mode}[/] {len(events):,} events in {messages:,} messages "
                  f"({len(events) / messages:.1f} per message) in {took:.1f}s")
    return Backlog(mode, settings, messages, len(events))


def run_bare(backlog: Backlog, bootstrap: str, timeout: float, repeat: int = 3) -> Result:
    runs = []
    for _ in range(repeat):
        group = f"bench-bare-{uuid.uuid4().hex[:8]}"
        cmd = [sys.executable, str(HERE / "_baseline_consumer.py"), bootstrap, group, str(backlog.messages),
               *backlog.settings.topics.inputs()]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
        except subprocess.CalledProcessError as exc:
            raise BenchError(f"bare consumer failed ({exc.returncode}):\n{exc.stderr[-3000:]}") from None
        except subprocess.TimeoutExpired:
            raise BenchError(f"bare consumer did not read {backlog.messages} messages in {timeout:.0f}s") from None
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    runs.sort(key=lambda r: r["seconds"])
    med = runs[len(runs) // 2]
    res = Result(backlog.mode, "bare aiokafka + orjson", med["startup_s"], med["seconds"], backlog.events,
                 [med["vmhwm_kib"]])
    res.runs = [r["seconds"] for r in runs]
    return res


def measure(label: str, backlog: Backlog, cmds: list[list[str]], env: dict, group: str, extra_topics: list[str],
            bootstrap: str, workdir: Path, timeout: float, console: Console) -> Result:
    """Spawn the processes (one consumer group), time them through the backlog, stop them."""
    workdir.mkdir(parents=True)
    inputs = backlog.settings.topics.inputs()
    probe = LagProbe(bootstrap, [*inputs, *extra_topics])
    procs, logs = [], []
    t_spawn = time.perf_counter()
    for i, cmd in enumerate(cmds):
        logs.append(workdir / f"process{i}.log")
        with open(logs[-1], "ab") as log:
            procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=log, cwd=REPO, preexec_fn=die_with_parent))
    try:
        t_first = lag_first = t_zero = None
        cpu_first = cpu_zero = 0.0
        deadline = t_spawn + timeout
        with console.status(f"{backlog.mode}, {label}: starting ...") as status:
            while True:
                for proc, log in zip(procs, logs):
                    if proc.poll() is not None:
                        raise BenchError(f"{label}: exited with code {proc.returncode}:\n{tail(log)}")
                if time.perf_counter() > deadline:
                    raise BenchError(f"{label}: not done after {timeout:.0f}s; log {logs[0]}:\n{tail(logs[0])}")
                lag, committed = probe.lag(group, inputs)
                rest = probe.lag(group, extra_topics)[0] if extra_topics else 0
                stamp = time.perf_counter()
                if committed and t_first is None:
                    t_first, lag_first = stamp, lag
                    cpu_first = sum(cpu_seconds(p.pid) for p in procs)
                if t_first is not None:
                    status.update(f"{backlog.mode}, {label}: {lag:,} messages to go ({stamp - t_first:.0f}s)")
                if committed and lag == 0:
                    if not t_zero:
                        t_zero, cpu_zero = stamp, sum(cpu_seconds(p.pid) for p in procs)
                    if rest == 0 and stamp - t_zero >= CONFIRM_S:
                        break
                else:
                    t_zero = None
                time.sleep(POLL_S)
        rss = [proc_status_kib(p.pid, "VmHWM") for p in procs]
    finally:
        for p in procs:
            stop_process(p)
        probe.close()
    measured = lag_first * backlog.per_message  # events behind at the first commit
    if lag_first < backlog.messages * 0.5:
        console.print(f"[yellow]note:[/] {label} on {backlog.mode}: the first commit came after "
                      f"{backlog.messages - lag_first:,} of {backlog.messages:,} messages: a short interval")
    return Result(backlog.mode, label, t_first - t_spawn, t_zero - t_first, measured, rss, cpu_s=cpu_zero - cpu_first)


def run_faust(backlog: Backlog, bootstrap: str, workdir: Path, timeout: float, console: Console) -> Result:
    group = f"bench-faust-{uuid.uuid4().hex[:8]}"
    cmd = [sys.executable, str(HERE / "_faust_noop.py"), bootstrap, group, *backlog.settings.topics.inputs()]
    return measure("Faust agent doing nothing", backlog, [cmd], dict(os.environ), group, [], bootstrap,
                   workdir, timeout, console)


def run_worker(label: str, backlog: Backlog, *, sink: bool, workers: int, bootstrap: str, workdir: Path,
               timeout: float, console: Console, record: bool = False) -> tuple[Result, Settings, str]:
    run_id = f"run{uuid.uuid4().hex[:6]}"
    settings = with_topics(backlog.settings, run_id, OUTPUT_TOPICS)  # its own alerts, links, ...
    ensure_topics(settings, bootstrap)
    chdb_url = f"chdb://{workdir / 'chdb'}"
    env = {**os.environ, **topic_env(settings), "KAFKA_BOOTSTRAP": bootstrap, "CASCADEWATCH_APP_ID": run_id,
           "CASCADEWATCH_DATA_DIR": str(workdir / "data"), "CLICKHOUSE_URL": chdb_url,
           "CASCADEWATCH_PARTITIONS": str(settings.partitions)}
    if record and workers == 1:
        env["CASCADEWATCH_STREAM__RECORD_TAKES"] = str(workdir / "takes.jsonl")
    cmd = [sys.executable, "-m", "pipeline", "worker", "--sink" if sink else "--no-sink"]
    extra = [settings.topics.links, *([settings.topics.trades, settings.topics.feed_health] if sink else [])]
    res = measure(label, backlog, [cmd] * workers, env, run_id, extra, bootstrap, workdir, timeout, console)
    return res, settings, chdb_url


def chdb_counts(chdb_url: str) -> dict[str, int]:
    """Rows per table in a sink run's chDB (read after its worker stopped: one process per path)."""
    tables = ["whale_transfers", "liquidations", "trade_flow", "etf_flows", "leverage"]
    sql = " UNION ALL ".join([*(f"SELECT '{t}' AS t, count() AS n FROM {t} FINAL" for t in tables),
                              "SELECT 'alerts' AS t, count() AS n FROM alerts FINAL",
                              "SELECT 'deadletter' AS t, count() AS n FROM deadletter"])
    env = {**os.environ, "CLICKHOUSE_URL": chdb_url}
    out = subprocess.run([sys.executable, "-m", "pipeline", "sql", "--format", "json", sql], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise BenchError(f"counting rows in {chdb_url} failed:\n{out.stderr[-2000:]}")
    return {row["t"]: int(row["n"]) for row in map(json.loads, out.stdout.splitlines()) if row}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000, help="events to publish and consume (default 100000)")
    ap.add_argument("--linger", type=float, default=10.0,
                    help="envelope linger in seconds of the events' arrival times (default 10: the feeds' lateness)")
    ap.add_argument("--full-linger", type=float, default=600.0,
                    help="the same for the `full` backlog, whose envelopes fill up to 200 events as at crash rates "
                         "(default 600, within the chain lateness of 15 min)")
    ap.add_argument("--timeout", type=float, default=600.0, help="give up on a consumer after this many seconds")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, chDB data) and print it")
    ap.add_argument("--record", action="store_true",
                    help="each worker records its takes (takes.jsonl in its dir; replay one with "
                         "bench/read_order.py --events N --takes FILE); implies --keep; costs some CPU")
    args = ap.parse_args(argv)
    args.keep = args.keep or args.record
    console = Console(width=None if sys.stdout.isatty() else 150)
    for var in ("KAFKA_BOOTSTRAP", "CASCADEWATCH_KAFKA_BOOTSTRAP"):
        os.environ.pop(var, None)  # always the embedded broker: the numbers are for this machine's Tansu
    base = Settings()
    tmp = Path(tempfile.mkdtemp(prefix="cascadewatch-bench-"))
    results: list[Result] = []
    problems: list[str] = []
    try:
        with EmbeddedBroker(log_path=tmp / "broker.log") as broker:
            bootstrap = broker.bootstrap
            events = scenario_events(args.events)
            console.print(f"[bold]broker[/] Tansu on {bootstrap}; cores: {os.cpu_count()}; load average "
                          + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + f"; {len(events):,} events = "
                          f"{len(events) / len(base_events()):.1f} shifted copies of aug2025 ("
                          + ", ".join(f"{k} {v:,}" for k, v in sorted(type_mix(events).items())) + ")")
            reference = reference_alerts(events, base.detector)
            console.print(f"[bold]reference[/] replay raises {len(reference)} alerts on them "
                          f"({sum(a['kind'] == 'contagion_cascade' for a in reference.values())} of contagion)")
            backlogs = [make_backlog(m, events, base, linger, bootstrap, console)
                        for m, linger in (("single", 0.0), ("batched", args.linger), ("full", args.full_linger))]
            by_kind = {a["type"]: 0 for a in events}
            for e in events:
                by_kind[e["type"]] += 1
            del events
            sink_runs = []
            for backlog in backlogs:
                with console.status(f"{backlog.mode}: bare consumer ..."):
                    results.append(run_bare(backlog, bootstrap, args.timeout))
                results.append(run_faust(backlog, bootstrap, tmp / f"{backlog.mode}-faust", args.timeout, console))
                runs = [("worker, detect only", False, 1), ("worker, detect + ClickHouse sink", True, 1)]
                if backlog.mode != "single":
                    runs.append(("two workers, detect only", False, 2))
                for label, sink, workers in runs:
                    workdir = tmp / f"{backlog.mode}-{'sink' if sink else 'detect'}-{workers}"
                    res, settings, chdb_url = run_worker(label, backlog, sink=sink, workers=workers,
                                                         bootstrap=bootstrap, workdir=workdir,
                                                         timeout=args.timeout, console=console, record=args.record)
                    results.append(res)
                    streamed = [orjson.loads(v) for v in read_all(bootstrap, settings.topics.alerts)]
                    diff = differences(streamed, reference)
                    problems.extend(f"{backlog.mode}, {label}: {p}" for p in diff)
                    console.print(f"  {backlog.mode}, {label}: {res.seconds:.1f}s, {len(streamed)} alerts "
                                  f"({'DIFFERENT from' if diff else 'equal to'} the reference)")
                    if diff and args.record and workers == 1:
                        console.print(f"    its read order: python bench/read_order.py --events {args.events} "
                                      f"--takes {workdir / 'takes.jsonl'}")
                    if sink:
                        sink_runs.append((backlog.mode, chdb_url))
            broker_hwm = proc_status_kib(broker.proc.pid, "VmHWM")

        stages = len({(a["alert_id"], a["stage"]) for a in reference.values()})
        for mode, url in sink_runs:
            counts = chdb_counts(url)
            stored = {k: counts[t] for k, t in (("whale_transfer", "whale_transfers"), ("liquidation", "liquidations"),
                                                ("trade_flow", "trade_flow"), ("etf_flow", "etf_flows"),
                                                ("leverage", "leverage"))}
            console.print(f"  {mode}, sink: rows under FINAL " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
            if stored != by_kind:
                problems.append(f"{mode}, sink: stored {stored}, published {by_kind}")
            if counts["alerts"] != stages:
                problems.append(f"{mode}, sink: {counts['alerts']} alert rows under FINAL, the reference has {stages}")
        print_table(console, results, backlogs, broker_hwm)
        for p in problems:
            console.print(f"[bold red]error:[/] {p}")
        return 1 if problems else 0
    except BenchError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        return 1
    finally:
        if args.keep:
            console.print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def print_table(console: Console, results: list[Result], backlogs: list[Backlog], broker_hwm: int) -> None:
    per = {b.mode: b for b in backlogs}
    bare = {r.mode: r for r in results if r.label.startswith("bare")}
    table = Table(title=f"Throughput, {backlogs[0].events:,} events, one embedded Tansu broker, "
                        f"{os.cpu_count()} cores")
    for col in ("messages", "consumer", "ev/msg", "startup s", "seconds", "events/s", "ratio to bare", "CPU s",
                "events/CPU-s", "peak RSS MiB"):
        table.add_column(col, justify="left" if col in ("messages", "consumer") else "right")
    for r in results:
        ratio = r.rate / bare[r.mode].rate
        table.add_row(r.mode, r.label, f"{per[r.mode].per_message:.1f}", f"{r.startup_s:.1f}", f"{r.seconds:.2f}",
                      f"{r.rate:,.0f}", "1" if r is bare[r.mode] else f"{ratio:.3f}",
                      "-" if r.cpu_s != r.cpu_s else f"{r.cpu_s:.2f}", "-" if r.cpu_s != r.cpu_s else f"{r.per_cpu_s:,.0f}",
                      " + ".join(f"{k / 1024:,.0f}" for k in r.rss_kib))
    console.print(table)
    console.print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    console.print(f"broker (Tansu) peak RSS: {broker_hwm / 1024:,.0f} MiB; bare: the median of "
                  + "; ".join(f"{m}: " + ", ".join(f"{s:.2f}s" for s in r.runs) for m, r in bare.items()))
    find = {(r.mode, r.label): r for r in results}
    verdict = lambda ok: "[green]met[/]" if ok else "[red]not met[/]"  # noqa: E731
    for mode in ("batched", "full"):
        detect, sink = find[(mode, "worker, detect only")], find[(mode, "worker, detect + ClickHouse sink")]
        two = find[(mode, "two workers, detect only")]
        console.print(f"targets ({mode}, {per[mode].per_message:.1f} events/message): detect only "
                      f"{detect.rate:,.0f} events/s >= {TARGET_EPS:,}: {verdict(detect.rate >= TARGET_EPS)} "
                      f"({detect.per_cpu_s:,.0f} per CPU second); "
                      f"with sink {sink.rate / detect.rate:.2f} of detect only >= {TARGET_SINK_RATIO}: "
                      f"{verdict(sink.rate >= TARGET_SINK_RATIO * detect.rate)}; worker peak RSS "
                      f"{detect.rss_kib[0] / 1024:,.0f} MiB < {TARGET_RSS_MIB}: "
                      f"{verdict(detect.rss_kib[0] / 1024 < TARGET_RSS_MIB)}; two workers {two.rate / detect.rate:.2f}x one")

if __name__ == "__main__":
    sys.exit(main())
