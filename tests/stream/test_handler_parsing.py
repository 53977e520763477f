"""The handler parses messages two ways: from bytes with the contracts' msgspec decoder where it is sure,
and the usual way (orjson, then the contract checks). Over the bundled scenario as single events and
as batch envelopes, with fuzzed bad messages, bad items inside envelopes and odd but valid encodings
mixed in, both give the same Outputs field for field: alerts, links, late events, dead letters (same
bytes, same reasons), stored rows, state snapshots and counts. The dead letters' `received_ts` is the
wall clock at refusal, so it is the one field left out."""

from __future__ import annotations

import random

import orjson
import pytest

import pipeline.stream.handler as handler_module
from pipeline.config import BatchConfig, Settings
from pipeline.contracts.envelope import encode
from pipeline.scenarios import bundled
from pipeline.stream.handler import Handler
from pipeline.stream.messages import Message, Outputs

from .fuzz_messages import bad_messages
from .handler_helpers import Loop, messages

NOW = 1_756_065_800.0  # wall clock of the tests, seconds (after every scenario event)
SINGLE = Settings().model_copy(update={"batch": BatchConfig(enabled=False)})
BATCHED = Settings().model_copy(update={"batch": BatchConfig(enabled=True)})


def scenario() -> list[dict]:
    return [orjson.loads(line) for line in bundled().read_bytes().splitlines()]


def outputs(settings: Settings, msgs: list[Message], *, fast: bool, store: bool) -> list[dict]:
    """Every take's Outputs as plain data, the dead letters' refusal time left out."""
    handler = Handler(settings, store=store, clock=lambda: NOW, fast=fast)
    return [comparable(out) for out in Loop(handler).run(msgs).outputs]


def comparable(out: Outputs) -> dict:
    def unstamped(record: dict) -> dict:
        return {k: v for k, v in record.items() if k != "received_ts"} if record.get("type") == "deadletter" else record

    return {"alerts": out.alerts, "links": out.links, "late": out.late, "states": out.states,
            "partitions": out.partitions, "events": out.events,
            "dead": [(k, unstamped(orjson.loads(v))) for k, v in out.dead],
            "rows": [unstamped(r) for r in out.rows]}


def same_both_ways(settings: Settings, msgs: list[Message]) -> list[dict]:
    """Runs both paths, storing and not, asserts they agree, and returns the fast path's outputs (storing)."""
    for store in (False, True):
        fast, usual = outputs(settings, msgs, fast=True, store=store), outputs(settings, msgs, fast=False, store=store)
        assert len(fast) == len(usual)
        for i, (a, b) in enumerate(zip(fast, usual)):
            for name in a:
                assert a[name] == b[name], f"take {i}, {name}, store={store}"
    return fast


def sprinkled(valid: list[Message], bad: list[Message], seed: int) -> list[Message]:
    rng = random.Random(seed)
    out = list(valid)
    for m in bad:
        out.insert(rng.randrange(len(out) + 1), m)
    return out


def fuzzed(settings: Settings, events: list[dict], n: int, seed: int) -> list[Message]:
    """`n` bad single-event messages spread over the detected topics, each refused by the parser."""
    topics = settings.topics
    by_topic: dict[str, list[dict]] = {}
    for e in events:
        by_topic.setdefault(getattr(topics, {"liquidation": "liquidations", "trade_flow": "trade_flow",
                                             "leverage": "leverage", "whale_transfer": "whale_transfers",
                                             "etf_flow": "etf_flows"}[e["type"]]), []).append(e)
    out: list[Message] = []
    names = sorted(by_topic)
    for i, topic in enumerate(names):
        own = by_topic[topic]
        foreign = [e for t, es in by_topic.items() if t != topic for e in es[:50]]
        expect = {own[0]["type"]}
        for j, bad in enumerate(bad_messages(topic, own, foreign, n // len(names), expect=expect,
                                             max_bytes=settings.max_event_bytes, seed=seed + i)):
            out.append(Message(topic, bad.value, bad.key, 1, 10_000 + j))
    return out


