"""Reading a backlog in event-time order (pipeline/stream/align.py): what is held, what goes on, and a
worker whose consumer brings the whale transfers last still gives the offline core's alerts."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from pipeline.config import Settings
from pipeline.contracts.models import dump_event
from pipeline.detect import CascadeDetector
from pipeline.replay import ReplayResult, load
from pipeline.scenarios import bundled
from pipeline.stream.align import Alignment, event_time

from .drill_helpers import scenario
from .group_model import Broker, Worker, unique_alerts
from .group_model import load as load_logs
from .handler_helpers import messages

A, B, C = ("bars", 0), ("liqs", 0), ("whales", 0)


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_event_time_is_read_from_the_event_or_the_first_of_a_batch():
    assert event_time(b'{"type":"liquidation","received_ts":5,"ts":1700000000123}') == 1700000000123
    assert event_time(b'{"batch":[{"ts":7,"x":1},{"ts":9}]}') == 7
    assert event_time(b'{"type":"x","received_ts":5}') is None
    whale = b'{"type":"whale_transfer","observed_ts":9,"block_time":1700000000000,"amount":1}'
    etf = b'{"type":"etf_flow","date":"2025-08-01","published_ts":1700000001000}'
    link = b'{"type":"link","source_ts":1700000002000,"asset":"ETH"}'
    assert [event_time(v) for v in (whale, etf, link)] == [1700000000000, 1700000001000, 1700000002000]


def test_a_partition_with_a_backlog_holds_the_others_until_it_has_read_as_far():
    al = Alignment(clock=Clock())
    al.start({A: 10, B: 10, C: 3})
    assert al.add([(A, 0, 100, "a100"), (A, 1, 300, "a300"), (B, 0, 50, "b50")]) == []  # C has read nothing yet
    assert al.add([(C, 0, 200, "c200")]) == ["b50"]  # no later than every partition has read (B: 50)
    assert al.add([(B, 1, 250, "b250")]) == ["a100", "c200"]  # now up to 200 (C), in event-time order
    assert al.add([(C, 1, 400, "c400"), (B, 2, 500, "b500")]) == ["b250", "a300"]
    # C reads its last message of the backlog: it no longer holds anything back; A and B still do.
    assert al.add([(C, 2, 410, "c410")]) == []
    assert al.add([(A, 2, 450, "a450")]) == ["c400", "c410", "a450"]
    assert al.held == 1 and al.release(everything=True) == ["b500"] and al.held == 0


def test_a_partition_keeps_its_own_order_whatever_its_event_times():
    al = Alignment(clock=Clock())
    al.start({A: 10, B: 10})
    # A's head (200) is past what B has read (195): A waits, and its later, earlier-stamped message with it.
    assert al.add([(A, 0, 200, "a200"), (A, 1, 190, "a190"), (A, 2, None, "a-none"), (B, 0, 195, "b195")]) == ["b195"]
    assert al.release(everything=True) == ["a200", "a190", "a-none"]


def test_caught_up_partitions_and_live_workers_hold_nothing():
    al = Alignment(clock=Clock())
    al.start({A: 2, B: 0})  # B: nothing to read
    assert al.active and al.waiting_for() == [A]
    al.caught_up(A, 2)  # its position is at its end: read before
    assert not al.active
    assert al.add([(A, 2, 900, "a"), (B, 0, 5, "b")]) == ["a", "b"]  # as they came: nothing is aligned live
    live = Alignment(clock=Clock())
    assert live.add([(A, 0, 9, "x"), (B, 0, 1, "y")]) == ["x", "y"]


def test_a_partition_that_brings_nothing_stops_holding_the_others():
    clock = Clock()
    al = Alignment(max_wait_s=10.0, clock=clock)
    al.start({A: 5, C: 5})
    assert al.add([(A, 0, 100, "a")]) == []
    clock.t = 9.0
    assert al.release() == []
    clock.t = 10.5  # C brought nothing for 10 s; A brought its message at 0 s, so it stopped holding too
    assert al.release() == ["a"] and not al.active


def test_past_max_held_the_earliest_go_on():
    al = Alignment(max_held=3, clock=Clock())
    al.start({A: 100, C: 5})
    got = al.add([(A, i, 100 + i, f"a{i}") for i in range(5)])
    assert got == ["a0", "a1"] and al.held == 3


@pytest.fixture(scope="module")
def offline() -> dict[tuple, dict]:
    det = CascadeDetector(Settings(partitions=1).detector)
    return unique_alerts([orjson.loads(dump_event(a)) for e in load([bundled()], ReplayResult()) for a in det.feed(e)])


def _skewed_run(aligned: bool) -> dict[tuple, dict]:
    """One worker over a backlog whose consumer brings every whale transfer after all else."""
    settings = Settings(partitions=1)
    broker = Broker(settings, 1)
    msgs = messages(scenario(), settings)
    whales = settings.topics.whale_transfers
    load_logs(broker, [m for m in msgs if m.topic != whales] + [m for m in msgs if m.topic == whales])
    w = Worker(broker, "w1")
    w.assign({0})
    if aligned:
        w.takes.align = Alignment(max_wait_s=1e9, clock=lambda: w.now)
        w.takes.aligned({tp: len(log) for tp, log in broker.logs.items() if tp[0] in w.handler.expect})
    asyncio.run(w.run())
    return unique_alerts(broker.alerts)


def test_a_backlog_read_with_the_transfers_last_gives_the_offline_alerts_when_aligned(offline):
    assert _skewed_run(aligned=True) == offline
    unaligned = _skewed_run(aligned=False)
    assert unaligned != offline  # the deposits came after their cascades: other alerts
    assert not any(a["kind"] == "whale_cascade" and a["stage"] == "cascade" for a in unaligned.values())


def test_a_time_of_thousands_of_digits_is_no_time_and_the_message_goes_on_to_be_dead_lettered():
    assert event_time(b'{"type":"liquidation","ts":' + b"9" * 5000 + b"}") is None
    assert event_time(b'{"ts": 1756065700000}') == 1756065700000
