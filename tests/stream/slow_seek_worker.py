"""`python -m tests.stream.slow_seek_worker worker ...`: the CLI with Faust's seek to the committed offsets held.

After a rebalance Faust resumes the input partitions and seeks them to the group's committed offsets.
While the file `armed` exists in the directory CASCADEWATCH_DRILL_SEEK_GATE, the next such seek (input
partitions resumed) is held, as a slow broker or a loaded machine can make it: it writes `held` there
(`flow_active=True|False`: whether the consumer may hand records on meanwhile) and waits for the file
`go`. Every input record the consumer hands on while the seek is held is appended to `early`
("topic partition offset"). Everything else is the real CLI."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from faust.transport.consumer import Consumer

GATE = Path(os.environ["CASCADEWATCH_DRILL_SEEK_GATE"])
_perform_seek, _getmany = Consumer.perform_seek, Consumer.getmany
holding = False


def _inputs_resumed(consumer: Consumer) -> bool:
    return any(not consumer._is_changelog_tp(tp) for tp in consumer._get_active_partitions())


async def perform_seek(self: Consumer) -> None:
    global holding
    armed = GATE / "armed"
    if armed.exists() and _inputs_resumed(self):
        armed.unlink()
        holding = True
        (GATE / "held").write_text(f"flow_active={self.flow_active}\n")
        deadline = time.monotonic() + 300
        while not (GATE / "go").exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        try:
            return await _perform_seek(self)
        finally:
            holding = False
    return await _perform_seek(self)


async def getmany(self: Consumer, timeout: float):
    async for tp, message in _getmany(self, timeout):
        if holding and not self._is_changelog_tp(tp):
            with (GATE / "early").open("a") as f:
                f.write(f"{tp.topic} {tp.partition} {message.offset}\n")
        yield tp, message


Consumer.perform_seek = perform_seek
Consumer.getmany = getmany

if __name__ == "__main__":
    GATE.mkdir(parents=True, exist_ok=True)
    from pipeline.cli import main

    main()
