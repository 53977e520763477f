"""Properties of the detection core, checked with hypothesis over generated episodes."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.contracts.models import Liquidation, TradeFlow, WhaleTransfer
from pipeline.detect import CascadeDetector, DetectorConfig
from tests.detect.stories import MIN, T0, bars, crash_price, deposit, liqs, replay

CFG = DetectorConfig(contagion_targets={})
stories = st.fixed_dictionaries({
    "sell": st.booleans(),
    "cascade": st.booleans(),
    "dep_usd": st.sampled_from([30e6, 80e6, 2.7e9]),
    "cascade_at": st.integers(min_value=10, max_value=60),
    "burst_usd": st.sampled_from([150_000.0, 600_000.0]),
})


def build(p: dict) -> list:
    evs = [deposit(T0, p["dep_usd"])]
    evs += bars(T0 - 10 * MIN, T0 + 150 * MIN, price_fn=crash_price if p["sell"] else (lambda t: 115_000.0),
                sell_extra=(lambda t: 40e6 if p["sell"] and T0 + 5 * MIN <= t < T0 + 25 * MIN else 0.0))
    evs += liqs(T0 - 10 * MIN, T0 + 150 * MIN, 45_000, 20_000, side="short", tag="bg")
    if p["cascade"]:
        c0 = T0 + p["cascade_at"] * MIN
        evs += liqs(c0, c0 + 15 * MIN, 2_000, p["burst_usd"])
    return sorted(evs, key=lambda e: e.ts)


def keyset(alerts) -> set:
    """What was decided: every stage of every episode, and each cascade as its latest revision says
    (a deposit seen late turns a published cascade into the whale's: same burst, same window)."""
    out = {(a.alert_id, a.stage, a.ts) for a in alerts if a.stage != "cascade"}
    latest = {a.alert_id: a for a in alerts if a.stage == "cascade"}
    return out | {("cascade", a.kind, a.deposit.event_id if a.deposit else None, a.cascade["window_end"])
                  for a in latest.values()}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=stories, seed=st.integers(0, 2**32 - 1))
def test_arrival_order_within_the_lateness_bound_does_not_change_alerts(p, seed):
    evs = build(p)
    rng = random.Random(seed)
    chain_jitter = CFG.chain_lateness_ms - 60_000
    ex_jitter = CFG.exchange_lateness_ms // 2
    arrival = sorted(((e.ts + (rng.randint(0, chain_jitter) if isinstance(e, WhaleTransfer)
                               else rng.randint(0, ex_jitter)), i, e) for i, e in enumerate(evs)))
    det = CascadeDetector(CFG)
    got = [a for _, _, e in arrival for a in det.feed(e)] + det.finish()
    assert sum(s.late for s in det.assets.values()) == 0
    assert keyset(got) == keyset(replay(evs, CFG))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=stories, cut=st.floats(0.05, 0.95), redeliver=st.integers(1, 300))
def test_redelivered_events_change_nothing(p, cut, redeliver):
    evs = build(p)
    k = int(len(evs) * cut)
    det = CascadeDetector(CFG)
    got = [a for e in evs[:k] for a in det.feed(e)]
    got += [a for e in evs[max(0, k - redeliver):k] for a in det.feed(e)]  # at-least-once redelivery
    got += [a for e in evs[k:] for a in det.feed(e)] + det.finish()
    assert [(a.alert_id, a.stage, a.ts) for a in got] == [(a.alert_id, a.stage, a.ts) for a in replay(evs, CFG)]


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hours=st.integers(3, 8), seed=st.integers(0, 1000))
def test_state_stays_bounded_however_long_the_stream(hours, seed):
    rng = random.Random(seed)
    det = CascadeDetector(CFG)
    end = T0 + hours * 60 * MIN
    evs = bars(T0, end, price_fn=lambda t: 100_000.0 * (1 + 0.001 * rng.random()), step=10_000)
    evs += liqs(T0, end, 3_000, 10_000.0, side="short")
    evs += [deposit(T0 + h * 60 * MIN, 1e8, eid=f"bitcoin:d{h}:0") for h in range(hours)]
    peak = 0
    for e in sorted(evs, key=lambda e: e.ts):
        det.process(e)
        s = det.state("BTC")
        peak = max(peak, len(s.bars) + len(s.liqs))
    s = det.state("BTC")
    horizon_ms = det.retention_ms
    per_ms = 2 / 10_000 + 1 / 3_000  # bars of 2 venues every 10 s, a liquidation every 3 s
    assert peak <= horizon_ms * per_ms * 1.1 + 10
    assert len(s.episodes) <= 1 and len(s.seen) <= 64 + 2
    assert all(isinstance(e, (TradeFlow, Liquidation, WhaleTransfer)) for e in evs)
