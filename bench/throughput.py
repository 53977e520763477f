"""End-to-end throughput on one embedded Tansu broker: bare consumer vs the real cascadewatch worker.

One run, one broker (memory storage, started here on a free port):

 1. publish  N events (default 100,000) to the four input topics, keyed by asset, with the
             project's publisher (kafka-python). The events are the bundled Aug 2025 scenario
             repeated as copies shifted 14 days apart with fresh ids (bench/_scenario.py), so the
             detector sees new episodes all the way through: each full copy is one whale deposit
             -> sell -> cascade on BTC and one ETH deposit that expires, amid ordinary traffic.
 2. baseline a bare aiokafka consumer in its own process and consumer group reads the N
             messages from the earliest offset and orjson-decodes each one. Seconds are counted
             from its partition assignment to the N-th message. Three such processes, one after
             the other; the median is reported.
 3. pipeline the real worker (`python -m pipeline worker`) in its own process, twice, each with
             a fresh consumer group (CASCADEWATCH_APP_ID) and data dir, reading the same backlog:
               - detect only:             --no-sink
               - detect + ClickHouse sink: --sink with CLICKHOUSE_URL=chdb://<tmp>/chdb
             Its group's committed offsets are polled every 0.2 s. Startup is the time from
             spawning the process to the group's first commit; throughput is the messages
             committed from that poll until the lag (end offset - committed, over every topic
             the group reads) is zero, divided by the time in between. The worker commits about
             once a second, so both ends of that interval are late by about the same amount.

The backlog is published before the consumers start, so no producer competes with them for the
two cores: the numbers are catch-up (maximum) throughput. Peak RSS is VmHWM from /proc/PID/status,
read just before each process stops.

Sanity checks (printed under the table, with a warning when one fails): every consumer reads all N
messages; each worker's Prometheus counters (it runs with --metrics-port) give the events its
detector saw, the events it dropped as late and its alerts by stage, which must match the alerts
the pure detection core raises offline on the same events; the sink run's rows in chDB must hold
all N input events and, under FINAL, every distinct alert.

Run: python bench/throughput.py [--events N] [--timeout S] [--keep]
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
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from _scenario import base_events, scenario_events, type_mix  # noqa: E402
from pipeline.config import Settings  # noqa: E402
from pipeline.runtime.broker import EmbeddedBroker, free_port  # noqa: E402
from pipeline.runtime.publish import publish  # noqa: E402
from pipeline.runtime.topics import ensure_topics  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
POLL_S = 0.2
CONFIRM_S = 1.0  # lag must still be zero this much later (the sink run's alerts topic can grow)


class BenchError(RuntimeError):
    pass


@dataclass
class Result:
    label: str
    events: int
    startup_s: float
    seconds: float
    measured_events: int  # messages processed in `seconds`
    vmhwm_kib: int
    notes: list[str] = field(default_factory=list)
    runs: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.measured_events / self.seconds


def _die_with_parent() -> None:  # preexec_fn: the worker gets SIGTERM if this process dies
    import ctypes
    import signal

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def stop_process(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def proc_status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def scrape_metrics(port: int) -> dict[str, dict[str, float]]:
    """The worker's cascadewatch_* counters: {name: {label value (topic/asset/stage/table): total}}."""
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("cascadewatch_"):
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                labels = sample.labels
                key = labels.get("stage") or labels.get("topic") or labels.get("table") or labels.get("asset") or ""
                bucket = out.setdefault(family.name.removeprefix("cascadewatch_"), {})
                bucket[key] = bucket.get(key, 0) + sample.value
    return out


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


