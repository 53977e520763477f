"""The producer against a real (embedded Tansu) broker: events reach their topics keyed by asset, in batch
envelopes within the configured bounds, in order per key; raw bytes untouched; a live Publisher's
envelope goes out after its linger with no further event."""

from __future__ import annotations

import time

import orjson

from pipeline.config import BatchConfig, Settings
from pipeline.contracts.envelope import is_batch
from pipeline.wire.producer import Publisher, publish
from tests.conftest import read_topic
from tests.envelopes import events_of

LIQ = {"type": "liquidation", "venue": "okx", "symbol": "BTC-USDT-SWAP", "side": "long", "price": 100.0,
       "quantity": 1.0, "notional_usd": 100.0, "completeness": "full"}


def liqs(n: int, asset: str, t0: int = 1_756_000_000_000, step_ms: int = 10) -> list[dict]:
    return [{**LIQ, "asset": asset, "event_id": f"{asset}:{i}", "ts": t0 + i * step_ms,
             "received_ts": t0 + i * step_ms} for i in range(n)]


def test_publish_packs_events_per_asset_within_bounds_and_keeps_their_order(broker):
    s = Settings(batch=BatchConfig(max_events=50, max_bytes=8 * 1024, linger_s=0.25))
    events = [e for pair in zip(liqs(300, "BTC"), liqs(300, "ETH")) for e in pair]
    bad = (s.topics.liquidations, b"BTC", b'{"type": "liquidation", "event_id": ')
    written = publish([*events[:100], bad, *events[100:]], broker.bootstrap, s)
    records = read_topic(broker.bootstrap, s.topics.liquidations)
    assert sum(written.values()) == len(records) < len(events) / 10
    assert all(len(r.value) <= 8 * 1024 for r in records)
    assert any(r.value == bad[2] for r in records)  # raw bytes go alone, as they are
    good = [r for r in records if r.value != bad[2]]
    got = events_of(good)
    for asset in ("BTC", "ETH"):
        mine = [e for k, e in got if e["asset"] == asset]
        assert mine == [e for e in events if e["asset"] == asset]
        assert {k for k, e in got if e["asset"] == asset} == {asset.encode()}
    # events 10 ms apart and a 250 ms linger on their arrival times: at most 26 per envelope
    sizes = [len(doc["batch"]) if is_batch(doc) else 1 for doc in (orjson.loads(r.value) for r in good)]
    assert 1 < max(sizes) <= 26


def test_single_event_messages_when_batching_is_off(broker):
    s = Settings(batch=BatchConfig(enabled=False))
    publish(liqs(20, "BTC"), broker.bootstrap, s)
    records = read_topic(broker.bootstrap, s.topics.liquidations)
    assert len(records) == 20 and not any(is_batch(orjson.loads(r.value)) for r in records)


def test_a_live_publisher_sends_an_open_envelope_after_its_linger(broker):
    s = Settings(batch=BatchConfig(linger_s=0.2))
    pub = Publisher(broker.bootstrap, s, background=True)
    try:
        for e in liqs(5, "BTC"):
            pub.send(e)
        pub.send({"type": "feed_health", "venue": "okx", "event_id": "okx:1", "status": "rates", "ts": 1,
                  "detail": "", "messages_per_s": 0.0, "liquidations_per_s": 0.0, "trades_per_s": 0.0,
                  "errors": 0, "reconnects": 0, "window_s": 1.0})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # no flush, no further event: the linger alone sends them
            if len(events_of(read_topic(broker.bootstrap, s.topics.liquidations, idle_ms=200))) == 5:
                break
            time.sleep(0.2)
        (record,) = read_topic(broker.bootstrap, s.topics.liquidations, idle_ms=200)
        assert [e["event_id"] for _, e in events_of([record])] == [f"BTC:{i}" for i in range(5)]
        (health,) = read_topic(broker.bootstrap, s.topics.feed_health, idle_ms=200)
        assert health.key == b"okx"
    finally:
        pub.close()
