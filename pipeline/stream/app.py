"""The Faust app: one agent around the hot path (pipeline/stream/handler.py) and its state table.

The agent takes a few messages at a time (bounded by count and time), hands them to the handler,
sends what it returns (alerts, links, late events, dead letters), writes the state snapshots and
stores the rows. Faust commits a take's offsets only after all that is done: a crash replays the
take, and the detector and the ClickHouse tables absorb the duplicates (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
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
    state = app.Table("detector_state", default=None, partitions=settings.partitions)
    handler = Handler(settings, store=store is not None, load_state=state.get)
    sends = {name: app.topic(getattr(settings.topics, name), **raw) for name in ("alerts", "links", "late", "deadletter")}

    @app.agent(app.topic(*handler.topics(), **raw), name="detect")
    async def detect(stream):
        take = settings.stream
        async for events in stream.take_events(take.take_messages, within=take.take_within_s):
            out = handler.handle([Message(e.message.topic, e.value, e.key, e.message.partition, e.message.offset)
                                  for e in events])
            await deliver(out, events)

    async def deliver(out: Outputs, events) -> None:
        """Send, then write state, then store: all before the take's offsets are committed."""
        futures = []
        for name, pairs in (("alerts", out.alerts), ("links", out.links), ("late", out.late),
                            ("deadletter", out.dead)):
            topic = sends[name]
            for key, value in pairs:
                futures.append(await topic.send(key=key, value=value))
        if futures:
            await asyncio.gather(*futures)  # acknowledged by the broker
        by_partition = {e.message.partition: e for e in events}
        for asset, snap in out.states.items():
            # A table write goes to the changelog partition of the event being handled: Faust reads it
            # from the current event, which a take does not set.
            token = _current_event.set(weakref.ref(by_partition[out.partitions[asset]]))
            try:
                state[asset] = snap
            finally:
                _current_event.reset(token)
        if store is not None and out.rows:
            counts = await _insert_with_retry(store, out.rows)
            for table, n in counts.items():
                metrics.STORED.labels(table).inc(n)

    @app.on_rebalance_complete.connect
    async def _forget_cached_state(sender, **kwargs):
        handler.forget()

    return app


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
