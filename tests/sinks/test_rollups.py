"""The per-minute rollups stay exact whatever order and however often events arrive."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from pipeline.sinks.rollups import coalesce, touched

UTC = dt.timezone.utc
MIN = 60_000


def test_touched_minutes_form_runs_per_asset():
    rows = [{"asset": "BTC", "ts": t} for t in (0, 59_999, 60_000, 5 * MIN + 1)] + [{"asset": "ETH", "ts": 3 * MIN}]
    assert touched("liquidations", rows) == [("BTC", 0, 2 * MIN), ("BTC", 5 * MIN, 6 * MIN), ("ETH", 3 * MIN, 4 * MIN)]
    assert touched("alerts", rows) == []


def test_overlapping_and_adjacent_ranges_coalesce_per_asset():
    ranges = [("BTC", 5 * MIN, 6 * MIN), ("ETH", 0, MIN), ("BTC", 0, 2 * MIN), ("BTC", MIN, 3 * MIN), ("BTC", 3 * MIN, 4 * MIN)]
    assert coalesce(ranges) == [("BTC", 0, 4 * MIN), ("BTC", 5 * MIN, 6 * MIN), ("ETH", 0, MIN)]


def totals(store) -> list[tuple]:
    _, rows = store.query("SELECT minute, venue, side, liquidations, round(notional_usd_sum, 6) FROM {db}.liquidations_1m "
                          "ORDER BY minute, venue, side")
    return rows


def test_shuffled_redelivered_batches_give_the_rollup_of_the_distinct_events(store, ev):
    rng = random.Random(7)
    events = [ev.liquidation(f"l{i}", ts=ev.T0 + rng.randrange(10 * MIN), side=rng.choice(["long", "short"]),
                             venue=rng.choice(["okx", "bybit"]), price=100.0 + i, quantity=0.1 * (i % 7 + 1))
              for i in range(300)]
    deliveries = events + rng.sample(events, 120)  # at-least-once: some come twice, in other batches
    rng.shuffle(deliveries)
    for i in range(0, len(deliveries), 37):
        store.insert_events(deliveries[i:i + 37])
    expected = {}
    for e in events:
        key = (dt.datetime.fromtimestamp(e["ts"] // MIN * 60, UTC), e["venue"], e["side"])
        n, usd = expected.get(key, (0, 0.0))
        expected[key] = (n + 1, usd + e["notional_usd"])
    assert totals(store) == [(*k, n, pytest.approx(usd)) for k, (n, usd) in sorted(expected.items())]


def test_a_late_liquidation_updates_its_old_minute_only(store, ev):
    store.insert_events([ev.liquidation("a", ts=ev.T0 + 5_000), ev.liquidation("b", ts=ev.T0 + 3 * MIN)])
    before = totals(store)
    store.insert_events([ev.liquidation("late", ts=ev.T0 + 10_000, price=50.0, quantity=1.0)])
    after = totals(store)
    assert after[1] == before[1]
    assert after[0][3:] == (2, before[0][4] + 50.0)


def test_a_revised_bar_replaces_its_old_values(store, ev):
    store.insert_events([ev.trade_flow(ts=ev.T0, buy=10, sell=1, close=101.0),
                         ev.trade_flow(ts=ev.T0 + 10_000, buy=5, sell=5, close=102.0)])
    store.insert_events([ev.trade_flow(ts=ev.T0 + 10_000, buy=7, sell=9, close=99.0)])  # same bar, revised
    _, rows = store.query("SELECT buy_usd, sell_usd, close_price FROM {db}.trade_flow_1m")
    assert rows == [(17.0, 10.0, 99.0)]


def test_partial_and_sampled_rows_both_mark_a_minute_as_a_lower_bound(store, ev):
    store.insert_events([ev.liquidation("full", venue="bybit"),
                         ev.liquidation("sampled", venue="binance-usdm", completeness="sampled"),
                         ev.liquidation("partial", venue="hyperliquid", completeness="partial")])
    _, rows = store.query("SELECT venue, liquidations, sampled FROM {db}.liquidations_1m ORDER BY venue")
    assert rows == [("binance-usdm", 1, 1), ("bybit", 1, 0), ("hyperliquid", 1, 1)]
    _, ((stored,),) = store.query("SELECT completeness FROM {db}.liquidations FINAL WHERE event_id = 'partial'")
    assert stored == "partial"


def test_minutes_refreshed_together_after_several_inserts_equal_those_refreshed_by_each(store, ev):
    rng = random.Random(11)
    events = [ev.liquidation(f"l{i}", ts=ev.T0 + rng.choice([0, 1, 2, 7, 8, 30]) * MIN + rng.randrange(MIN),
                             asset=rng.choice(["BTC", "ETH", "SOL"]), side=rng.choice(["long", "short"]),
                             price=100.0 + i, quantity=0.5) for i in range(200)]
    stale: dict = {}
    for i in range(0, len(events), 30):
        store.insert_events(events[i:i + 30], stale)
    assert totals(store) == []  # stored, not recomputed yet
    assert len(stale["liquidations"]) > 3  # runs of minutes of three assets, one statement for them all
    store.refresh_rollups(stale)
    together = totals(store)
    store.refresh_rollup("liquidations")  # everything, from the rows
    assert together == totals(store) and sum(r[3] for r in together) == 200