class LagProbe:
    """Committed offsets of a group vs the true end offsets of some topics, with long-lived clients.

    End offsets are not taken from ListOffsets alone: Tansu 0.6.0 (memory storage) answers it with
    the base offset of the partition's last record batch + 1, not the offset after its last record
    (13 records sent as batches of 1, 1, 1 and 10 -> reported end 4). So a consumer assigned to
    every partition reads on from the reported end, and the end is the offset after the last record
    it sees (or the fetch high watermark, which Tansu reports correctly).
    """

    def __init__(self, bootstrap: str, topics: list[str]):
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cascadewatch-bench-lag")
        self.tail = KafkaConsumer(bootstrap_servers=bootstrap, client_id="cascadewatch-bench-lag", group_id=None,
                                  enable_auto_commit=False, fetch_max_wait_ms=50)
        self.parts = [TopicPartition(t, p) for t in topics for p in sorted(self.tail.partitions_for_topic(t) or ())]
        self.tail.assign(self.parts)
        self.reported = self.tail.end_offsets(self.parts)
        self.end = dict(self.reported)
        for tp, off in self.reported.items():
            # reported = last batch's base offset + 1 on Tansu: start at that batch's first record
            # (seeking into the middle of a batch is what Tansu handles badly)
            self.tail.seek(tp, max(0, off - 1))
        self.refresh(settle=True)

    def refresh(self, settle: bool = False) -> dict[TopicPartition, int]:
        """Read what was appended since the last call; settle: until 3 polls in a row bring nothing."""
        empty = 0
        while True:
            got = self.tail.poll(timeout_ms=100 if settle else 0)
            for tp, records in got.items():
                if records:
                    self.end[tp] = max(self.end[tp], records[-1].offset + 1)
            empty = 0 if got else empty + 1
            if not settle or empty >= 3:
                break
        for tp in self.parts:
            hw = self.tail.highwater(tp)
            if hw is not None:
                self.end[tp] = max(self.end[tp], hw)
        return self.end

    def total(self, topics: list[str] | None = None) -> int:
        return sum(end for tp, end in self.end.items() if topics is None or tp.topic in topics)

    def lag(self, group: str, topics: list[str]) -> tuple[int, bool]:
        """(messages behind on `topics`, whether the group has committed anything on them)."""
        self.refresh()
        offsets = self.admin.list_group_offsets(group).get(group, {})
        done = {tp: om.offset for tp, om in offsets.items() if tp.topic in topics and om.offset >= 0}
        behind = sum(max(0, end - done.get(tp, 0)) for tp, end in self.end.items() if tp.topic in topics)
        return behind, bool(done)

    def close(self) -> None:
        self.tail.close()
        self.admin.close()


def run_baseline(bootstrap: str, topics: list[str], n: int, timeout: float, repeat: int = 3) -> Result:
    """The bare consumer `repeat` times, each a new process and group; the median run is reported."""
    runs = []
    for _ in range(repeat):
        group = f"bench-baseline-{uuid.uuid4().hex[:8]}"
        cmd = [sys.executable, str(HERE / "_baseline_consumer.py"), bootstrap, group, str(n), *topics]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
        except subprocess.CalledProcessError as exc:
            raise BenchError(f"baseline consumer failed ({exc.returncode}):\n{exc.stderr[-3000:]}") from None
        except subprocess.TimeoutExpired:
            raise BenchError(f"baseline consumer did not read {n} messages within {timeout:.0f}s") from None
        r = json.loads(out.stdout.strip().splitlines()[-1])
        if r["events"] != n:
            raise BenchError(f"baseline consumer read {r['events']} messages, expected {n}")
        runs.append(r)
    runs.sort(key=lambda r: r["seconds"])
    med = runs[len(runs) // 2]
    res = Result("baseline: bare aiokafka + orjson", n, med["startup_s"], med["seconds"], n, med["vmhwm_kib"])
    res.runs = [r["seconds"] for r in runs]
    return res


def run_worker(label: str, *, sink: bool, bootstrap: str, settings: Settings, n: int, workdir: Path,
               timeout: float, console: Console) -> tuple[Result, dict]:
    workdir.mkdir(parents=True)
    app_id = f"bench-{'sink' if sink else 'detect'}-{uuid.uuid4().hex[:8]}"
    chdb_url = f"chdb://{workdir / 'chdb'}"
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "CASCADEWATCH_APP_ID": app_id,
           "CASCADEWATCH_DATA_DIR": str(workdir / "data"), "CLICKHOUSE_URL": chdb_url,
           "CASCADEWATCH_PARTITIONS": str(settings.partitions)}
    t = settings.topics
    # The topics this group reads: the detect agent reads the inputs; the sink agent (same group)
    # also reads alerts and dead letters. A topic the group does not read would never reach lag 0.
    topics = [*t.inputs(), t.alerts, t.deadletter] if sink else t.inputs()
    probe = LagProbe(bootstrap, [*t.inputs(), t.alerts, t.deadletter])
    alerts_before = probe.total([t.alerts])
    log_path = workdir / "worker.log"
    metrics_port = free_port()
    cmd = [sys.executable, "-m", "pipeline", "worker", "--sink" if sink else "--no-sink",
           "--metrics-port", str(metrics_port)]
    t_spawn = time.perf_counter()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, cwd=REPO, preexec_fn=_die_with_parent)
    try:
        t_first = lag_first = t_zero = None
        deadline = t_spawn + timeout
        with console.status(f"{label}: starting worker ...") as status:
            while True:
                if proc.poll() is not None:
                    raise BenchError(f"{label}: worker exited with code {proc.returncode}:\n{tail(log_path)}")
                now = time.perf_counter()
                if now > deadline:
                    raise BenchError(f"{label}: worker not done after {timeout:.0f}s; log {log_path}:\n{tail(log_path)}")
                lag, committed = probe.lag(app_id, topics)
                stamp = time.perf_counter()
                if committed and t_first is None:
                    t_first, lag_first = stamp, lag
                if t_first is not None:
                    status.update(f"{label}: {lag:,} messages to go ({stamp - t_first:.0f}s)")
                if committed and lag == 0:
                    if t_zero is None:
                        t_zero = stamp
                    elif stamp - t_zero >= CONFIRM_S:
                        break
                else:
                    t_zero = None
                time.sleep(POLL_S)
        try:
            metrics = scrape_metrics(metrics_port)
        except OSError as exc:
            metrics = {}
            console.print(f"[yellow]warning:[/] {label}: could not read the worker's metrics: {exc}")
        hwm = proc_status_kib(proc.pid, "VmHWM")
        rss = proc_status_kib(proc.pid, "VmRSS")
        probe.refresh(settle=True)
        alerts_after = probe.total([t.alerts])
    finally:
        stop_process(proc)
        probe.close()
    result = Result(label, n, t_first - t_spawn, t_zero - t_first, lag_first, hwm)
    extra = {"alerts_published": alerts_after - alerts_before, "alerts_total": alerts_after,
             "vmrss_kib": rss, "metrics": metrics, "app_id": app_id, "chdb_url": chdb_url, "log": str(log_path)}
    if lag_first < n * 0.5:
        result.notes.append(f"{label}: the first commit came late ({n - lag_first:,} of {n:,} messages were "
                            "already committed): the measured interval is short, the rate is less precise")
    return result, extra


