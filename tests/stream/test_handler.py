"""The worker's hot path as a plain function, without a broker: the same alerts as the offline core, bad
events of a batch dead-lettered one by one, the events (not the envelopes) stored, state written once
per take and asset."""

from __future__ import annotations

import base64
import json

import orjson
import pytest

from pipeline.config import BatchConfig, Settings, StreamConfig
from pipeline.contracts.envelope import encode
from pipeline.contracts.models import dump_event
from pipeline.detect import CascadeDetector
from pipeline.replay import ReplayResult, load
from pipeline.scenarios import bundled
from pipeline.stream.handler import Handler
from pipeline.stream.messages import Message, with_value

from .handler_helpers import Loop, interleaved, messages

S = Settings()
LIQ = {"type": "liquidation", "event_id": "okx:1", "venue": "okx", "symbol": "BTC-USDT-SWAP", "asset": "BTC",
       "side": "long", "price": 114_000.0, "quantity": 0.01, "notional_usd": 1_140.0, "ts": 1_756_065_700_000,
       "received_ts": 1_756_065_700_100, "completeness": "full"}
NOW = 1_756_065_800.0  # wall clock of the tests, seconds


def liq(i: int, **changes) -> dict:
    return {**LIQ, "event_id": f"okx:{i}", "ts": LIQ["ts"] + i, **changes}


def scenario() -> list[dict]:
    return [orjson.loads(line) for line in bundled().read_bytes().splitlines()]


def offline_alerts() -> set[tuple]:
    """The core over the scenario in event time, links delivered at once, without the end-of-input decisions."""
    det = CascadeDetector(S.detector)
    alerts = [a for e in load([bundled()], ReplayResult()) for a in det.feed(e)]
    return {(a.alert_id, a.stage, a.revision, dump_event(a)) for a in alerts}


@pytest.mark.parametrize("batched", [True, False], ids=["envelopes", "single events"])
def test_scenario_gives_the_offline_alerts_field_for_field(batched):
    settings = S.model_copy(update={"batch": BatchConfig(enabled=batched)})
    msgs = messages(scenario(), settings)
    assert (len(msgs) < len(scenario())) == batched
    loop = Loop(Handler(settings, store=False, clock=lambda: NOW)).run(msgs)
    got = {(a["alert_id"], a["stage"], a.get("revision", 0), v)
           for k, v in loop.all("alerts") for a in [orjson.loads(v)]}
    assert got == offline_alerts()
    assert any(orjson.loads(v)["kind"] == "contagion_cascade" for _, v in loop.all("alerts"))
    assert loop.all("dead") == [] and loop.all("rows") == []


@pytest.mark.parametrize("batched", [True, False], ids=["envelopes", "single events"])
def test_topics_read_side_by_side_give_the_offline_alerts(batched):
    """A worker reads its topics side by side, not in event time: the month of open interest on the
    leverage topic comes in beside the first liquidations, before any trade flow."""
    settings = S.model_copy(update={"batch": BatchConfig(enabled=batched)})
    topics = settings.topics
    msgs = interleaved(messages(scenario(), settings), [topics.liquidations, topics.leverage, topics.trade_flow],
                       chunk=50 if batched else 200)
    loop = Loop(Handler(settings, store=False, clock=lambda: NOW)).run(msgs)
    got = {(a["alert_id"], a["stage"], a.get("revision", 0), v)
           for k, v in loop.all("alerts") for a in [orjson.loads(v)]}
    assert got == offline_alerts()
    assert loop.all("dead") == []


