"""The Faust app: one agent around the hot path (pipeline/stream/handler.py) and its state table.

The agent takes a few messages at a time (bounded by count and time) and hands them to the handler
(pipeline/stream/takes.py); it sends what the handler returns (alerts, links, late events, dead
letters), waiting for the broker to confirm all of it. A take is acknowledged only once the
state of every asset it changed has been written to the state table's changelog and confirmed
(pipeline/stream/handoff.py, about once a second and at every alert), so a worker taking over a
partition resumes from a state that covers the committed offsets; no take is handled while a
rebalance is under way. Rows to store go to a background writer (pipeline/sinks/writer.py) that
inserts up to CASCADEWATCH_SINK__BATCH_SIZE rows at a time and acknowledges a message only once its
rows are stored, so a store outage neither stops detection nor lets offsets commit past unstored
rows. A crash replays the unacknowledged messages, and the detector and the ClickHouse tables
absorb the duplicates (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging

import faust
from faust.types import TP

from pipeline.config import Settings
from pipeline.contracts.registry import detected_on
from pipeline.sinks.writer import BackgroundWriter
from pipeline.stream import metrics
from pipeline.stream.align import Alignment
from pipeline.stream.deadletter import cut
from pipeline.stream.handler import Handler
from pipeline.stream.handoff import StateCheckpoint
from pipeline.stream.messages import Message, Outputs
from pipeline.stream.takes import SaveOnCommit, Takes

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
    # No throttled snapshots from the handler: the checkpoint writes them before acknowledging a take.
    handler = Handler(settings, store=store is not None, load_state=state.get, snapshot_every_s=None)

    async def send_state(asset: str, partition: int | None, snap: bytes):
        # As Table.__setitem__ does, but outside an event and confirmed: the partition is the asset's input
        # partition (the topics and the table are co-partitioned by asset).
        state.data[asset] = snap
        return await state.changelog_topic.send(key=asset, value=snap, partition=partition,
                                                key_serializer=state.key_serializer,
                                                value_serializer=state.value_serializer)

    checkpoint = StateCheckpoint(handler, send_state, every_s=app.conf.broker_commit_interval)
    sends = {name: app.topic(getattr(settings.topics, name), **raw) for name in OUTPUT_TOPICS}
    stream_ref: dict = {}  # the agent's stream (acked by hand) and the sink's writer, once the agent runs

    async def release(rows: list[dict], events: list) -> None:
        writer = stream_ref.get("writer")
        if writer is not None:
            await writer.put_many(rows, events)  # acknowledged once stored
        else:
            for event in events:
                await stream_ref["stream"].ack(event)

    align = Alignment(settings.stream.align_max_wait_s, settings.stream.align_max_held) \
        if settings.stream.align_backlog else None
    takes = Takes(handler, checkpoint, deliver=lambda out: deliver(out), release=release,
                  message=lambda e: Message(e.message.topic, e.value, e.key, e.message.partition, e.message.offset),
                  record=settings.stream.record_takes, align=align,
                  position=lambda tp: app.consumer.position(TP(*tp)))
    app.sensors.add(SaveOnCommit(takes, lambda: app.rebalancing or app.should_stop))

    @app.agent(app.topic(*handler.topics(), **raw), name="detect")
    async def detect(stream):
        stream_ref["stream"] = stream = stream.noack()  # acked by hand: once saved, sent and stored
        if store is None:
            return await read(stream)
        writer = stream_ref["writer"] = BackgroundWriter(
            store, ack=stream.ack, batch_size=settings.sink.batch_size,
            flush_interval_s=settings.sink.flush_interval_s, rollup_interval_s=settings.sink.rollup_interval_s,
            max_backlog=settings.sink.max_backlog, retry_max_delay_s=settings.sink.retry_max_delay_s,
            on_stored=_count_stored)
        async with writer.running():
            await read(stream)

    async def read(stream) -> None:
        async for event in stream.events():
            takes.add(event)
            if len(takes.messages) >= settings.stream.take_messages:
                await takes.step()

    @app.timer(settings.stream.take_within_s / 2)
    async def _due():
        # A quiet topic: what waited long enough is handled without a further message; and the state is
        # saved when due (at once during a rebalance: Faust waits for every delivered message's ack).
        await takes.tick(settings.stream.take_within_s, rebalancing=app.rebalancing)

    async def deliver(out: Outputs) -> None:
        await send_outputs(sends, out)

    @app.on_partitions_revoked.connect
    async def _save_before_giving_up(sender, revoked, **kwargs):
        await takes.revoked()  # all handled is saved and acknowledged; nothing more until the assignment

    @app.on_rebalance_complete.connect
    async def _forget_cached_state(sender, **kwargs):
        # Partitions may have moved: the state is reloaded from the table, which covers the committed offsets.
        # Faust sends this signal before it resumes the input partitions and seeks them to the committed offsets,
        # and after restoring a table it leaves the flow running: records fetched before that seek would reach the
        # agent, the seek would turn the rest of their batch into a gap Faust counts as acknowledged, and what the
        # agent had not taken yet is cleared. Stopped here, nothing is delivered until Faust resumes the flow, after
        # the seek (docs/reliability.md, "Workers come and go").
        app.consumer.stop_flow()
        await takes.assigned()
        if align is not None:
            takes.aligned(await _backlog_ends(app, handler.expect))

    return app


OUTPUT_TOPICS = ("alerts", "links", "late", "deadletter")
RESEND_MAX_S = 30.0


async def send_outputs(sends: dict, out: Outputs, *, sleep=asyncio.sleep) -> None:
    """Send a take's output (`sends`: output name -> topic) and return once the broker has all of it. A
    state that records its alerts and links may be saved next and the take's offsets committed after
    that: a crash then must not leave an alert, a link, a late event or a dead letter unsent (a dead
    letter is the only copy of a refused message's bytes once its offset is committed).

    A send that fails is sent again, with a backoff up to RESEND_MAX_S, until the broker takes it: the
    take is not acknowledged meanwhile, so nothing is committed past it, and the agent goes on once the
    broker does (a Faust agent that raised would be restarted without the take, whose offsets would then
    never commit). A dead letter the topic refuses as too large is sent again cut (`deadletter.cut`: its
    first 512 KiB, then none of its original), so it always goes through."""
    pending = [(name, key, value) for name, pairs in zip(OUTPUT_TOPICS, (out.alerts, out.links, out.late, out.dead))
               for key, value in pairs]
    delay = 0.5
    while pending:
        futures = []
        for name, key, value in pending:
            try:
                futures.append(await sends[name].send(key=key, value=value))
            except Exception as exc:  # noqa: BLE001 - refused before it was sent (a size check): as a failure
                failed_now = asyncio.get_running_loop().create_future()
                failed_now.set_exception(exc)
                futures.append(failed_now)
        results = await asyncio.gather(*futures, return_exceptions=True)
        again, wait = [], False
        for (name, key, value), result in zip(pending, results):
            if not isinstance(result, BaseException):
                continue
            if name == "deadletter" and "TooLarge" in type(result).__name__:
                smaller, keep = cut(value)
                log.warning("dead letter of %d bytes refused by the topic (%s): sent again with the first %d bytes "
                            "of its original; raise the topic's max.message.bytes to keep them whole", len(value),
                            type(result).__name__, keep)
                again.append((name, key, smaller))
                continue
            log.error("sending to %s failed (%s: %s): sent again in %.1f s; the take waits",
                      name, type(result).__name__, result, delay)
            again.append((name, key, value))
            wait = True
        pending = again
        if wait:
            await sleep(delay)
            delay = min(delay * 2, RESEND_MAX_S)


async def _backlog_ends(app: faust.App, topics) -> dict:
    """End offsets of the input partitions just assigned (none if the broker cannot say: no alignment)."""
    tps = [tp for tp in app.consumer.assignment() if tp.topic in topics]
    if not tps:
        return {}
    try:
        ends = await asyncio.wait_for(app.consumer.highwaters(*tps), timeout=10.0)
    except Exception as exc:  # the backlog is then read as fetched
        log.warning("end offsets of the assigned partitions unknown (%s): the backlog is read as fetched", exc)
        return {}
    return {(tp.topic, tp.partition): end for tp, end in ends.items() if end is not None}


def _count_stored(counts: dict[str, int]) -> None:
    for table, n in counts.items():
        metrics.STORED.labels(table).inc(n)