def offline_alerts(events: list[dict], settings: Settings) -> dict[str, int]:
    """Alerts by stage from the pure detection core over the same events in publish order."""
    from pipeline.contracts.models import parse_event
    from pipeline.detect import CascadeDetector

    det = CascadeDetector(settings.detector)
    stages: dict[str, int] = {}
    for e in events:
        for alert in det.process(parse_event(orjson.dumps(e))):
            stages[alert.stage] = stages.get(alert.stage, 0) + 1
    return stages


def chdb_counts(chdb_url: str) -> dict[str, int]:
    """Rows per table in the sink run's chDB (read after its worker stopped: one process per path)."""
    tables = ["whale_transfers", "liquidations", "trade_flow", "etf_flows", "alerts", "deadletter"]
    sql = " UNION ALL ".join([*(f"SELECT '{t}' AS t, count() AS n FROM {t}" for t in tables),
                              "SELECT 'alerts FINAL' AS t, count() AS n FROM alerts FINAL"])
    env = {**os.environ, "CLICKHOUSE_URL": chdb_url}
    out = subprocess.run([sys.executable, "-m", "pipeline", "sql", "--format", "json", sql], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise BenchError(f"counting rows in {chdb_url} failed:\n{out.stderr[-2000:]}")
    return {row["t"]: int(row["n"]) for row in map(json.loads, out.stdout.splitlines()) if row}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000, help="events to publish and consume (default 100000)")
    ap.add_argument("--timeout", type=float, default=300.0, help="give up on a consumer after this many seconds")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (worker logs, chDB data) and print it")
    args = ap.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 130)
    n = args.events
    for var in ("KAFKA_BOOTSTRAP", "CASCADEWATCH_KAFKA_BOOTSTRAP"):
        os.environ.pop(var, None)  # always the embedded broker: the numbers are for this machine's Tansu
    settings = Settings()
    tmp = Path(tempfile.mkdtemp(prefix="cascadewatch-bench-"))
    results: list[Result] = []
    try:
        with EmbeddedBroker(log_path=tmp / "broker.log") as broker:
            bootstrap = broker.bootstrap
            ensure_topics(settings, bootstrap)
            inputs = settings.topics.inputs()
            console.print(f"[bold]broker[/] Tansu on {bootstrap} (memory storage), {len(settings.topics.all())} topics "
                          f"x {settings.partitions} partitions; cores: {os.cpu_count()}")

            events = scenario_events(n)
            mix = type_mix(events)
            console.print(f"[bold]publish[/] {n:,} events = {n / len(base_events()):.1f} shifted copies of aug2025 ("
                          + ", ".join(f"{k} {v:,}" for k, v in sorted(mix.items())) + ")")
            expected = offline_alerts(events, settings)
            console.print(f"  offline, the detection core raises {sum(expected.values())} alerts on them ("
                          + ", ".join(f"{k} {v}" for k, v in sorted(expected.items())) + ")")
            t0 = time.perf_counter()
            publish(events, bootstrap, settings)
            t_pub = time.perf_counter() - t0
            del events
            probe = LagProbe(bootstrap, inputs)
            on_topics, reported = probe.total(), sum(probe.reported.values())
            probe.close()
            if on_topics != n:
                raise BenchError(f"{on_topics} messages on the input topics after publishing {n}")
            if reported != n:
                console.print(f"  (the broker's ListOffsets reports {reported:,} as the sum of end offsets; the bench "
                              "reads past it, see LagProbe)")
            console.print(f"  {t_pub:.1f}s, {n / t_pub:,.0f} msg/s (kafka-python producer, acks=1, in this process)")

            with console.status("baseline consumer ..."):
                results.append(run_baseline(bootstrap, inputs, n, args.timeout))
            console.print(f"[bold]baseline[/] done: " + ", ".join(f"{t:.2f}s" for t in results[-1].runs)
                          + " (3 processes, the median is reported)")

            extras = {}
            for label, sink in (("pipeline: detect only", False), ("pipeline: detect + ClickHouse sink", True)):
                res, extra = run_worker(label, sink=sink, bootstrap=bootstrap, settings=settings, n=n,
                                        workdir=tmp / ("sink" if sink else "detect"), timeout=args.timeout,
                                        console=console)
                results.append(res)
                extras[label] = extra
                console.print(f"[bold]{label}[/] done: startup {res.startup_s:.1f}s, {res.seconds:.1f}s, "
                              f"{extra['alerts_published']} alerts published")
            broker_hwm = proc_status_kib(broker.proc.pid, "VmHWM")

        sink_extra = extras["pipeline: detect + ClickHouse sink"]
        counts = chdb_counts(sink_extra["chdb_url"])
        stored_inputs = sum(counts[t] for t in ("whale_transfers", "liquidations", "trade_flow", "etf_flows"))

        base = results[0]
        table = Table(title=f"Throughput, {n:,} events, one embedded Tansu broker, {os.cpu_count()} cores")
        for col in ("consumer", "events", "startup s", "seconds", "events/s", "ratio vs baseline",
                    "peak RSS MiB", "RSS ratio"):
            table.add_column(col, justify="left" if col == "consumer" else "right")
        for r in results:
            ratio = r.rate / base.rate
            table.add_row(r.label, f"{r.events:,}", f"{r.startup_s:.1f}", f"{r.seconds:.2f}", f"{r.rate:,.0f}",
                          "1" if r is base else f"{ratio:.3f} (1/{1 / ratio:.0f})",
                          f"{r.vmhwm_kib / 1024:,.0f}", "1" if r is base else f"{r.vmhwm_kib / base.vmhwm_kib:.1f}x")
        console.print(table)
        console.print("startup: process spawn -> partitions assigned (baseline) / first offset commit (worker); "
                      "seconds and events/s exclude it. Peak RSS = VmHWM of the consumer process.")
        for r in results[1:]:
            e = extras[r.label]
            m = e["metrics"]
            alerts = m.get("alerts", {})
            late = int(sum(m.get("late_events", {}).values()))
            console.print(f"  {r.label}: measured {r.measured_events:,} messages after the first commit; "
                          f"detector saw {int(sum(m.get('events', {}).values())):,} events, dropped {late:,} as late; "
                          f"{e['alerts_published']} alerts published ("
                          + ", ".join(f"{k} {int(v)}" for k, v in sorted(alerts.items())) + "); "
                          f"RSS at the end {e['vmrss_kib'] / 1024:,.0f} MiB")
            if late:
                r.notes.append(f"{r.label}: the detector dropped {late:,} events as late (by asset: "
                               + ", ".join(f"{k} {int(v):,}" for k, v in sorted(m["late_events"].items()))
                               + "): events of one topic ran ahead of another's in event time while it "
                                 "caught up on the backlog")
            if {k: int(v) for k, v in alerts.items() if v} != expected:
                r.notes.append(f"{r.label}: alerts differ from the offline run of the detection core "
                               f"({sum(expected.values())})")
        console.print(f"  sink run, rows in chDB: {stored_inputs:,} input events of {n:,} ("
                      + ", ".join(f"{t} {counts[t]:,}" for t in ("whale_transfers", "liquidations", "trade_flow",
                                                                   "etf_flows", "deadletter"))
                      + f"); alerts: the topic held {sink_extra['alerts_total']} (both runs), {counts['alerts']} rows "
                      f"stored, {counts['alerts FINAL']} under FINAL")
        console.print(f"  broker (Tansu) peak RSS: {broker_hwm / 1024:,.0f} MiB")
        problems = [note for r in results for note in r.notes]
        if stored_inputs != n:
            problems.append(f"the sink stored {stored_inputs:,} input rows, expected {n:,}")
        if counts["alerts FINAL"] != sum(expected.values()):
            problems.append(f"{counts['alerts FINAL']} distinct alerts stored (FINAL), the detection core raises "
                            f"{sum(expected.values())} offline")
        for p in problems:
            console.print(f"[yellow]warning:[/] {p}")
        return 0
    except BenchError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        return 1
    finally:
        if args.keep:
            console.print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
