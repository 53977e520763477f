"""The worker's hot path as a plain function: Kafka messages in, everything to send and store out.

`Handler.handle(messages)` parses each message once (one event or a batch envelope of many, see
schemas/batch.schema.json), runs the detector over the events, and returns an `Outputs`: alerts,
links and late events to produce, dead letters (one per bad event, with that event's own bytes and
reason, the rest of its batch processed), the rows to store (the events as received, and the alerts
and dead letters themselves) and the state snapshots to write (once per take and asset, throttled).
No I/O here: the Faust agent (pipeline/stream/app.py) sends and stores what it returns, and tests
call it without a broker.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson
from pydantic import BaseModel, ValidationError

from pipeline.config import Settings
from pipeline.contracts.envelope import is_batch, items
from pipeline.contracts.light import light_from_dict
from pipeline.contracts.models import ContractError
from pipeline.contracts.registry import TABLES, detected_on, stored_only_on
from pipeline.detect import CascadeDetector
from pipeline.stream import metrics
from pipeline.stream.deadletter import dead_letter

log = logging.getLogger("cascadewatch.stream")
_loads, _dumps = orjson.loads, orjson.dumps


@dataclass(frozen=True)
class Message:
    """One Kafka record as the agent received it."""

    topic: str
    value: bytes
    key: bytes | None = None
    partition: int | None = None
    offset: int | None = None


KeyValue = tuple[bytes | None, bytes]


@dataclass
class Outputs:
    alerts: list[KeyValue] = field(default_factory=list)  # to the alerts topic
    links: list[KeyValue] = field(default_factory=list)  # to the links topic (keyed by the target asset)
    late: list[KeyValue] = field(default_factory=list)  # to the late topic: each event as received
    dead: list[KeyValue] = field(default_factory=list)  # to the dead-letter topic
    rows: list[dict] = field(default_factory=list)  # to store (only when storing)
    states: dict[str, bytes] = field(default_factory=dict)  # asset -> state snapshot (JSON) for the state table
    partitions: dict[str, int | None] = field(default_factory=dict)  # asset -> partition its events came on
    events: int = 0  # valid events seen


class Handler:
    """The detector of one worker and what it needs around it: topic roles, limits, state loading.

    `load_state(asset)` returns the asset's saved snapshot (JSON bytes or its dict; None: nothing saved) the
    first time an asset is seen
    after start or a rebalance; `clock` gives wall-clock seconds (the detector's `now` and the
    snapshot throttle)."""

    def __init__(self, settings: Settings, *, store: bool,
                 load_state: Callable[[str], bytes | dict | None] = lambda a: None,
                 clock: Callable[[], float] = time.time, snapshot_every_s: float | None = 1.0):
        self.settings = settings
        self.store = store
        self.load_state = load_state
        self.clock = clock
        self.detector = CascadeDetector(settings.detector)
        self.expect = detected_on(settings.topics)
        self.stored_only = stored_only_on(settings.topics) if store else {}
        self.max_event = settings.max_event_bytes
        self.max_message = max(settings.stream.max_message_bytes, settings.max_event_bytes)
        # Least time between two snapshots of an asset in the outputs (an alert always gives one); None:
        # none (the caller writes the state itself, as the worker does before each commit).
        self.snapshot_every = snapshot_every_s
        self.saved_at: dict[str, float] = {}

    def topics(self) -> list[str]:
        """The topics this handler reads."""
        return [*self.expect, *self.stored_only]

    def forget(self) -> None:
        """Partitions may have moved: reload each asset's state on its next event."""
        self.detector.assets.clear()
        self.saved_at.clear()

    def handle(self, messages: Iterable[Message]) -> Outputs:
        out = Outputs()
        now = self.clock()
        now_ms = int(now * 1000)
        run = _Run(self, out, now_ms)
        for msg in messages:
            run.message(msg)
        run.count()
        if self.snapshot_every is not None:
            for asset in run.touched:
                if asset in run.alerted or now - self.saved_at.get(asset, 0.0) >= self.snapshot_every:
                    out.states[asset] = self.encode_state(asset)
                    self.saved_at[asset] = now
        return out

    def encode_state(self, asset: str) -> bytes:
        """The asset's snapshot as the state table holds it (what `load_state` gives back)."""
        return _dumps(self.detector.state(asset).to_dict(), default=list)


