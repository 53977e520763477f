"""Workers of one consumer group driven step by step in one process, without timing luck: the real
handler, state checkpoint and takes (pipeline/stream/), over a model of what the broker keeps for them
(the partitioned logs, the committed offsets, the state table's confirmed records).

What the model keeps as Kafka does: a partition's committed offset only moves over acknowledged
messages (here at once, the worst case for a handoff); a state record exists for the next owner only
once the broker confirmed it; a worker that takes partitions over restores from those records and
reads from the committed offsets; links are keyed by their target asset. The test decides when a
state write is confirmed, when a rebalance happens and when a worker dies.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import orjson
from kafka.partitioner.default import murmur2

from pipeline.config import Settings
from pipeline.stream.handler import Handler
from pipeline.stream.handoff import StateCheckpoint
from pipeline.stream.messages import Message
from pipeline.stream.takes import Takes

NOW = 1_756_065_800.0  # the workers' wall clock, seconds (the detector's idle timeouts)


def partition_of(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class Broker:
    """The logs, committed offsets and confirmed state records of one group."""

    def __init__(self, settings: Settings, partitions: int = 2):
        self.settings, self.partitions = settings, partitions
        self.logs: dict[tuple[str, int], list[Message]] = defaultdict(list)
        self.seq: dict[tuple[str, int, int], float] = {}  # arrival order, links right after their cause
        self.committed: dict[tuple[str, int], int] = defaultdict(int)
        self.acked: dict[tuple[str, int], set[int]] = defaultdict(set)
        self.table: dict[str, bytes] = {}  # the state table as the next owner restores it
        self.in_flight: list[tuple[str, bytes, asyncio.Future]] = []
        self.auto_confirm = True
        self.alerts: list[dict] = []

    def append(self, topic: str, key: bytes, value: bytes, seq: float) -> Message:
        p = partition_of(key, self.partitions)
        log = self.logs[(topic, p)]
        msg = Message(topic, value, key, p, len(log))
        log.append(msg)
        self.seq[(topic, p, msg.offset)] = seq
        return msg

    def ack(self, msg: Message) -> None:
        tp = (msg.topic, msg.partition)
        self.acked[tp].add(msg.offset)
        while self.committed[tp] in self.acked[tp]:
            self.committed[tp] += 1

    def confirm(self) -> int:
        """The broker takes every state record in flight (in the order sent)."""
        n = 0
        for asset, snap, fut in self.in_flight:
            if not fut.done():
                self.table[asset] = snap
                fut.set_result(None)
                n += 1
        self.in_flight.clear()
        return n

    def lose_in_flight(self) -> None:
        """The sender died before the broker had them."""
        self.in_flight.clear()


class Worker:
    """One `cascadewatch worker`: its handler, checkpoint and takes, the partitions it owns and where it
    reads them."""

    def __init__(self, broker: Broker, name: str, take: int = 64, save_every: int = 4):
        self.broker, self.name, self.take = broker, name, take
        self.handler = Handler(broker.settings, store=False, load_state=broker.table.get, clock=lambda: NOW,
                               snapshot_every_s=None)
        self.now = 0.0  # the checkpoint's clock: one unit per take, a save due every `save_every` takes
        self.checkpoint = StateCheckpoint(self.handler, self.send_state, every_s=save_every, clock=lambda: self.now)
        self.takes = Takes(self.handler, self.checkpoint, deliver=self.deliver, release=self.release,
                           message=lambda m: m, clock=lambda: self.now)
        self.owned: set[int] = set()
        self.position: dict[tuple[str, int], int] = {}
        self.cause = 0.0  # seq of the take being handled (links come right after it)
        self.alive = True

    async def send_state(self, asset: str, partition: int | None, snap: bytes):
        fut = asyncio.get_running_loop().create_future()
        self.broker.in_flight.append((asset, snap, fut))
        if self.broker.auto_confirm:
            self.broker.confirm()
        return fut

    async def deliver(self, out) -> None:
        self.broker.alerts.extend(orjson.loads(v) for _, v in out.alerts)
        for i, (key, value) in enumerate(out.links):
            self.broker.append(self.broker.settings.topics.links, key, value, self.cause + (i + 1) * 1e-6)

    async def release(self, rows: list[dict], events: list[Message]) -> None:
        for m in events:
            self.broker.ack(m)

    def assign(self, partitions: set[int]) -> None:
        """Read the given partitions from the committed offsets."""
        self.owned = set(partitions)
        self.position = {tp: self.broker.committed[tp] for tp in self.broker.logs if tp[1] in self.owned}

    def next_message(self) -> Message | None:
        """The unread message of its partitions that arrived first."""
        best, best_seq = None, None
        for tp, log in self.broker.logs.items():
            if tp[1] not in self.owned:
                continue
            pos = self.position.setdefault(tp, self.broker.committed[tp])
            if pos < len(log):
                s = self.broker.seq[(tp[0], tp[1], pos)]
                if best_seq is None or s < best_seq:
                    best, best_seq = log[pos], s
        return best

    def fetch(self) -> list[Message]:
        """Up to one take of messages, as the agent would get them (added to its takes)."""
        got = []
        while len(got) < self.take and (m := self.next_message()) is not None:
            self.position[(m.topic, m.partition)] += 1
            got.append(m)
            self.takes.add(m)
        return got

    async def step(self) -> bool:
        """Fetch and handle one take; False when there was nothing to read."""
        got = self.fetch()
        if not got:
            return False
        self.now += 1
        self.cause = max(self.broker.seq[(m.topic, m.partition, m.offset)] for m in got)
        await self.takes.step()
        return True

    async def run(self, until=lambda w: False) -> None:
        """Take after take until nothing is left to read or `until(worker)` holds."""
        while not until(self) and await self.step():
            pass
        if not until(self):
            await self.takes.tick(0.0, rebalancing=True)  # as the agent's timer does once the topics are quiet


def load(broker: Broker, msgs: list[Message]) -> None:
    """The producers' messages, in the order they arrive, into the partitioned logs."""
    for i, m in enumerate(msgs):
        broker.append(m.topic, m.key, m.value, float(i))


def head_seq(w: Worker) -> float | None:
    m = w.next_message()
    return None if m is None else w.broker.seq[(m.topic, m.partition, m.offset)]


async def run_group(workers: list[Worker], until=lambda: False) -> None:
    """The live workers side by side, each taking its next take when its unread messages are the oldest,
    until nothing is left to read or `until()` holds."""
    while not until():
        heads = [(s, i) for i, w in enumerate(workers) if w.alive and (s := head_seq(w)) is not None]
        if not heads:
            for w in workers:
                if w.alive:
                    await w.takes.tick(0.0, rebalancing=True)  # as the agent's timer does once the topics are quiet
            return
        await workers[min(heads)[1]].step()


def unique_alerts(alerts: list[dict]) -> dict[tuple, dict]:
    """By (alert_id, stage, revision); a repeat must be the same alert field for field."""
    out: dict[tuple, dict] = {}
    for a in alerts:
        key = (a["alert_id"], a["stage"], a.get("revision", 0))
        assert out.setdefault(key, a) == a, (key, a, out[key])
    return out