def bad_envelopes(settings: Settings, fuzz: list[Message], events: list[dict], seed: int) -> list[Message]:
    """Envelopes of valid events with a bad item in them (a fuzzed message that is itself JSON, so the
    envelope stays JSON and only that item is refused, or not JSON, so the whole envelope is)."""
    rng = random.Random(seed)
    liqs = [e for e in events if e["type"] == "liquidation"]
    out = []
    for i, bad in enumerate(fuzz[:300]):
        items = [orjson.dumps(rng.choice(liqs)) for _ in range(rng.randrange(1, 6))]
        items.insert(rng.randrange(len(items) + 1), bad.value)
        out.append(Message(settings.topics.liquidations, encode(items), b"BTC", 2, 20_000 + i))
    return out


def odd_encodings(settings: Settings, events: list[dict]) -> list[Message]:
    """Valid and invalid messages written in ways only a careful reader tells apart."""
    liq = next(e for e in events if e["type"] == "liquidation")
    lev = next(e for e in events if e["type"] == "leverage")
    t = settings.topics.liquidations
    raw = orjson.dumps(liq)
    spaced = orjson.dumps(liq, option=orjson.OPT_INDENT_2)
    escaped = raw.replace(b'"venue":"', b'"venue":"\\u0062', 1).replace(b'"\\u0062' + liq["venue"][:1].encode(),
                                                                      b'"\\u0062', 1)
    values = [
        spaced,  # whitespace everywhere
        raw.replace(b'"type":', b'"type" :  ', 1),
        escaped,  # a \u escape in a string
        raw.replace(b'"asset":"BTC"', b'"asset":"B\\u0054C"', 1),
        raw[:-1] + b',"extra":{"kept":[1,2]}}',  # an unknown field: stored in the raw column
        raw[:-1] + b',"asset":"ETH"}',  # a repeated key: the last one counts
        b"\xef\xbb\xbf" + raw,  # a byte-order mark
        raw + b"  \n",
        raw.replace(b'"notional_usd":', b'"notional_usd":1e3,"x":', 1),
        b'{"batch":[' + raw + b',' + spaced + b']}',
        b' { "batch" : [ ' + raw + b' ] } ',
        b'{"batch":[' + raw + b'],"batch":[' + raw + b']}',  # the key twice
        b'{"batch":["\xff"],"batch":[' + raw + b']}',  # the key twice, the skipped one not UTF-8
        b'{"batch":[' + raw + b'],"extra":1}',
        b'{"batch":[]}',
        b'{"batch":[' + raw + b',' + orjson.dumps(lev) + b']}',  # a leverage event on the liquidations topic
        b'{"batch":[{"batch":[' + raw + b']}]}',
        b'{"batch":[' + raw.replace(b'"venue":"', b'"venue":"batch ', 1) + b']}',
        b'{"batch":[' + raw + b'], "type":"liquidation"}',
        b'{"batch":[' + raw + b',' + raw.replace(b'"ts":', b'"ts":1e15,"y":', 1) + b']}',
    ]
    return [Message(t, v, b"BTC", 3, 30_000 + i) for i, v in enumerate(values)]


def test_valid_messages_are_parsed_by_the_decoder_alone(monkeypatch):
    """Not storing, the fast path takes every valid message of the scenario, single or enveloped, without the
    usual path; storing, it still takes single events (an envelope's rows come from the usual path's one pass)."""
    calls = []
    usual = handler_module.light_from_dict
    monkeypatch.setattr(handler_module, "light_from_dict", lambda obj, **kw: calls.append(1) or usual(obj, **kw))
    events = scenario()
    for settings, store in ((SINGLE, False), (BATCHED, False), (SINGLE, True), (BATCHED, True)):
        calls.clear()
        loop = Loop(Handler(settings, store=store, clock=lambda: NOW)).run(messages(events, settings))
        assert sum(o.events for o in loop.outputs) >= len(events)
        if settings.batch.enabled and store:
            assert len(calls) > len(events) / 2  # the enveloped events (a lone event is sent as it is)
        else:
            assert calls == [], (settings.batch.enabled, store)