def test_links_to_an_asset_the_worker_holds_are_applied_at_once_and_their_copies_skipped():
    """BTC's cascade opens a contagion watch on ETH. This handler holds ETH too: the link is applied in
    the take that made it, without waiting for the links topic, and its copy read back changes nothing;
    the progress markers to ETH are not sent at all once ETH is held."""
    msgs = messages(scenario(), S)
    handler = Handler(S, store=False, clock=lambda: NOW)
    outputs = [handler.handle(msgs[i:i + 64]) for i in range(0, len(msgs), 64)]  # links not fed back
    got = {(a["alert_id"], a["stage"], a.get("revision", 0), v)
           for out in outputs for _, v in out.alerts for a in [orjson.loads(v)]}
    assert got == offline_alerts()
    sent = [orjson.loads(v) for out in outputs for _, v in out.links]
    contagion = [link for link in sent if link["source_kind"] not in ("progress", "stir")]
    assert [(link["source_asset"], link["asset"]) for link in contagion] == [("BTC", "ETH")]
    stirs = [link for link in sent if link["source_kind"] == "stir"]  # BTC's liquidations building before it
    assert {(link["source_asset"], link["asset"]) for link in stirs} <= {("BTC", "ETH")}
    first_eth = next(i for i, out in enumerate(outputs) if "ETH" in out.partitions)
    assert not any(orjson.loads(v)["source_kind"] == "progress" for out in outputs[first_eth + 1:] for _, v in out.links)
    copies = [Message(S.topics.links, v, k, 0, i) for out in outputs for i, (k, v) in enumerate(out.links)]
    again = handler.handle(copies)
    assert again.alerts == [] and again.links == [] and again.dead == []
    assert handler.applied_links == {}  # each copy read back once, then forgotten


def test_one_bad_event_in_a_batch_is_dead_lettered_alone_and_the_rest_processed():
    bad_type = liq(2, price="114000")
    not_object = [1, 2]
    wrong_topic = {**liq(3), "type": "trade_flow"}
    big = liq(4, pad="x" * S.max_event_bytes)
    items = [liq(0), bad_type, liq(1), not_object, wrong_topic, big, liq(5)]
    value = encode([orjson.dumps(i) for i in items])
    h = Handler(S, store=True, clock=lambda: NOW)
    out = h.handle([Message(S.topics.liquidations, value, b"BTC", 2, 40)])
    dead = [orjson.loads(v) for _, v in out.dead]
    assert [(d["batch_index"], d["reason"]) for d in dead] == [
        (1, "invalid"), (3, "invalid"), (4, "wrong_topic"), (5, "oversize")]
    for d in dead:  # each with its own bytes, its message's coordinates and key
        assert orjson.loads(base64.b64decode(d["original_b64"])) == items[d["batch_index"]]
        assert (d["source_topic"], d["partition"], d["offset"]) == (S.topics.liquidations, 2, 40)
        assert base64.b64decode(d["key_b64"]) == b"BTC" and d["error"]
    assert all(k == b"BTC" for k, _ in out.dead)
    # stored: the four good events as received, then the dead letters; never the envelope
    stored = [r for r in out.rows if r["type"] == "liquidation"]
    assert stored == [items[0], items[2], items[6]]
    assert [r for r in out.rows if r["type"] == "deadletter"] == dead
    assert out.events == 3
    assert h.detector.state("BTC").longs  # the good ones reached the detector


def test_numbers_no_store_or_snapshot_can_hold_are_dead_lettered_and_the_state_still_saves():
    """A time past 64 bits would be stored by the detector, and then no snapshot of its state (64-bit integers)
    could be written: every later save would fail. One past 2105 no ClickHouse minute column (DateTime) holds."""
    items = [liq(0, ts=1e20), liq(1, ts=10**25), liq(2, received_ts=2**70), liq(3), liq(4, ts=4_291_747_200_000)]
    h = Handler(S, store=True, clock=lambda: NOW)
    raw = [json.dumps(i).encode() for i in items]  # the standard library writes integers of any size, as JSON may
    out = h.handle([Message(S.topics.liquidations, encode(raw), b"BTC", 0, 7)])
    assert [(orjson.loads(v)["batch_index"], orjson.loads(v)["reason"]) for _, v in out.dead] == [
        (0, "invalid"), (1, "invalid"), (2, "invalid"), (4, "invalid")]
    assert out.events == 1 and [r["event_id"] for r in out.rows if r["type"] == "liquidation"] == ["okx:3"]
    assert orjson.loads(h.encode_state("BTC"))  # the state still encodes


@pytest.mark.parametrize("value,reason", [
    (b'{"batch": [' + orjson.dumps(LIQ), "malformed_json"),
    (b'{"batch": []}', "invalid"),
    (b'{"batch": [' + orjson.dumps(LIQ) + b'], "asset": "BTC"}', "invalid"),
    (b'{"batch": {"a": 1}}', "invalid"),
])
def test_a_broken_envelope_is_dead_lettered_whole(value, reason):
    out = Handler(S, store=True, clock=lambda: NOW).handle([Message(S.topics.liquidations, value, b"BTC", 0, 7)])
    (dead,) = [orjson.loads(v) for _, v in out.dead]
    assert dead["reason"] == reason and dead["batch_index"] is None
    assert base64.b64decode(dead["original_b64"]) == value
    assert out.events == 0 and [r["type"] for r in out.rows] == ["deadletter"]


