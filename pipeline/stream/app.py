"""The Faust app: one agent around the hot path (pipeline/stream/handler.py) and its state table.

The agent takes a few messages at a time (bounded by count and time), hands them to the handler and
sends what it returns (alerts, links, late events, dead letters), waiting for the broker to confirm
alerts and links. The state of every asset it changed is written to the state table just before
each offset commit (pipeline/stream/handoff.py), so a worker taking over a partition resumes from
a state that covers the committed offsets. Rows to store go to a background writer
(pipeline/sinks/writer.py) that inserts up to CASCADEWATCH_SINK__BATCH_SIZE rows at a time and
acknowledges a message only once its rows are stored, so a store outage neither stops detection
nor lets offsets commit past unstored rows. A crash replays the unacknowledged messages, and the
detector and the ClickHouse tables absorb the duplicates (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
import time

import faust

from pipeline.config import Settings
from pipeline.contracts.registry import detected_on
from pipeline.sinks.writer import BackgroundWriter
from pipeline.stream import metrics
from pipeline.stream.handler import Handler, Message, Outputs
from pipeline.stream.handoff import StateCheckpoint

log = logging.getLogger("cascadewatch.stream")


def topic_types(settings: Settings) -> dict[str, set[str]]:
    """Topic -> the event types the detector accepts on it."""
    return detected_on(settings.topics)


def build_app(settings: Settings, bootstrap: str, store=None) -> faust.App:
    """`store` is a pipeline.sinks Store; None runs without the ClickHouse sink."""
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{h}" for h in bootstrap.split(",")],
        store="memory://",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        broker_commit_interval=1.0,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        broker_session_timeout=settings.rebalance_timeout_s,
        broker_heartbeat_interval=max(0.5, settings.rebalance_timeout_s / 4),
        consumer_max_fetch_size=max(1024 * 1024, 2 * settings.stream.max_message_bytes),
        web_enabled=False,
        producer_max_request_size=8 * 1024 * 1024,  # state-table snapshots can exceed 1 MiB in a cascade
    )
    if settings.single_record_batches:
        # A batch bound smaller than any record makes each record its own batch (see Settings).
        app.conf.producer_max_batch_size = 1
        app.conf.producer_linger = 0.0
    raw = dict(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
               partitions=settings.partitions)
    # Snapshots are JSON the handler encodes itself (bytes: the raw codec; the changelog holds JSON as before).
    state = app.Table("detector_state", default=None, partitions=settings.partitions, value_type=bytes)
    # No throttled snapshots from the handler: the checkpoint writes them before each commit.
    handler = Handler(settings, store=store is not None, load_state=state.get, snapshot_every_s=None)
    checkpoint = StateCheckpoint(state, handler)
    app.sensors.add(checkpoint)
    sends = {name: app.topic(getattr(settings.topics, name), **raw) for name in ("alerts", "links", "late", "deadletter")}

    take = Take()

    @app.agent(app.topic(*handler.topics(), **raw), name="detect")
    async def detect(stream):
        take.stream = stream.noack()  # acked by hand: after the take's output is sent and stored
        if store is None:
            return await read(take.stream)
        take.writer = BackgroundWriter(store, ack=take.stream.ack, batch_size=settings.sink.batch_size,
                                       flush_interval_s=settings.sink.flush_interval_s,
                                       rollup_interval_s=settings.sink.rollup_interval_s,
                                       max_backlog=settings.sink.max_backlog,
                                       retry_max_delay_s=settings.sink.retry_max_delay_s, on_stored=_count_stored)
        async with take.writer.running():
            await read(take.stream)

    async def read(stream) -> None:
        async for event in stream.events():
            take.add_message(event)
            if len(take.messages) >= settings.stream.take_messages:
                await step()

    @app.timer(settings.stream.take_within_s / 2)
    async def _due():
        # A quiet topic: what waited long enough is handled without a further message.
        if take.messages and time.monotonic() - take.messages_since >= settings.stream.take_within_s:
            await step()

    async def step() -> None:
        async with take.lock:
            events, take.messages = take.messages, []
            if not events:
                return
            out = handler.handle([Message(e.message.topic, e.value, e.key, e.message.partition, e.message.offset)
                                  for e in events])
            for asset, partition in out.partitions.items():
                checkpoint.touched(asset, partition)
            await deliver(out)
            if take.writer is None:
                await take.ack(events)
            else:
                await take.writer.put_many(out.rows, events)

    async def deliver(out: Outputs) -> None:
        """Send, and wait until the broker has alerts and links: a state that records them may be written
        at the next commit, and a crash after that must not leave them unsent."""
        confirm = []
        for name, pairs in (("alerts", out.alerts), ("links", out.links), ("late", out.late),
                            ("deadletter", out.dead)):
            topic = sends[name]
            for key, value in pairs:
                fut = await topic.send(key=key, value=value)
                if name in ("alerts", "links"):
                    confirm.append(fut)
        if confirm:
            await asyncio.gather(*confirm)

    @app.on_rebalance_complete.connect
    async def _forget_cached_state(sender, **kwargs):
        # Partitions may have moved: the state is reloaded from the table (written when they were revoked).
        handler.forget()
        checkpoint.forget()

    return app


class Take:
    """What the agent holds between messages: those not yet handled, and the writer of their rows."""

    def __init__(self) -> None:
        self.stream = None  # the agent's stream, acked by hand
        self.writer: BackgroundWriter | None = None
        self.lock = asyncio.Lock()
        self.messages: list = []
        self.messages_since = 0.0

    def add_message(self, event) -> None:
        if not self.messages:
            self.messages_since = time.monotonic()
        self.messages.append(event)

    async def ack(self, events: list) -> None:
        for event in events:
            await self.stream.ack(event)


def _count_stored(counts: dict[str, int]) -> None:
    for table, n in counts.items():
        metrics.STORED.labels(table).inc(n)