class _Run:
    """One call of `handle`: the per-message work, with counters for the metrics."""

    def __init__(self, h: Handler, out: Outputs, now_ms: int):
        self.h, self.out, self.now_ms = h, out, now_ms
        self.touched: set[str] = set()
        self.alerted: set[str] = set()
        self.events: Counter = Counter()
        self.dead: Counter = Counter()
        self.late: Counter = Counter()
        self.stages: Counter = Counter()

    def message(self, msg: Message) -> None:
        h = self.h
        value = msg.value
        if len(value) > h.max_message:
            return self.refuse(msg, ContractError("oversize", f"{len(value)} bytes > limit {h.max_message}"), value)
        model = h.stored_only.get(msg.topic)
        try:
            obj = _loads(value)
        except orjson.JSONDecodeError as exc:
            if model is not None:
                log.warning("unreadable message on %s skipped: %s", msg.topic, exc)
                return None
            return self.refuse(msg, ContractError("malformed_json", str(exc)), value)
        if is_batch(obj):
            try:
                batch = items(obj)
            except ContractError as err:
                return self.refuse(msg, err, value)
            check_size = len(value) > h.max_event  # no item can be larger than the whole message
            for i, item in enumerate(batch):
                if model is not None:
                    self.stored_only(msg, item, model)
                    continue
                raw = None
                if check_size:
                    raw = _dumps(item)
                    if len(raw) > h.max_event:
                        self.refuse(msg, ContractError("oversize", f"{len(raw)} bytes > limit {h.max_event}"), raw, i)
                        continue
                self.event(msg, item, raw, i)
        elif model is not None:
            self.stored_only(msg, obj, model)
        elif len(value) > h.max_event:
            self.refuse(msg, ContractError("oversize", f"{len(value)} bytes > limit {h.max_event}"), value)
        else:
            self.event(msg, obj, value, None)

    def event(self, msg: Message, obj: object, raw: bytes | None, index: int | None) -> None:
        h, out = self.h, self.out
        try:
            event = light_from_dict(obj, expect=h.expect.get(msg.topic))
        except ContractError as err:
            return self.refuse(msg, err, raw if raw is not None else _dumps(obj), index)
        self.events[msg.topic] += 1
        kind = event.type
        if h.store and kind in TABLES:
            out.rows.append(obj)
        if kind == "alert":
            return  # alerts on the alert topic are this or another worker's own output
        det = h.detector
        asset = event.asset
        if asset not in det.assets:
            snap = h.load_state(asset)
            if snap:
                det.restore(asset, _loads(snap) if isinstance(snap, (bytes, bytearray)) else snap)
        try:
            result = det.process(event, now_ms=self.now_ms)
        except Exception as exc:  # noqa: BLE001 - a detector bug must not stop the stream
            log.exception("detector failed on %s[%s]@%s", msg.topic, msg.partition, msg.offset)
            err = ContractError("processing_error", f"{type(exc).__name__}: {exc}")
            return self.refuse(msg, err, raw if raw is not None else _dumps(obj), index)
        self.touched.add(asset)
        out.partitions[asset] = msg.partition
        if result.alerts:
            self.alerted.add(asset)
            for alert in result.alerts:
                doc = alert.model_dump(mode="json")
                out.alerts.append((asset.encode(), _dumps(doc)))
                if h.store:
                    out.rows.append(doc)
                self.stages[(asset, alert.stage)] += 1
        for link in result.links:
            out.links.append((link.asset.encode(), _dumps(link.model_dump(mode="json"))))
        if result.late:
            # Side output: the event as it arrived, for inspection or a later amended replay.
            self.late[asset] += 1
            out.late.append((msg.key, raw if raw is not None else _dumps(obj)))

    def stored_only(self, msg: Message, obj: object, model: type[BaseModel]) -> None:
        """A type the detector does not read: validated and stored, never dead-lettered."""
        try:
            self.out.rows.append(model.model_validate(obj).model_dump(mode="json"))
            self.events[msg.topic] += 1
        except ValidationError:
            log.warning("unreadable %s message on %s skipped", model.__name__, msg.topic)

    def refuse(self, msg: Message, err: ContractError, raw: bytes, index: int | None = None) -> None:
        self.dead[(msg.topic, err.reason)] += 1
        log.warning("dead-letter %s[%s]@%s%s: %s", msg.topic, msg.partition, msg.offset,
                    "" if index is None else f" item {index}", err)
        record = dead_letter(err, topic=msg.topic, partition=msg.partition, offset=msg.offset, key=msg.key,
                             value=raw, batch_index=index)
        self.out.dead.append((msg.key, _dumps(record)))
        if self.h.store:
            self.out.rows.append(record)

    def count(self) -> None:
        """Metrics once per call, not per event (a labelled counter costs a lookup each time)."""
        self.out.events = sum(self.events.values())
        for topic, n in self.events.items():
            metrics.EVENTS.labels(topic).inc(n)
        for (topic, reason), n in self.dead.items():
            metrics.DEADLETTER.labels(topic, reason).inc(n)
        for asset, n in self.late.items():
            metrics.LATE.labels(asset).inc(n)
        for (asset, stage), n in self.stages.items():
            metrics.ALERTS.labels(asset, stage).inc(n)