def test_an_envelope_over_the_message_limit_is_refused_whole():
    settings = S.model_copy(update={"stream": StreamConfig(max_message_bytes=S.max_event_bytes)})
    value = encode([orjson.dumps(liq(i, pad="x" * 1000)) for i in range(S.max_event_bytes // 1000 + 5)])
    out = Handler(settings, store=False, clock=lambda: NOW).handle([Message(S.topics.liquidations, value)])
    assert [orjson.loads(v)["reason"] for _, v in out.dead] == ["oversize"] and out.events == 0


def test_single_event_messages_are_still_accepted_and_stored_as_received():
    extra = liq(0, open_interest_usd=9.9e9)
    out = Handler(S, store=True, clock=lambda: NOW).handle(
        [Message(S.topics.liquidations, orjson.dumps(extra), b"BTC", 0, 0)])
    assert out.events == 1 and out.dead == [] and out.rows == [extra]


def test_state_is_written_once_per_take_and_asset_and_throttled_between_takes():
    clock = [NOW]
    h = Handler(S, store=False, clock=lambda: clock[0])
    take = [Message(S.topics.liquidations, encode([orjson.dumps(liq(i)) for i in range(50)]), b"BTC", 1, 0),
            Message(S.topics.liquidations, orjson.dumps(liq(60, asset="ETH", event_id="okx:e")), b"ETH", 3, 0)]
    out = h.handle(take)
    assert set(out.states) == {"BTC", "ETH"} and out.partitions == {"BTC": 1, "ETH": 3}
    assert orjson.loads(out.states["BTC"]) == h.detector.snapshot("BTC")
    clock[0] += h.snapshot_every / 2
    assert h.handle([Message(S.topics.liquidations, orjson.dumps(liq(70)), b"BTC", 1, 1)]).states == {}
    clock[0] += h.snapshot_every
    assert set(h.handle([Message(S.topics.liquidations, orjson.dumps(liq(71)), b"BTC", 1, 2)]).states) == {"BTC"}


def test_a_restarted_handler_resumes_from_the_saved_state():
    first = Handler(S, store=False, clock=lambda: NOW)
    saved = first.handle([Message(S.topics.liquidations, orjson.dumps(liq(0)), b"BTC", 0, 0)]).states
    second = Handler(S, store=False, load_state=saved.get, clock=lambda: NOW)
    out = second.handle([Message(S.topics.liquidations, orjson.dumps(liq(0)), b"BTC", 0, 0)])  # replayed
    assert second.detector.state("BTC").duplicates == 1 and out.alerts == []


def test_stored_only_topics_are_validated_and_stored_and_their_bad_messages_dead_lettered():
    trade = {"type": "trade", "event_id": "okx:t:1", "venue": "okx", "symbol": "BTC-USDT-SWAP", "asset": "BTC",
             "ts": 1, "price": 1.0, "quantity": 1.0, "notional_usd": 1.0, "taker_side": "buy", "received_ts": 2}
    value = encode([orjson.dumps(trade), b'{"type": "trade"}', orjson.dumps(LIQ)])
    h = Handler(S, store=True, clock=lambda: NOW)
    assert S.topics.trades in h.topics()
    out = h.handle([Message(S.topics.trades, value, b"BTC", 0, 7),
                    Message(S.topics.trades, b'{"type": "trade", ', b"BTC", 0, 8),
                    Message(S.topics.feed_health, b'{"type": "feed_health"}', b"okx", 0, 9)])
    assert [r["event_id"] for r in out.rows if r["type"] == "trade"] == ["okx:t:1"] and out.events == 1
    dead = [orjson.loads(v) for _, v in out.dead]
    assert [(d["source_topic"], d["offset"], d["batch_index"], d["reason"]) for d in dead] == [
        (S.topics.trades, 7, 1, "invalid"), (S.topics.trades, 7, 2, "wrong_topic"),
        (S.topics.trades, 8, None, "malformed_json"), (S.topics.feed_health, 9, None, "invalid")]
    assert [base64.b64decode(d["original_b64"]) for d in dead] == [
        b'{"type":"trade"}', orjson.dumps(LIQ), b'{"type": "trade", ', b'{"type": "feed_health"}']
    assert [r for r in out.rows if r["type"] == "deadletter"] == dead  # stored too, as every dead letter
    assert S.topics.trades not in Handler(S, store=False).topics()  # without the sink nobody reads it


def test_a_store_only_event_with_an_extra_field_nested_too_deep_to_write_out_is_dead_lettered():
    trade = {"type": "trade", "event_id": "okx:t:1", "venue": "okx", "symbol": "BTC-USDT-SWAP", "asset": "BTC",
             "ts": 1, "price": 1.0, "quantity": 1.0, "notional_usd": 1.0, "taker_side": "buy", "received_ts": 2}
    value = orjson.dumps(trade)[:-1] + b',"extra":' + b'{"a":' * 400 + b"1" + b"}" * 400 + b"}"  # deeper than orjson writes
    h = Handler(S, store=True, clock=lambda: NOW)
    out = h.handle([Message(S.topics.trades, value, b"BTC", 0, 1),
                    Message(S.topics.trades, encode([value, orjson.dumps(trade)]), b"BTC", 0, 2)])
    assert [(orjson.loads(v)["reason"], orjson.loads(v)["batch_index"]) for _, v in out.dead] == [
        ("invalid", None), ("invalid", 0)]
    assert [r["event_id"] for r in out.rows if r["type"] == "trade"] == ["okx:t:1"]


def test_a_dead_letter_keeps_the_first_bytes_of_a_message_past_its_bound_and_the_whole_size():
    settings = S.model_copy(update={"stream": StreamConfig(deadletter_keep_bytes=1024)})
    h = Handler(settings, store=False, clock=lambda: NOW)
    small, big = b"{" + b"x" * 1000, b"{" + bytes(range(256)) * 40
    out = h.handle([Message(S.topics.liquidations, small, b"BTC", 0, 1),
                    Message(S.topics.liquidations, big, b"K" * 5000, 0, 2)])
    (k1, v1), (k2, v2) = out.dead
    first, second = orjson.loads(v1), orjson.loads(v2)
    assert base64.b64decode(first["original_b64"]) == small and first["original_size"] == len(small)
    assert base64.b64decode(second["original_b64"]) == big[:1024] and second["original_size"] == len(big)
    assert k1 == b"BTC" and k2 == base64.b64decode(second["key_b64"]) == b"K" * 1024


def test_a_handler_whose_caller_writes_the_state_gives_no_snapshots_but_encodes_them_on_demand():
    h = Handler(S, store=False, clock=lambda: NOW, snapshot_every_s=None)
    out = h.handle([Message(S.topics.liquidations, orjson.dumps(liq(0)), b"BTC", 2, 0)])
    assert out.states == {} and out.partitions == {"BTC": 2}
    assert orjson.loads(h.encode_state("BTC")) == h.detector.snapshot("BTC")


def test_a_tombstone_is_dead_lettered_as_malformed_not_raised():
    """A Kafka record with no value at all (a tombstone) reaches the agent as None."""
    h = Handler(S, store=True, clock=lambda: NOW)
    msg = with_value(Message(S.topics.liquidations, None, b"BTC", 1, 9))
    out = h.handle([msg, Message(S.topics.liquidations, orjson.dumps(liq(1)), b"BTC", 1, 10)])
    assert [orjson.loads(v)["reason"] for _, v in out.dead] == ["malformed_json"] and out.events == 1


def test_an_event_keyed_to_another_assets_partition_is_dead_lettered_not_detected():
    """Keys are the asset: a BTC event under key ETH would be detected by whichever worker holds ETH's partition,
    beside BTC's own state on another worker."""
    h = Handler(S, store=True, clock=lambda: NOW)
    out = h.handle([Message(S.topics.liquidations, orjson.dumps(liq(1)), b"ETH", 3, 11),
                    Message(S.topics.liquidations, orjson.dumps(liq(2)), b"BTC", 0, 12),
                    Message(S.topics.liquidations, orjson.dumps(liq(3)), None, 0, 13)])  # no key: nothing to check
    [(key, value)] = out.dead
    dead = orjson.loads(value)
    assert (dead["reason"], dead["offset"], key) == ("wrong_key", 11, b"ETH") and "'BTC'" in dead["error"]
    assert h.detector.state("BTC").liqs and [r.event_id for r in h.detector.state("BTC").liqs] == ["okx:2", "okx:3"]
