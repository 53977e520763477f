"""The Faust app: one agent around the hot path (pipeline/stream/handler.py) and its state table.

The agent takes a few messages at a time (bounded by count and time), hands them to the handler,
sends what it returns (alerts, links, late events, dead letters) and writes the state snapshots.
Rows to store gather over takes into inserts of up to CASCADEWATCH_SINK__BATCH_SIZE rows (or
__FLUSH_INTERVAL_S), written in a thread while the next takes are handled. Messages are acked by
hand, so Faust commits their offsets only after all of that is done for them: a crash replays
them, and the detector and the ClickHouse tables absorb the duplicates (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref

import faust
from faust.streams import _current_event

from pipeline.config import Settings
from pipeline.contracts.registry import detected_on
from pipeline.stream import metrics
from pipeline.stream.handler import Handler, Message, Outputs

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
    handler = Handler(settings, store=store is not None, load_state=state.get)
    sends = {name: app.topic(getattr(settings.topics, name), **raw) for name in ("alerts", "links", "late", "deadletter")}

    take = Take()

    @app.agent(app.topic(*handler.topics(), **raw), name="detect")
    async def detect(stream):
        take.stream = stream.noack()  # acked by hand: after the take's output is sent and stored
        async for event in take.stream.events():
            take.add_message(event)
            if len(take.messages) >= settings.stream.take_messages:
                await step()

    @app.timer(min(settings.stream.take_within_s, settings.sink.flush_interval_s) / 2)
    async def _due():
        # A quiet topic: what waited long enough is handled and stored without a further message.
        if take.messages and time.monotonic() - take.messages_since >= settings.stream.take_within_s:
            await step()
        if take.unstored and time.monotonic() - take.rows_since >= settings.sink.flush_interval_s:
            await save()

    async def step() -> None:
        async with take.lock:
            events, take.messages = take.messages, []
            if not events:
                return
            out = handler.handle([Message(e.message.topic, e.value, e.key, e.message.partition, e.message.offset)
                                  for e in events])
            await deliver(out, events)
            if store is None:
                await take.ack(events)
                return
            take.add_rows(out.rows, events)
            if len(take.rows) >= settings.sink.batch_size:
                await save(locked=True)

    async def save(locked: bool = False) -> None:
        """Start storing the rows so far (one insert at a time, in order); their events are acked once stored."""
        if not locked:
            async with take.lock:
                return await save(locked=True)
        rows, events = take.take_rows()
        if take.inflight is not None:
            await take.inflight
        take.inflight = asyncio.ensure_future(store_then_ack(rows, events))

    async def store_then_ack(rows: list[dict], events: list) -> None:
        if rows:
            counts = await _insert_with_retry(store, rows)
            for table, n in counts.items():
                metrics.STORED.labels(table).inc(n)
        await take.ack(events)

    async def deliver(out: Outputs, events) -> None:
        """Send, then write the state table. Faust flushes its producer before it commits any offset, so
        what is sent here is on the broker before the messages that caused it count as done."""
        for name, pairs in (("alerts", out.alerts), ("links", out.links), ("late", out.late),
                            ("deadletter", out.dead)):
            topic = sends[name]
            for key, value in pairs:
                await topic.send(key=key, value=value)
        by_partition = {e.message.partition: e for e in events}
        for asset, snap in out.states.items():
            # A table write goes to the changelog partition of the event being handled: Faust reads it
            # from the current event, which is not the one of this asset here.
            token = _current_event.set(weakref.ref(by_partition[out.partitions[asset]]))
            try:
                state[asset] = snap
            finally:
                _current_event.reset(token)

    @app.on_rebalance_complete.connect
    async def _forget_cached_state(sender, **kwargs):
        handler.forget()

    return app


class Take:
    """What the agent holds between messages: those not yet handled, and those handled whose rows are
    not yet stored (acked only once they are)."""

    def __init__(self) -> None:
        self.stream = None  # the agent's stream, acked by hand
        self.lock = asyncio.Lock()
        self.messages: list = []
        self.messages_since = 0.0
        self.rows: list[dict] = []
        self.unstored: list = []
        self.rows_since = 0.0
        self.inflight: asyncio.Future | None = None

    def add_message(self, event) -> None:
        if not self.messages:
            self.messages_since = time.monotonic()
        self.messages.append(event)

    def add_rows(self, rows: list[dict], events: list) -> None:
        if not self.unstored:
            self.rows_since = time.monotonic()
        self.rows.extend(rows)
        self.unstored.extend(events)

    def take_rows(self) -> tuple[list[dict], list]:
        rows, events = self.rows, self.unstored
        self.rows, self.unstored = [], []
        return rows, events

    async def ack(self, events: list) -> None:
        for event in events:
            await self.stream.ack(event)


async def _insert_with_retry(store, rows: list[dict], max_delay_s: float = 30.0) -> dict[str, int]:
    """Insert rows, retrying with capped backoff until they are stored.

    It never gives up: giving up would commit offsets past rows that were never written. Retries
    are safe: inserts are deduplicated.
    """
    loop = asyncio.get_running_loop()
    delay, attempt = 0.5, 0
    while True:
        attempt += 1
        try:
            return await loop.run_in_executor(None, store.insert_events, rows)
        except Exception:  # noqa: BLE001 - the store raises driver-specific errors
            log.warning("ClickHouse insert of %d rows failed (attempt %d), retrying in %.1fs",
                        len(rows), attempt, delay, exc_info=attempt == 1)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay_s)
