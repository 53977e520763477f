"""The producer-side batcher: envelopes bounded by events, bytes and time (an injected clock), in order per topic and key."""

from __future__ import annotations

import orjson
import pytest

from pipeline.config import BatchConfig
from pipeline.contracts.envelope import OVERHEAD
from pipeline.wire.batcher import Batcher


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def ev(i: int, pad: int = 0) -> bytes:
    return orjson.dumps({"type": "liquidation", "n": i, "pad": "x" * pad})


def events_of(value: bytes) -> list[dict]:
    doc = orjson.loads(value)
    return doc["batch"] if "batch" in doc else [doc]


def test_count_bound_closes_an_envelope_of_exactly_max_events():
    b = Batcher(max_events=3, max_bytes=1 << 20, linger_s=10, clock=Clock())
    out = [m for i in range(7) for m in b.add("t", b"BTC", ev(i))]
    assert [[e["n"] for e in events_of(v)] for _, _, v in out] == [[0, 1, 2], [3, 4, 5]]
    assert b.pending == 1
    (last,) = b.drain()
    assert last == ("t", b"BTC", ev(6))  # a lone event goes without an envelope


def test_byte_bound_is_never_exceeded():
    one = len(ev(0, pad=100))
    limit = OVERHEAD + 3 * one + 2  # room for exactly three
    b = Batcher(max_events=100, max_bytes=limit, linger_s=10, clock=Clock())
    out = [m for i in range(10) for m in b.add("t", b"BTC", ev(i, pad=100))] + b.drain()
    assert all(len(v) <= limit for _, _, v in out)
    assert [len(events_of(v)) for _, _, v in out] == [3, 3, 3, 1]
    assert [e["n"] for _, _, v in out for e in events_of(v)] == list(range(10))


def test_an_event_too_large_to_share_goes_alone_after_what_was_buffered():
    b = Batcher(max_events=100, max_bytes=1000, linger_s=10, clock=Clock())
    b.add("t", b"BTC", ev(0))
    b.add("t", b"BTC", ev(1))
    out = b.add("t", b"BTC", ev(2, pad=2000))
    assert [[e["n"] for e in events_of(v)] for _, _, v in out] == [[0, 1], [2]]
    assert out[1][2] == ev(2, pad=2000)


def test_alone_keeps_raw_bytes_unwrapped_and_in_order():
    b = Batcher(max_events=100, max_bytes=1 << 20, linger_s=10, clock=Clock())
    b.add("t", b"BTC", ev(0))
    out = b.add("t", b"BTC", b'{"type": "liquid', alone=True)
    assert out == [("t", b"BTC", ev(0)), ("t", b"BTC", b'{"type": "liquid')]


def test_linger_sends_an_envelope_once_its_oldest_event_waited_long_enough():
    clock = Clock()
    b = Batcher(max_events=100, max_bytes=1 << 20, linger_s=0.25, clock=clock)
    b.add("t", b"BTC", ev(0))
    clock.t = 0.2
    b.add("t", b"BTC", ev(1))
    b.add("t", b"ETH", ev(2))
    assert b.due() == [] and b.next_due_in() == pytest.approx(0.05)
    clock.t = 0.25
    (btc,) = b.due()
    assert btc[1] == b"BTC" and [e["n"] for e in events_of(btc[2])] == [0, 1]
    assert b.next_due_in() == pytest.approx(0.2)
    clock.t = 0.45
    assert b.due() == [("t", b"ETH", ev(2))] and b.next_due_in() is None


def test_topics_and_keys_are_batched_apart():
    b = Batcher(max_events=2, max_bytes=1 << 20, linger_s=10, clock=Clock())
    out = []
    for i, (topic, key) in enumerate([("a", b"BTC"), ("b", b"BTC"), ("a", b"ETH"), ("a", b"BTC"), ("b", b"BTC")]):
        out.extend(b.add(topic, key, ev(i)))
    assert [(t, k, [e["n"] for e in events_of(v)]) for t, k, v in out] == [("a", b"BTC", [0, 3]), ("b", b"BTC", [1, 4])]


def test_disabled_batching_sends_every_event_alone():
    b = Batcher.from_settings(BatchConfig(enabled=False), clock=Clock())
    assert b.add("t", b"BTC", ev(0)) == [("t", b"BTC", ev(0))]
    assert b.add("t", b"BTC", ev(1)) == [("t", b"BTC", ev(1))] and b.pending == 0
