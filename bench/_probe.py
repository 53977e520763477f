"""Helpers of bench/throughput.py and bench/latency.py: child processes, their memory, and consumer-group lag."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition


def die_with_parent() -> None:  # preexec_fn: the worker gets SIGTERM if this process dies
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (all its threads), from /proc/PID/stat."""
    import os

    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


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


def read_all(bootstrap: str, topic: str, idle_s: float = 1.5) -> list[bytes]:
    """Every value on a topic, read from the start until nothing more came for `idle_s`."""
    import time

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", fetch_max_wait_ms=100)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        out: list[bytes] = []
        quiet_until = time.monotonic() + idle_s
        while time.monotonic() < quiet_until:
            got = consumer.poll(timeout_ms=200)
            for records in got.values():
                out.extend(r.value for r in records)
            if got:
                quiet_until = time.monotonic() + idle_s
        return out
    finally:
        consumer.close()
