"""`cascadewatch demo`: broker, topics, worker and sink on embedded defaults, fed a bundled scenario.

The worker runs as a child process (`cascadewatch worker`) so that Faust owns its own event loop
and signals, and chDB's single data path belongs to one process at a time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import orjson
from kafka import KafkaConsumer, TopicPartition
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipeline.config import Settings
from pipeline.runtime.broker import EmbeddedBroker
from pipeline.runtime.children import die_with_parent, stop_process
from pipeline.runtime.lag import group_lag
from pipeline.wire.producer import publish
from pipeline.runtime.topics import ensure_topics
from pipeline.sinks.render import alert_line
from pipeline.sources.etf.scenario import with_imported_history


class DemoError(RuntimeError):
    pass


def start_worker(settings: Settings, bootstrap: str, log_path: Path, extra_env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "CLICKHOUSE_URL": settings.clickhouse_url,
           "CASCADEWATCH_PARTITIONS": str(settings.partitions), "CASCADEWATCH_APP_ID": settings.app_id,
           "CASCADEWATCH_DATA_DIR": settings.data_dir,
           "CASCADEWATCH_SINGLE_RECORD_BATCHES": str(settings.single_record_batches).lower(), **(extra_env or {})}
    log = open(log_path, "ab")
    return subprocess.Popen([sys.executable, "-m", "pipeline", "worker"], env=env, stdout=log, stderr=log,
                            preexec_fn=die_with_parent)


class AlertTail(threading.Thread):
    """Reads alerts.cascade from the beginning and prints each alert as it arrives."""

    def __init__(self, bootstrap: str, topic: str, console: Console):
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.console = bootstrap, topic, console
        self.alerts: list[dict] = []
        self._halt = threading.Event()

    def run(self) -> None:
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                 auto_offset_reset="earliest", client_id="cascadewatch-demo-tail")
        parts = [TopicPartition(self.topic, p) for p in sorted(consumer.partitions_for_topic(self.topic) or ())]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        try:
            while not self._halt.is_set():
                for records in consumer.poll(timeout_ms=200).values():
                    for rec in records:
                        alert = orjson.loads(rec.value)
                        self.alerts.append(alert)
                        self.console.print(alert_line(alert))
        finally:
            consumer.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


def wait_for_worker(worker: subprocess.Popen, bootstrap: str, settings: Settings, topics: list[str],
                    deadline: float, console: Console, logs: Path, targets: dict | None = None) -> None:
    """Block until the worker's consumer group has committed everything on `topics`."""
    with console.status("worker processing...") as status:
        while True:
            if worker.poll() is not None:
                raise DemoError(f"worker exited with code {worker.returncode}; see {logs / 'worker.log'}")
            lag = group_lag(bootstrap, settings.app_id, topics, targets)
            status.update(f"worker processing... {lag:,} messages to go")
            if lag == 0:
                return
            if time.monotonic() > deadline:
                raise DemoError(f"worker still {lag} messages behind; see {logs / 'worker.log'}")
            time.sleep(0.5)


def run_demo(settings: Settings, scenario: Path, *, follow: bool = False, console: Console | None = None,
             timeout_s: float = 600.0) -> list[dict]:
    console = console or Console()
    events = [orjson.loads(line) for line in scenario.read_bytes().splitlines() if line.strip()]
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    logs = Path(settings.data_dir) / "logs"
    logs.mkdir(exist_ok=True)
    with ExitStack() as stack:
        if settings.kafka_bootstrap:
            bootstrap = settings.kafka_bootstrap
            console.print(f"[bold]Kafka[/] {bootstrap} (KAFKA_BOOTSTRAP)")
        else:
            broker = stack.enter_context(EmbeddedBroker(log_path=logs / "broker.log"))
            bootstrap = broker.bootstrap
            settings = settings.model_copy(update={"single_record_batches": True})
            console.print(f"[bold]Kafka[/] embedded Tansu broker on {bootstrap}")
        console.print(f"[bold]ClickHouse[/] {settings.clickhouse_url}")
        created = ensure_topics(settings, bootstrap)
        console.print(f"[bold]Topics[/] {len(settings.topics.all())} x {settings.partitions} partitions"
                      + (f" ({len(created)} created)" if created else ""))
        worker = start_worker(settings, bootstrap, logs / "worker.log")
        stack.callback(stop_process, worker)
        tail = AlertTail(bootstrap, settings.topics.alerts, console)
        tail.start()
        stack.callback(tail.stop)

        # ETF history is loaded first, as it would be in production: days of flows are known before
        # the live feeds that the scenario replays.
        events, notes = with_imported_history(scenario, events)
        for note in notes:
            console.print(f"[bold]ETF[/] {note}")
        history = [e for e in events if e.get("type") == "etf_flow"]
        live = [e for e in events if e.get("type") != "etf_flow"]
        deadline = time.monotonic() + timeout_s
        written = publish(history, bootstrap, settings)
        wait_for_worker(worker, bootstrap, settings, [settings.topics.etf_flows], deadline, console, logs, written)
        console.print(f"[bold]Scenario[/] {scenario.name}: {len(history)} ETF flow days loaded, "
                      f"replaying {len(live):,} live events")
        with Progress(TextColumn("publishing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("publish", total=len(live))
            written = publish(live, bootstrap, settings, progress=lambda n: bar.update(task, completed=n))
        wait_for_worker(worker, bootstrap, settings, [*settings.topics.inputs(), settings.topics.links],
                        deadline, console, logs, written)
        time.sleep(1.0)  # alerts published by the last batch reach the tail
        if follow:
            console.print("[bold]--follow[/]: worker keeps running; Ctrl-C to stop")
            try:
                while worker.poll() is None:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        return list(tail.alerts)
