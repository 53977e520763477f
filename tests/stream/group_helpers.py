"""Workers sharing one consumer group, watched from outside: the input partitions each one was last
assigned (from the assignment table Faust logs), the asset each partition carries, and the alerts on
the topic counted by (alert_id, stage, revision)."""

from __future__ import annotations

import re
from collections import Counter

import orjson
from kafka.partitioner.default import murmur2

from tests.conftest import read_topic

from .drill_helpers import alert_key

_ASSIGNED = re.compile(r"Setting newly assigned partitions\s*\n(.*?)for group", re.S)


def _parse_set(text: str) -> set[int]:
    out: set[int] = set()
    for part in text.strip("{} ").split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def assigned(log_text: str, topic: str) -> set[int] | None:
    """The partitions of `topic` in the worker's latest assignment, None before its first one."""
    tables = _ASSIGNED.findall(log_text)
    if not tables:
        return None
    for line in tables[-1].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] == topic:
            return _parse_set(cells[1])
    return set()


def partition_of(key: str, partitions: int) -> int:
    """Where the Kafka clients' default partitioner puts a key (murmur2, as the producers use)."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def alerts_on_topic(bootstrap: str, topic: str) -> list[dict]:
    return [orjson.loads(r.value) for r in read_topic(bootstrap, topic, idle_ms=500)]


def repeated(alerts: list[dict]) -> dict[tuple, int]:
    """Alerts published more than once, by (alert_id, stage, revision)."""
    return {k: n for k, n in Counter(map(alert_key, alerts)).items() if n > 1}


def alerts_by_asset(metrics_text: str) -> Counter:
    """cascadewatch_alerts_total per asset, from a worker's /metrics page."""
    out: Counter = Counter()
    for line in metrics_text.splitlines():
        m = re.match(r'cascadewatch_alerts_total\{asset="([^"]+)",stage="[^"]+"\} (\S+)', line)
        if m:
            out[m.group(1)] += int(float(m.group(2)))
    return out
