"""Baseline for bench/throughput.py: a bare aiokafka consumer, run as its own process.

Joins its own consumer group on the given topics, reads from the earliest offset until it has
seen N messages, decodes each value with orjson and drops it. Prints one JSON line: seconds from
process start to partition assignment, seconds from assignment to the N-th message, and the
process's peak RSS (VmHWM). Imports only aiokafka and orjson so that its RSS is a fair floor.

    python bench/_baseline_consumer.py BOOTSTRAP GROUP N TOPIC [TOPIC ...]
"""

from __future__ import annotations

import time

T_PROCESS = time.perf_counter()  # before the imports: startup includes them, as the worker's does

import asyncio  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

import orjson  # noqa: E402
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener  # noqa: E402


def status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class _Assigned(ConsumerRebalanceListener):
    def __init__(self) -> None:
        self.at: float | None = None

    async def on_partitions_revoked(self, revoked) -> None:
        pass

    async def on_partitions_assigned(self, assigned) -> None:
        if assigned and self.at is None:
            self.at = time.perf_counter()


async def consume(bootstrap: str, group: str, n: int, topics: list[str]) -> dict:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                                enable_auto_commit=False, client_id="cascadewatch-bench-baseline")
    listener = _Assigned()
    consumer.subscribe(topics, listener=listener)
    await consumer.start()
    count, loads = 0, orjson.loads
    try:
        while count < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batch.values():
                for rec in records:
                    loads(rec.value)
                count += len(records)
        t_end = time.perf_counter()
    finally:
        await consumer.stop()
    return {"events": count, "startup_s": listener.at - T_PROCESS, "seconds": t_end - listener.at,
            "vmhwm_kib": status_kib("VmHWM"), "vmrss_kib": status_kib("VmRSS")}


def main() -> None:
    bootstrap, group, n, *topics = sys.argv[1:]
    result = asyncio.run(consume(bootstrap, group, int(n), topics))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
