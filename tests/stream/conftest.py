"""The worker as a child process for streaming tests, with helpers to wait for it and query its store."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from kafka import TopicPartition

from pipeline.config import Settings
from pipeline.runtime.broker import free_port
from pipeline.runtime.children import stop_process
from pipeline.runtime.lag import group_lag


class Worker:
    def __init__(self, bootstrap: str, tmp: Path, name: str = "worker", args: tuple[str, ...] = (),
                 env: dict | None = None, launcher: str = "pipeline"):
        self.bootstrap, self.tmp, self.name = bootstrap, tmp, name
        self.args, self.extra_env, self.launcher = args, env or {}, launcher
        self.metrics_port = free_port()
        self.clickhouse_url = f"chdb://{tmp / 'chdb'}"
        self.log = tmp / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict:
        return {**os.environ, "KAFKA_BOOTSTRAP": self.bootstrap, "CLICKHOUSE_URL": self.clickhouse_url,
                "CASCADEWATCH_DATA_DIR": str(self.tmp / "var"), "CASCADEWATCH_REBALANCE_TIMEOUT_S": "5",
                "CASCADEWATCH_SINGLE_RECORD_BATCHES": "true", **self.extra_env}

    def start(self) -> "Worker":
        # `launcher` is the module run with -m: the CLI itself, or a test wrapper around it
        self.proc = subprocess.Popen([sys.executable, "-m", self.launcher, "worker", "--metrics-port",
                                      str(self.metrics_port), "--log-level", "info", *self.args], env=self.env(),
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        return self

    def stop(self) -> None:
        stop_process(self.proc, timeout=30)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_caught_up(self, topics: list[str], targets: dict | None = None, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.alive(), f"worker died:\n{self.log.read_text()[-3000:]}"
            if group_lag(self.bootstrap, Settings().app_id, topics, targets) == 0:
                return
            time.sleep(0.5)
        from kafka import KafkaAdminClient, KafkaConsumer

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap)
        committed = admin.list_group_offsets(Settings().app_id).get(Settings().app_id, {})
        ends = consumer.end_offsets([TopicPartition(t, p) for t in topics for p in range(Settings().partitions)])
        behind = {f"{tp.topic}[{tp.partition}]": (committed.get(tp), end) for tp, end in ends.items()
                  if end and (tp not in committed or committed[tp].offset != end)}
        admin.close()
        consumer.close()
        lines = [ln for ln in self.log.read_text().splitlines() if "[INFO]" in ln or "ERROR" in ln or "WARN" in ln]
        raise AssertionError(f"worker did not catch up in {timeout}s; behind: {behind}; its log ends:\n"
                             + "\n".join(lines[-25:]))

    def sql(self, query: str) -> list[dict]:
        """Query its ClickHouse through the CLI, as a user would (chDB allows one path per process)."""
        out = subprocess.run([sys.executable, "-m", "pipeline", "sql", query, "--format", "json"], env=self.env(),
                             capture_output=True, timeout=120)
        assert out.returncode == 0, out.stderr.decode()[-2000:]
        return [orjson.loads(line) for line in out.stdout.splitlines() if line.strip()]


@pytest.fixture
def worker_factory(broker, tmp_path):
    workers: list[Worker] = []

    def make(name: str = "worker", **kwargs) -> Worker:
        w = Worker(broker.bootstrap, tmp_path, name, **kwargs)
        workers.append(w)
        return w.start()

    yield make
    for w in workers:
        w.stop()
