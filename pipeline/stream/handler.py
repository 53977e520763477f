"""The worker's hot path as a plain function: Kafka messages in, everything to send and store out.

`Handler.handle(messages)` parses each message once (one event or a batch envelope of many, see
schemas/batch.schema.json), runs the detector over the events, and returns an `Outputs`: alerts,
links and late events to produce, dead letters (one per bad event, with that event's own bytes and
reason, the rest of its batch processed), the rows to store (the events as received, and the alerts
and dead letters themselves) and the state snapshots to write (once per take and asset, throttled).
No I/O here: the Faust agent (pipeline/stream/app.py) sends and stores what it returns, and tests
call it without a broker.

Most messages are parsed straight from their bytes by the contracts' msgspec decoder
(pipeline/contracts/decoder.py), which validates in C and declines whatever it is not sure of: a
single event, or a batch envelope whose every item it takes (the envelope read by msgspec with its
items left as bytes). Anything declined, stored-only topics and every bad message take the usual
path (orjson, then the contract checks), so records, dead letters (same bytes, same reasons) and
stored rows are what that path gives; a row is decoded from the event's bytes only when storing.

Contagion links and progress markers go to the links topic, keyed by their target asset, for
whichever worker holds it. When this worker holds the target (its state is loaded here: the
worker read its partition since the last assignment), they are applied here at once, as `replay`
delivers them, right after the event that gave them: a link is still sent (it must be on the
broker before a state that records it is saved, for the target's next owner), and its copy read
back is skipped; a progress marker is not sent. Read back from the topic only, a target's judging
(held back by its sources' progress) trailed by the consumer's whole prefetch in a catch-up, and
its state grew with what it had not judged.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable

import msgspec
import orjson
from pydantic import BaseModel

from pipeline.config import Settings
from pipeline.contracts.decoder import Decoder
from pipeline.contracts.envelope import is_batch, items
from pipeline.contracts.light import RECORDS, light_from_dict
from pipeline.contracts.models import INPUT_TYPES, ContractError
from pipeline.contracts.registry import TABLES, detected_on, stored_from_dict, stored_only_on
from pipeline.detect import CascadeDetector
from pipeline.detect.detector import Output as DetectorOutput
from pipeline.stream import metrics
from pipeline.stream.deadletter import KEY_BYTES, dead_letter
from pipeline.stream.messages import Message, Outputs

log = logging.getLogger("cascadewatch.stream")
_loads, _dumps = orjson.loads, orjson.dumps


class _Envelope(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    batch: list[msgspec.Raw]  # each item's bytes, for the event decoder


_DECODER = Decoder(INPUT_TYPES, RECORDS)
_decode, _INTO, _DECLINED = _DECODER.decode_struct, _DECODER.into, Decoder.DECLINED
_decode_envelope = msgspec.json.Decoder(_Envelope).decode
_BATCH = b'"batch"'
# An item's bytes as orjson writes them back (what the usual path measures against the event limit) are
# never longer than the item as received by more than this per field: whitespace and escapes only shrink,
# a float such as 1e15 written out grows by at most 15 bytes. Items nearer the limit take the usual path.
_GROWTH_PER_FIELD = 64
# Links applied here whose copy on the links topic has not been read back yet (bounded: a copy that never
# comes back, the topic's records lost, is forgotten after this many more).
_LOCAL_LINKS_KEPT = 10_000


class Handler:
    """The detector of one worker and what it needs around it: topic roles, limits, state loading.

    `load_state(asset)` returns the asset's saved snapshot (JSON bytes or its dict; None: nothing saved) the
    first time an asset is seen
    after start or a rebalance; `clock` gives wall-clock seconds (the detector's `now` and the
    snapshot throttle)."""

    def __init__(self, settings: Settings, *, store: bool,
                 load_state: Callable[[str], bytes | dict | None] = lambda a: None,
                 clock: Callable[[], float] = time.time, snapshot_every_s: float | None = 1.0,
                 fast: bool = True):
        self.settings = settings
        self.fast = fast  # parse from bytes with the msgspec decoder where it is sure (see the module's doc)
        self.store = store
        self.load_state = load_state
        self.clock = clock
        self.detector = CascadeDetector(settings.detector)
        self.expect = detected_on(settings.topics)
        self.stored_only = stored_only_on(settings.topics) if store else {}
        self.max_event = settings.max_event_bytes
        self.max_message = max(settings.stream.max_message_bytes, settings.max_event_bytes)
        self.keep_dead = settings.stream.deadletter_keep_bytes
        # Least time between two snapshots of an asset in the outputs (an alert always gives one); None:
        # none (the caller writes the state itself, as the worker does before each commit).
        self.snapshot_every = snapshot_every_s
        self.saved_at: dict[str, float] = {}
        self.partition_of: dict[str, int | None] = {}  # asset -> the partition its events come on
        self.applied_links: OrderedDict[str, None] = OrderedDict()  # event ids of links applied here

    def topics(self) -> list[str]:
        """The topics this handler reads."""
        return [*self.expect, *self.stored_only]

    def forget(self) -> None:
        """Partitions may have moved: reload each asset's state on its next event."""
        self.detector.assets.clear()
        self.saved_at.clear()
        self.partition_of.clear()
        self.applied_links.clear()

    def handle(self, messages: Iterable[Message]) -> Outputs:
        out = Outputs()
        out.now = now = self.clock()
        now_ms = int(now * 1000)
        run = _Run(self, out, now_ms)
        message = run.fast_message if self.fast else run.message
        for msg in messages:
            message(msg)
        run.count()
        if self.snapshot_every is not None:
            for asset in out.partitions:  # every asset the call touched
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
        self.store, self.partitions = h.store, out.partitions
        self.assets, self.apply = h.detector.assets, h.detector._apply
        self.result = DetectorOutput()  # what the detector gave, every event of the call together
        self.alerts, self.links, self.late_events = self.result.alerts, self.result.links, self.result.late
        self.alerted: set[str] = set()
        self.events: dict[str, int] = {}
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
            return self.refuse(msg, ContractError("malformed_json", str(exc)), value)
        if is_batch(obj):
            try:
                batch = items(obj)
            except ContractError as err:
                return self.refuse(msg, err, value)
            check_size = len(value) > h.max_event  # no item can be larger than the whole message
            for i, item in enumerate(batch):
                if model is not None:
                    self.stored_only(msg, item, model, value, i)
                    continue
                raw = None
                if check_size:
                    raw = _item_bytes(item, value, i)
                    if len(raw) > h.max_event:
                        self.refuse(msg, ContractError("oversize", f"{len(raw)} bytes > limit {h.max_event}"), raw, i)
                        continue
                self.event(msg, item, raw, i)
        elif model is not None:
            self.stored_only(msg, obj, model, value, None)
        elif len(value) > h.max_event:
            self.refuse(msg, ContractError("oversize", f"{len(value)} bytes > limit {h.max_event}"), value)
        else:
            self.event(msg, obj, value, None)

    def fast_message(self, msg: Message) -> None:
        """As `message`, from the bytes by the msgspec decoder when it takes the message whole."""
        h = self.h
        value = msg.value
        size = len(value)
        if size > h.max_message or msg.topic in h.stored_only:
            return self.message(msg)
        expect = h.expect.get(msg.topic)
        if size <= h.max_event:
            try:
                struct = _decode(value)
            except _DECLINED:
                struct = None  # not one plain event: maybe an envelope, maybe bad
            if struct is not None:
                convert, kind = _INTO[type(struct)]
                if (expect is None or kind in expect) and (record := convert(struct)) is not None:
                    return self.detect(msg, record, value, value, None)
                return self.message(msg)
        # When storing, the usual path's one orjson pass over the envelope gives the rows; measured, the decoder
        # saves nothing then (its records, and an orjson pass for the rows).
        # The key exactly once: repeated, orjson would still read the bytes msgspec skips in the first one.
        records = self.fast_batch(value, size, expect) if not h.store and value.count(_BATCH) == 1 else None
        if records is None:
            return self.message(msg)
        for i, (record, item) in enumerate(records):
            self.detect(msg, record, item, None, i)

    def fast_batch(self, value: bytes, size: int, expect: set[str] | None) -> list[tuple] | None:
        """The records and item bytes of an envelope (its `batch` key written once) whose every item the
        decoder takes, else None. All or nothing: the usual path reads the message whole and refuses it
        whole when it is not JSON."""
        try:
            items = _decode_envelope(value).batch
        except _DECLINED:
            return None
        if not items:
            return None
        limit = self.h.max_event if size > self.h.max_event else None
        out = []
        for item in items:
            try:
                struct = _decode(item)
            except _DECLINED:
                return None
            convert, kind = _INTO[type(struct)]
            if expect is not None and kind not in expect:
                return None
            record = convert(struct)
            if record is None or (limit is not None and len(item) + _GROWTH_PER_FIELD * len(record) > limit):
                return None
            out.append((record, item))
        return out

    def event(self, msg: Message, obj: object, raw: bytes | None, index: int | None) -> None:
        try:
            event = light_from_dict(obj, expect=self.h.expect.get(msg.topic))
        except ContractError as err:
            return self.refuse(msg, err, raw if raw is not None else _item_bytes(obj, msg.value, index), index)
        self.detect(msg, event, obj, raw, index)

    def detect(self, msg: Message, event, obj: object, raw: bytes | None, index: int | None) -> None:
        """A valid event: stored (`obj`: its dict, or bytes that decode to it) and fed to the detector. `raw`:
        its bytes for a late or failed event (None: `obj` written out)."""
        topic = msg.topic
        self.events[topic] = self.events.get(topic, 0) + 1
        kind = event.type
        if self.store and kind in TABLES:
            self.out.rows.append(_row(obj))
        if kind == "alert":
            return  # alerts on the alert topic are this or another worker's own output
        key = msg.key
        if key is not None and key != event.asset.encode():
            # Keyed to another asset's partition: the worker that holds this asset's state is elsewhere, and two
            # states of one asset would diverge (stored above all the same: it is a valid event).
            err = ContractError("wrong_key", f"asset {event.asset!r} under key {key[:40]!r}: keys are the asset")
            return self.refuse(msg, err, raw if raw is not None else _redump(obj), index)
        if (kind == "link" and event.source_kind != "progress" and self.h.applied_links
                and self.h.applied_links.pop(event.event_id, False) is None):
            return  # applied here when it was made: this is its copy from the links topic
        asset = event.asset
        if asset not in self.assets:
            snap = self.h.load_state(asset)
            if snap:
                self.h.detector.restore(asset, _loads(snap) if isinstance(snap, (bytes, bytearray)) else snap)
        # The detector's own per-event step, into one Output for the whole call (`process` makes an Output
        # per event): what an event added lies past the lengths before it.
        alerts, links, late = self.alerts, self.links, self.late_events
        na, nl, nlate = len(alerts), len(links), len(late)
        try:
            self.apply(event, self.now_ms, self.result)
        except Exception as exc:  # noqa: BLE001 - a detector bug must not stop the stream
            del alerts[na:], links[nl:], late[nlate:]  # as `process` would: nothing of a failed event
            log.exception("detector failed on %s[%s]@%s", topic, msg.partition, msg.offset)
            err = ContractError("processing_error", f"{type(exc).__name__}: {exc}")
            return self.refuse(msg, err, raw if raw is not None else _redump(obj), index)
        self.partitions[asset] = self.h.partition_of[asset] = msg.partition  # the assets this call touched
        if len(alerts) > na:
            self.emit(asset, alerts[na:])
        if len(links) > nl:
            self.send_links(links[nl:])
        if len(late) > nlate:
            # Side output: the event as it arrived, for inspection or a later amended replay.
            self.late[asset] += 1
            self.out.late.append((msg.key, raw if raw is not None else _redump(obj)))

    def send_links(self, new: list) -> None:
        """To the links topic; those whose target this worker holds applied here too, at once (and the
        links those give, in turn)."""
        out, assets = self.out.links, self.assets
        local = []
        for link in new:
            if link.asset in assets:
                local.append(link)
                if link.source_kind == "progress":
                    continue  # the target's state here records it (saved with the source's)
            out.append((link.asset.encode(), _dumps(link.model_dump(mode="json"))))
        for link in local:
            self.apply_link(link)

    def apply_link(self, link) -> None:
        alerts, links = self.alerts, self.links
        na, nl = len(alerts), len(links)
        asset = link.asset
        try:
            self.apply(link, self.now_ms, self.result)
        except Exception:  # as for an event; the copy on the topic is then applied when read
            del alerts[na:], links[nl:]
            log.exception("detector failed on a link to %s", asset)
            return
        if link.source_kind != "progress":
            applied = self.h.applied_links
            applied[link.event_id] = None
            if len(applied) > _LOCAL_LINKS_KEPT:
                applied.popitem(last=False)
        self.partitions[asset] = self.h.partition_of.get(asset)
        if len(alerts) > na:
            self.emit(asset, alerts[na:])
        if len(links) > nl:
            self.send_links(links[nl:])

    def emit(self, asset: str, alerts: list) -> None:
        out = self.out
        self.alerted.add(asset)
        for alert in alerts:
            doc = alert.model_dump(mode="json")
            out.alerts.append((asset.encode(), _dumps(doc)))
            if self.store:
                out.rows.append(doc)
            self.stages[(asset, alert.stage)] += 1

    def stored_only(self, msg: Message, obj: object, model: type[BaseModel], value: bytes, index: int | None) -> None:
        """A type the detector does not read: validated and stored, or dead-lettered as any other event."""
        try:
            row = stored_from_dict(obj, model)
        except ContractError as err:
            return self.refuse(msg, err, value if index is None else _item_bytes(obj, value, index), index)
        self.out.rows.append(row)
        self.events[msg.topic] = self.events.get(msg.topic, 0) + 1

    def refuse(self, msg: Message, err: ContractError, raw: bytes, index: int | None = None) -> None:
        self.dead[(msg.topic, err.reason)] += 1
        log.warning("dead-letter %s[%s]@%s%s: %s", msg.topic, msg.partition, msg.offset,
                    "" if index is None else f" item {index}", err)
        record = dead_letter(err, topic=msg.topic, partition=msg.partition, offset=msg.offset, key=msg.key,
                             value=raw, batch_index=index, keep=self.h.keep_dead)
        key = msg.key
        self.out.dead.append((key if key is None or len(key) <= KEY_BYTES else key[:KEY_BYTES], _dumps(record)))
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


def _row(obj: object) -> object:
    """The stored row of an event: the dict as received (decoded from its bytes, or an envelope item's
    msgspec.Raw, on the decoder's path)."""
    return obj if type(obj) is dict else _loads(memoryview(obj))


def _item_bytes(item: object, value: bytes, index: int | None) -> bytes:
    """An envelope item's bytes as orjson writes it back; an item nested deeper than orjson writes (it reads
    deeper than it writes) is given as received instead, so its dead letter still holds it."""
    try:
        return _dumps(item)
    except TypeError:
        if index is None:
            raise
        try:
            return bytes(_decode_envelope(value).batch[index])
        except (*_DECLINED, IndexError, RecursionError):
            return json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()


def _redump(obj: object) -> bytes:
    """An event as the usual path writes a batch item back: orjson's writing of the decoded item."""
    return _dumps(_row(obj))
