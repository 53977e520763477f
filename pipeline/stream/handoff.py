"""State handoff between workers: the detector state table is brought up to date before offsets commit.

A worker that takes over a partition (after a rebalance, a graceful stop or a crash of its owner)
restores each asset's state from the `detector_state` table and resumes from the group's committed
offsets. That is only right if the table holds the effect of every event up to those offsets, so
the state of every asset changed since the last commit is written just before each commit: Faust
calls `on_commit_initiated` before it picks the offsets to commit (nothing runs in between, so the
snapshot covers them), then flushes the producer (changelog included) and only then commits. It
commits every `broker_commit_interval`, while partitions are revoked in a rebalance, and at shutdown.

The state may run ahead of the committed offsets (events processed but not yet acknowledged): the
next owner reads those events again, and the detector ignores what it has already seen.
"""

from __future__ import annotations

import logging

from faust.sensors import Sensor

log = logging.getLogger("cascadewatch.stream")


class StateCheckpoint(Sensor):
    """Writes the snapshots of the assets the agent changed (`touched`) at every commit.

    `handler` is the agent's pipeline.stream.handler.Handler: its detector holds the states, and it
    encodes them as the table stores them."""

    def __init__(self, table, handler) -> None:
        super().__init__()
        self.table, self.handler = table, handler
        self.dirty: dict[str, int] = {}  # asset -> partition of the messages that carry it

    def touched(self, asset: str, partition: int) -> None:
        self.dirty[asset] = partition

    def forget(self) -> None:
        """After a rebalance: the assets may belong to another worker now, and were written when revoked."""
        self.dirty.clear()

    def write(self) -> int:
        """Snapshot every changed asset the worker still holds into the table; returns how many."""
        n = 0
        for asset, partition in self.dirty.items():
            if asset not in self.handler.detector.assets:
                continue  # dropped after a rebalance: never overwrite the table with an empty state
            snap = self.handler.encode_state(asset)
            # As Table.__setitem__ does, but outside an event: the partition is the asset's input partition
            # (the topics and the table are co-partitioned by asset).
            self.table.data[asset] = snap
            self.table.send_changelog(partition, asset, snap)
            n += 1
        self.dirty.clear()
        return n

    def on_commit_initiated(self, consumer):
        try:
            self.write()
        except Exception:  # noqa: BLE001 - a failed snapshot must not stop the commit loop; logged loudly
            log.exception("writing the detector state before a commit failed")
        return super().on_commit_initiated(consumer)