@pytest.mark.parametrize("settings", [SINGLE, BATCHED], ids=["single events", "envelopes"])
def test_both_paths_give_the_same_outputs_on_the_scenario_with_bad_messages_mixed_in(settings):
    events = scenario()
    fuzz = fuzzed(settings, events, 600, seed=7)
    msgs = sprinkled(messages(events, settings),
                     fuzz + bad_envelopes(settings, fuzz, events, seed=8) + odd_encodings(settings, events), seed=9)
    got = same_both_ways(settings, msgs)
    dead = [d for take in got for d in take["dead"]]
    reasons = {reason for _, d in dead for reason in [d["reason"]]}
    assert {"malformed_json", "invalid", "unknown_type", "wrong_topic"} <= reasons
    assert any(d["batch_index"] is not None for _, d in dead)  # bad items refused alone
    assert sum(len(take["alerts"]) for take in got) > 0


def test_both_paths_agree_on_items_near_the_event_limit():
    """An envelope over the event limit has each item measured as orjson writes it back: items padded with
    whitespace (shorter written back) and items whose floats grow when written back (1e15), around a
    small limit."""
    settings = BATCHED.model_copy(update={"max_event_bytes": 280})  # the scenario's liquidations: 251-278 bytes
    liqs = [e for e in scenario() if e["type"] == "liquidation"][:400]
    msgs = []
    for i in range(0, len(liqs), 4):
        items = []
        for j, e in enumerate(liqs[i:i + 4]):
            raw = orjson.dumps(e)
            pad = (i + j) % 5
            if pad == 1:
                raw = raw.replace(b",", b", " + b" " * ((i * 7 + j) % 60), 3)
            elif pad == 2:
                raw = orjson.dumps({**e, "price": 1.0}).replace(b'"price":1.0', b'"price":1e15', 1)
            elif pad == 3:
                raw = orjson.dumps({**e, "symbol": e["symbol"] + "-" * ((i + j) % 80)})
            items.append(raw)
        value = encode(items)
        msgs.append(Message(settings.topics.liquidations, value, b"BTC", 0, i))
    assert all(len(m.value) > 280 for m in msgs)
    got = same_both_ways(settings, msgs)
    reasons = [d["reason"] for take in got for _, d in take["dead"]]
    assert "oversize" in reasons and sum(take["events"] for take in got) > 100


def test_a_detector_failure_dead_letters_the_event_with_nothing_of_its_output():
    """An event the detector fails on mid-way is dead-lettered with its bytes; what the detector had added
    for it is dropped, and the events around it are processed."""
    events = [e for e in scenario() if e["type"] == "liquidation"][:50]
    boom = events[20]["event_id"]

    class Failing(Handler):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            apply = self.detector._apply

            def failing(event, now, out):
                if getattr(event, "event_id", None) == boom:
                    out.alerts.append("half an alert")
                    out.late.append(event)
                    raise RuntimeError("boom")
                return apply(event, now, out)

            self.detector._apply = failing

    for settings in (SINGLE, BATCHED):
        for fast in (True, False):
            loop = Loop(Failing(settings, store=False, clock=lambda: NOW, fast=fast)).run(messages(events, settings))
            dead = [orjson.loads(v) for _, v in loop.all("dead")]
            assert [d["reason"] for d in dead] == ["processing_error"]
            assert orjson.loads(__import__("base64").b64decode(dead[0]["original_b64"]))["event_id"] == boom
            assert loop.all("alerts") == [] and loop.all("late") == []
            assert sum(o.events for o in loop.outputs) == len(events)


@pytest.mark.parametrize("fast", [True, False], ids=["decoder", "usual"])
def test_an_item_nested_deeper_than_orjson_writes_is_dead_lettered_with_its_bytes(fast):
    """orjson reads 1,024 levels of nesting but writes 254: such an item is refused with its bytes as
    received, and the items around it are processed."""
    deep = b"[" * 300 + b"]" * 300
    liqs = [orjson.dumps(e) for e in scenario() if e["type"] == "liquidation"][:2]
    for settings in (BATCHED, BATCHED.model_copy(update={"max_event_bytes": 700})):  # items measured or not
        msg = Message(settings.topics.liquidations, encode([liqs[0], deep, liqs[1]]), b"BTC", 0, 5)
        out = Handler(settings, store=True, clock=lambda: NOW, fast=fast).handle([msg])
        dead = [orjson.loads(v) for _, v in out.dead]
        assert [(d["reason"], d["batch_index"]) for d in dead] == [("invalid", 1)]
        assert __import__("base64").b64decode(dead[0]["original_b64"]) == deep
        assert out.events == 2
