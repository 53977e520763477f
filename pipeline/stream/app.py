"""The Faust app: topics keyed by asset, the detector agent with its state table, and the sink agent.

Agents are thin: they parse, route bad input to the dead-letter topic, call the pure detection
core, publish its alerts, and hand valid events to the ClickHouse batch writer.
"""

from __future__ import annotations

import asyncio
import logging
import time

import faust
import orjson

from pipeline.config import Settings
from pipeline.contracts.models import ContractError, Trade, dump_event, parse_event
from pipeline.detect import CascadeDetector
from pipeline.sources.exchanges.health import FeedHealth
from pipeline.sinks.writer import BackgroundWriter
from pipeline.stream import metrics
from pipeline.stream.deadletter import dead_letter
from pipeline.stream.handoff import StateCheckpoint

log = logging.getLogger("cascadewatch.stream")


def topic_types(settings: Settings) -> dict[str, set[str]]:
    t = settings.topics
    return {t.whale_transfers: {"whale_transfer"}, t.liquidations: {"liquidation"},
            t.trade_flow: {"trade_flow"}, t.etf_flows: {"etf_flow"}, t.alerts: {"alert"}, t.links: {"link"}}


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
        consumer_max_fetch_size=1024 * 1024,
        web_enabled=False,
        producer_max_request_size=8 * 1024 * 1024,  # state-table snapshots can exceed 1 MiB in a cascade
    )
    if settings.single_record_batches:
        # A batch bound smaller than any record makes each record its own batch (see Settings).
        app.conf.producer_max_batch_size = 1
        app.conf.producer_linger = 0.0
    raw = dict(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
               partitions=settings.partitions)
    inputs = app.topic(*settings.topics.inputs(), settings.topics.links, **raw)
    links_topic = app.topic(settings.topics.links, **raw)
    alerts_topic = app.topic(settings.topics.alerts, **raw)
    dl_topic = app.topic(settings.topics.deadletter, **raw)
    late_topic = app.topic(settings.topics.late, **raw)
    expect = topic_types(settings)
    state = app.Table("detector_state", default=None, partitions=settings.partitions)
    detector = CascadeDetector(settings.detector)
    checkpoint = StateCheckpoint(state, detector)  # the state table is written before every offset commit
    app.sensors.add(checkpoint)

    @app.agent(inputs, name="detect")
    async def detect(stream):
        async for ev in stream.events():
            msg = ev.message
            try:
                event = parse_event(ev.value, max_bytes=settings.max_event_bytes, expect=expect[msg.topic])
            except ContractError as err:
                metrics.DEADLETTER.labels(msg.topic, err.reason).inc()
                log.warning("dead-letter %s[%s]@%s: %s", msg.topic, msg.partition, msg.offset, err)
                await dl_topic.send(key=ev.key, value=dead_letter(err, topic=msg.topic, partition=msg.partition,
                                                                   offset=msg.offset, key=ev.key, value=ev.value))
                continue
            metrics.EVENTS.labels(msg.topic).inc()
            asset = event.asset
            if asset not in detector.assets:
                snap = state.get(asset)
                if snap:
                    detector.restore(asset, snap)
            now = time.time()
            try:
                out = detector.process(event, now_ms=int(now * 1000))
            except Exception as exc:  # noqa: BLE001 - a detector bug must not stop the stream
                log.exception("detector failed on %s[%s]@%s", msg.topic, msg.partition, msg.offset)
                err = ContractError("processing_error", f"{type(exc).__name__}: {exc}")
                metrics.DEADLETTER.labels(msg.topic, err.reason).inc()
                await dl_topic.send(key=ev.key, value=dead_letter(err, topic=msg.topic, partition=msg.partition,
                                                                   offset=msg.offset, key=ev.key, value=ev.value))
                continue
            checkpoint.touched(asset, msg.partition)
            alerts = out.alerts
            sent = []
            for alert in alerts:
                metrics.ALERTS.labels(asset, alert.stage).inc()
                sent.append(await alerts_topic.send(key=asset.encode(), value=dump_event(alert)))
            # Contagion links and progress markers: the target's state may live on another partition.
            for link in out.links:
                sent.append(await links_topic.send(key=link.asset.encode(), value=dump_event(link)))
            if sent:
                # Delivered before any state that records them is written: a crash in between must
                # leave them to be sent again, never a state saying they were.
                await asyncio.gather(*sent)
            if out.late:
                # Side output: the event as it arrived, for inspection or a later amended replay.
                metrics.LATE.labels(asset).inc()
                await late_topic.send(key=ev.key, value=ev.value)
            # The state reaches the table before the offsets commit (StateCheckpoint), not here.

    @app.on_rebalance_complete.connect
    async def _forget_cached_state(sender, **kwargs):
        # Partitions may have moved: reload each asset's state from the table on next use.
        detector.assets.clear()
        checkpoint.forget()

    # topics the sink stores that the detector does not read: validated here, never dead-lettered
    stored_only = {settings.topics.feed_health: FeedHealth, settings.topics.trades: Trade}

    def storable(topic: str, value: bytes) -> dict | None:
        """The event dict to store, or None for input the detect agent dead-letters."""
        if topic == settings.topics.deadletter:
            return orjson.loads(value)
        model = stored_only.get(topic)
        if model is not None:
            try:
                return model.model_validate(orjson.loads(value)).model_dump(mode="json")
            except (ValueError, orjson.JSONDecodeError):
                log.warning("unreadable %s message on %s skipped", model.__name__, topic)
                return None
        try:
            return parse_event(value, max_bytes=settings.max_event_bytes, expect=expect[topic]).model_dump(mode="json")
        except ContractError:
            return None

    if store is not None:
        sink_topic = app.topic(*settings.topics.inputs(), settings.topics.alerts, settings.topics.deadletter,
                               *stored_only, **raw)

        # The writer stores in the background, so a store outage does not stop detection (see
        # pipeline/sinks/writer.py); an event is acknowledged only once stored.
        @app.agent(sink_topic, name="sink")
        async def sink(stream):
            stream.enable_acks = False
            writer = BackgroundWriter(store, ack=stream.ack, batch_size=settings.sink.batch_size,
                                      flush_interval_s=settings.sink.flush_interval_s,
                                      max_backlog=settings.sink.max_backlog,
                                      retry_max_delay_s=settings.sink.retry_max_delay_s, on_stored=_count_stored)
            async with writer.running():
                async for ev in stream.events():
                    await writer.put(storable(ev.message.topic, ev.value), ev)

    return app


def _count_stored(counts: dict[str, int]) -> None:
    for table, n in counts.items():
        metrics.STORED.labels(table).inc(n)
