"""BatchWriter against a real chDB store: size bound, time bound, close, totals, threads."""

from __future__ import annotations

import threading

from pipeline.sinks.batching import BatchWriter


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_size_bound_flushes_at_exactly_batch_size(store, ev):
    writer = BatchWriter(store, batch_size=3, flush_interval_s=3600)
    assert writer.add(ev.liquidation("1")) is None
    assert writer.add(ev.alert()) is None
    assert writer.add(ev.liquidation("2")) == {"liquidations": 2, "alerts": 1}
    assert writer.pending == 0
    assert writer.add(ev.liquidation("3")) is None
    assert writer.written == {"liquidations": 2, "alerts": 1}


def test_time_bound_with_injected_clock(store, ev):
    clock = FakeClock()
    writer = BatchWriter(store, batch_size=1000, flush_interval_s=1.0, clock=clock)
    assert not writer.due()
    assert writer.add(ev.liquidation("1")) is None
    clock.now += 0.6
    assert writer.add(ev.liquidation("2")) is None
    assert not writer.due()
    clock.now += 0.4  # 1.0 s since the oldest buffered event, not the newest
    assert writer.due()
    assert writer.flush() == {"liquidations": 2}
    assert not writer.due()
    assert writer.add(ev.liquidation("3")) is None
    clock.now += 5
    assert writer.add(ev.etf_flow()) == {"liquidations": 1, "etf_flows": 1}
    assert writer.flush() == {}


def test_close_flushes_the_rest_and_totals_add_up(store, ev):
    writer = BatchWriter(store, batch_size=4, flush_interval_s=3600)
    events = [ev.liquidation(f"l{i}", ts=ev.T0 + i) for i in range(9)] + ev.one_of_each()
    flushed = [c for c in (writer.add(e) for e in events) if c]
    assert len(flushed) == 3
    assert writer.pending == 3
    writer.close()
    assert writer.pending == 0
    assert writer.written == {"liquidations": 10, "whale_transfers": 1, "trade_flow": 1, "etf_flows": 1,
                              "alerts": 1, "deadletter": 1}
    for table, n in writer.written.items():
        assert store.query(f"SELECT count() FROM {{db}}.{table} FINAL")[1] == [(n,)]


def test_concurrent_adds(store, ev):
    writer = BatchWriter(store, batch_size=50, flush_interval_s=3600)

    def produce(k: int) -> None:
        for i in range(100):
            writer.add(ev.liquidation(f"t{k}-{i}", ts=ev.T0 + i))

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    assert writer.written == {"liquidations": 400}
    assert store.query("SELECT count(), uniqExact(event_id) FROM {db}.liquidations")[1] == [(400, 400)]
