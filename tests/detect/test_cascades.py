"""The cascade test: published at once, one alert per burst, floors learned per asset, amendments."""

from __future__ import annotations

import math

import pytest

from pipeline.contracts.models import Liquidation, WhaleTransfer, event_from_dict
from pipeline.detect import CascadeDetector, DetectorConfig, cascades
from pipeline.detect.thresholds import threshold
from tests.detect import plain_judging
from tests.detect.golden import alert_rows, case_events, in_order
from tests.detect.stories import MIN, NO_LINKS, T0, bars, burst, drive, liqs, noise, replay, story

DAY = 24 * 60 * MIN


def no_whale(**kw):
    return [e for e in story(**kw) if not isinstance(e, WhaleTransfer)]


def test_a_cascade_without_a_whale_is_published_within_seconds_of_the_burst():
    alerts = replay(no_whale())
    assert [(a.kind, a.stage, a.deposit) for a in alerts] == [("liquidation_cascade", "cascade", None)]
    c = alerts[0].cascade
    assert c["long_share"] >= 0.7 and c["long_notional_usd"] >= c["threshold_usd"]
    # The burst starts at T0+20m at $4.5M a minute while the price has been falling for 15 minutes: a
    # price break, so half the cold floor ($5M in a window) will do, reached in ~33 s (~67 s for all of it).
    assert c["threshold_scaled_by_price"] == 0.5
    assert T0 + 20 * MIN + 30_000 <= alerts[0].ts <= T0 + 20 * MIN + 40_000


def test_one_alert_per_burst_and_a_new_one_after_quiet():
    longer = no_whale() + liqs(T0 + 41 * MIN, T0 + 60 * MIN, 2_000, 600_000, tag="c2")
    assert len({a.alert_id for a in replay(longer)}) == 1
    again = no_whale() + liqs(T0 + 100 * MIN, T0 + 110 * MIN, 2_000, 150_000, tag="c3")
    alerts = replay(again)
    assert [a.kind for a in alerts] == ["liquidation_cascade"] * 2 and alerts[1].ts >= T0 + 100 * MIN


def test_a_crash_whose_first_minute_is_its_largest_is_a_cascade():
    evs = no_whale(cascade=False) + liqs(T0 + 20 * MIN, T0 + 21 * MIN, 1_000, 400_000, tag="gap")
    evs += liqs(T0 + 21 * MIN, T0 + 35 * MIN, 10_000, 100_000, tag="tail")
    alerts = replay(evs)
    assert [a.kind for a in alerts] == ["liquidation_cascade"] and alerts[0].ts < T0 + 21 * MIN


def test_the_floor_is_learned_from_each_assets_own_history():
    """Two days of history: a $1.2M-a-minute burst is extreme for a quiet asset, ordinary for a busy one."""
    start = T0 - 2 * DAY
    quiet = noise("SOL", start, T0 + 60 * MIN, 2_000, seed=1)
    busy = noise("BTC", start, T0 + 60 * MIN, 300_000, seed=2, every_ms=5_000)
    evs = quiet + busy + burst("SOL", T0, 10, 1.2e6) + burst("BTC", T0, 10, 1.2e6)
    cascades = [a for a in replay(evs) if a.stage == "cascade" and not a.revision]
    assert [(a.asset, a.cascade["floor_source"]) for a in cascades] == [("SOL", "learned")]
    sol = cascades[0].cascade
    assert sol["history_minutes"] >= 2 * 24 * 60 - 3 * 60 and sol["threshold_usd"] < 1.2e6 * 5
    assert cascades[0].evidence["floor_source"] == "learned"


def test_a_cold_start_uses_the_fallback_floor_and_says_so():
    alerts = replay(no_whale())
    assert alerts[0].cascade["floor_source"] == "cold_start"
    c = alerts[0].cascade  # the story's price is falling: the floor at the price break's fraction
    assert c["threshold_usd"] == NO_LINKS.cold_floor("BTC") * c["threshold_scaled_by_price"]
    assert alerts[0].evidence["floor_source"] == "cold_start"
    # Ten minutes holding 90% of the middle window's small-asset cold floor: below every window's.
    small = replay(burst("DOGE", T0, 10, 0.9 * NO_LINKS.cold_floor("DOGE", 15 * MIN) / 10))
    assert small == []


def test_a_cascade_must_stand_out_from_the_recent_baseline():
    evs = [e for e in story() if not (isinstance(e, Liquidation) and e.side == "long")]
    evs += liqs(T0 + 20 * MIN, T0 + 40 * MIN, 2_000, 600_000)
    assert [a.stage for a in replay(evs)][-1] == "cascade"
    heavy_hour = liqs(T0 - 60 * MIN, T0 + 15 * MIN, 2_000, 300_000, tag="pre")  # $45M per 5 min for an hour
    # The five-minute window alone: its cold floor is above the heavy hour's five minutes, so only the
    # baseline can reject the burst that follows.
    cfg = NO_LINKS.model_copy(update={"cold_floor_usd": {"BTC": 60e6}, "cascade_mid_window_ms": 0,
                                      "cascade_long_window_ms": 0})
    assert [a.stage for a in replay(evs, cfg)][-1] == "cascade"
    assert [a for a in replay(evs + heavy_hour, cfg) if a.stage == "cascade"] == []


def test_a_late_deposit_turns_the_published_cascade_into_the_whale_s():
    """Published at once as a liquidation cascade; the deposit seen later claims it: same alert, amended."""
    evs = story(sell_from=2, burst_at=10)
    dep = next(e for e in evs if isinstance(e, WhaleTransfer))
    rest = [e for e in evs if e is not dep]
    det = CascadeDetector(NO_LINKS)
    before = drive(det, [e for e in rest if e.ts < T0 + 14 * MIN])
    assert [(a.kind, a.stage) for a in before] == [("liquidation_cascade", "cascade")]
    after = drive(det, [dep] + [e for e in rest if e.ts >= T0 + 14 * MIN]) + det.flush().alerts
    amended = [a for a in after if a.stage == "cascade"]
    assert [(a.kind, a.revision, a.amended) for a in amended] == [("whale_cascade", 1, True)]
    assert amended[0].alert_id == before[0].alert_id and amended[0].deposit.event_id == dep.event_id
    assert amended[0].sell is not None and amended[0].ts == before[0].ts
    assert [a.stage for a in after if a.stage != "cascade"] == ["watch", "sell"]


def test_a_cascade_while_the_selling_is_under_way_confirms_the_sell_stage():
    """The burst begins a minute after the selling: the whale's alert goes to its sell stage, confirmed
    by the cascade, and on to the cascade at once; nothing is published as a liquidation cascade."""
    alerts = replay(story(sell_from=16, burst_at=17))
    assert [(a.kind, a.stage, a.revision) for a in alerts] == [
        ("whale_cascade", "watch", 0), ("whale_cascade", "sell", 0), ("whale_cascade", "cascade", 0)]
    sell, cascade = alerts[1], alerts[2]
    assert sell.sell["confirmed_by"] == "cascade" and sell.ts == cascade.ts
    assert cascade.deposit.event_id == "bitcoin:whale:0" and cascade.cascade["minutes_after_sell"] == 0


def test_not_before_the_deposit_is_known_in_any_read_order():
    """A burst within the chain lateness of the deposit is judged as a stream that has not read the
    deposit yet would judge it: published as it is, then claimed when the selling shows."""
    alerts = replay(story(sell_from=8, burst_at=9))
    cascades = [a for a in alerts if a.stage == "cascade"]
    assert [(a.kind, a.revision) for a in cascades] == [("liquidation_cascade", 0), ("whale_cascade", 1)]


def test_without_that_the_cascade_is_claimed_when_the_selling_shows():
    cfg = NO_LINKS.model_copy(update={"sell_confirmed_by_cascade": False})
    alerts = replay(story(sell_from=16, burst_at=17), cfg)
    cascades = [a for a in alerts if a.stage == "cascade"]
    assert [(a.kind, a.revision) for a in cascades] == [("liquidation_cascade", 0), ("whale_cascade", 1)]
    assert cascades[1].deposit.event_id == "bitcoin:whale:0" and "confirmed_by" not in cascades[1].sell


def _watch_with_selling_but_no_drop(burst_at, every_ms=2_000):
    """Deposit at T0; net taker selling from T0+5 min for 20 min with the price flat (its drop never
    shows: the episode stays at watch); long liquidations from T0+`burst_at` min for 20 min."""
    flat = bars(T0 - 10 * MIN, T0 + 240 * MIN, price_fn=lambda t: 115_000.0,
                sell_extra=lambda t: 40e6 if T0 + 5 * MIN <= t < T0 + 25 * MIN else 0.0)
    evs = [e for e in story(sell=False, cascade=False) if e.type != "trade_flow"] + flat
    return sorted(evs + liqs(T0 + burst_at * MIN, T0 + (burst_at + 20) * MIN, every_ms, 150_000), key=lambda e: e.ts)


def test_a_watch_whose_selling_started_waits_for_a_slow_cascade():
    """The burst is called 80 minutes after the deposit, past the watch's selling window (30 + 40 min) but
    within `cascade_max_delay_ms` of the selling's start: it confirms the sell stage and is the whale's."""
    alerts = replay(_watch_with_selling_but_no_drop(burst_at=80))
    assert [(a.kind, a.stage) for a in alerts] == [
        ("whale_cascade", "watch"), ("whale_cascade", "sell"), ("whale_cascade", "cascade")]
    assert alerts[1].sell["confirmed_by"] == "cascade" and alerts[2].deposit.event_id == "bitcoin:whale:0"


def test_such_a_watch_expires_when_no_cascade_comes_in_time():
    late = replay(_watch_with_selling_but_no_drop(burst_at=130))  # selling from T0+5: waited for until T0+125
    assert [(a.kind, a.stage) for a in late] == [
        ("whale_cascade", "watch"), ("whale_cascade", "expired"), ("liquidation_cascade", "cascade")]
    assert late[1].ts == T0 + 5 * MIN + NO_LINKS.cascade_max_delay_ms
    cfg = NO_LINKS.model_copy(update={"sell_confirmed_by_cascade": False})  # then it expires at its deadline
    assert [a.ts for a in replay(_watch_with_selling_but_no_drop(burst_at=80), cfg) if a.stage == "expired"] == [
        T0 + cfg.sell_window_ms + cfg.sell_max_ms]


def test_selling_that_has_started_lowers_the_threshold_by_half():
    """The whale's selling has started but its drop never shows: a burst of $9M over 20 minutes, below the
    cold-start floor of every window, is its cascade at the threshold scaled by `selling_started_factor`
    (a cold floor by its square root); without it the watch expires and nothing is called."""
    evs = _watch_with_selling_but_no_drop(burst_at=20, every_ms=20_000)
    alerts = replay(evs)
    assert [(a.kind, a.stage) for a in alerts] == [
        ("whale_cascade", "watch"), ("whale_cascade", "sell"), ("whale_cascade", "cascade")]
    cascade = alerts[2].cascade
    plain = NO_LINKS.cold_floor("BTC", cascade["window_ms"])
    assert cascade["threshold_usd"] == pytest.approx(plain * NO_LINKS.selling_started_factor ** 0.5, rel=1e-6)
    assert cascade["long_notional_usd"] < plain and alerts[1].sell["confirmed_by"] == "cascade"
    off = replay(evs, NO_LINKS.model_copy(update={"selling_started_factor": 1.0}))
    assert [(a.kind, a.stage) for a in off] == [("whale_cascade", "watch"), ("whale_cascade", "expired")]


def test_a_cascade_called_at_a_lowered_threshold_stays_under_way_at_half_of_it():
    """A whale's cascade called at its sell stage's threshold, a lull of long liquidations at about half
    of that, then a second wave: one burst, one alert. Were it kept under way at half the plain threshold
    only, the lull would end it and the second wave would be a cascade of its own."""
    evs = story(cascade=False)
    evs += liqs(T0 + 20 * MIN, T0 + 25 * MIN, 12_000, 150_000, tag="w1")
    evs += liqs(T0 + 25 * MIN, T0 + 90 * MIN, 90_000, 150_000, tag="lull")
    evs += liqs(T0 + 90 * MIN, T0 + 100 * MIN, 2_000, 150_000, tag="w2")
    evs = sorted(evs, key=lambda e: e.ts)
    want = [("whale_cascade", "watch"), ("whale_cascade", "sell"), ("whale_cascade", "cascade")]
    assert [(a.kind, a.stage) for a in replay(evs)] == want
    off = replay(evs, NO_LINKS.model_copy(update={"hot_at_called": False}))
    assert [(a.kind, a.stage) for a in off] == want + [("liquidation_cascade", "cascade")]


def test_a_whale_s_selling_lowers_the_count_needed_with_the_threshold():
    """After two days of history the count test asks for many liquidations. Inside a whale's selling the
    count needed falls with the USD (`sell_threshold_factor`): a burst from fewer, larger liquidations
    than an unexplained cascade would need is the whale's."""
    history = noise("BTC", T0 - 2 * DAY, T0 - 10 * MIN, 20_000, seed=5, every_ms=5_000)
    history += bars(T0 - 2 * DAY, T0 - 10 * MIN, price_fn=lambda t: 115_000.0, step=60_000)
    det = CascadeDetector(NO_LINKS)
    drive(det, sorted(history, key=lambda e: e.ts))
    need, info = threshold(NO_LINKS, det.state("BTC"), 5 * MIN, NO_LINKS.floor_factor, T0)
    full = info["count_needed"]
    assert info["floor_source"] == "learned" and full >= 12
    scaled = max(NO_LINKS.cascade_min_count, math.ceil(full * NO_LINKS.sell_threshold_factor))
    n = (full + 1) // 2  # between the scaled count and the full one
    prints = liqs(T0 + 30 * MIN, T0 + 31 * MIN, 60_000 // n, need / n, tag="p")  # the full threshold's USD
    evs = [e for e in story(sell_from=5, cascade=False) if e.ts >= T0 - 10 * MIN] + prints
    got = [a for a in drive(det, sorted(evs, key=lambda e: e.ts)) + det.finish() if a.stage == "cascade"]
    assert [a.kind for a in got] == ["whale_cascade"]
    assert scaled <= got[0].cascade["liquidation_count"] < full and got[0].cascade["count_needed"] == scaled


def test_alerts_name_sampled_and_gapped_feeds():
    evs = [e for e in story() if not (hasattr(e, "open") and e.venue == "bybit" and T0 + 17 * MIN <= e.ts < T0 + 22 * MIN)]
    cascade = replay(evs)[-1]
    assert cascade.stage == "cascade" and "bybit/BTCUSDT" in cascade.evidence["gapped_markets"]
    assert replay(story())[-1].evidence["gapped_markets"] == []
    sampled = [e.model_copy(update={"completeness": "sampled"}) if isinstance(e, Liquidation) else e for e in story()]
    assert replay(sampled)[-1].evidence["sampled_venues"] == ["bybit", "okx"]


def test_a_late_liquidation_amends_the_published_cascade():
    cascade = next(a for a in replay(story()) if a.stage == "cascade")
    end = cascade.cascade["window_end"]
    det = CascadeDetector(NO_LINKS)
    got = drive(det, [e for e in story() if e.ts < end + 5 * MIN])
    assert cascade in got
    late = Liquidation(event_id="late:1", venue="okx", symbol="BTCUSDT", asset="BTC", side="long", price=110_000.0,
                       quantity=100.0, notional_usd=11e6, ts=end - 1_000, received_ts=end + 20 * MIN,
                       completeness="full")
    out = det.process(late)
    assert det.state("BTC").late == 1 and out.late == [late]
    assert [(a.stage, a.amended, a.revision) for a in out.alerts] == [("cascade", True, 1)]
    assert out.alerts[0].alert_id == cascade.alert_id and out.alerts[0].event_id.endswith(":r1")
    assert round(out.alerts[0].cascade["long_notional_usd"] - cascade.cascade["long_notional_usd"], 2) == 11e6
    assert det.process(late).alerts == []  # the same late event again changes nothing


def test_critical_when_far_above_the_threshold():
    huge = no_whale(cascade=False) + liqs(T0 + 20 * MIN, T0 + 30 * MIN, 500, 2_000_000)
    first, escalated = replay(huge)
    assert (first.severity, first.revision) == ("high", 0)
    assert (escalated.alert_id, escalated.severity, escalated.revision, escalated.amended) == (
        first.alert_id, "critical", 1, True)
    assert escalated.cascade["peak"]["long_notional_usd"] >= 10 * first.cascade["threshold_usd"]
    assert [a.severity for a in replay(no_whale())] == ["high"]


def test_every_asset_can_cascade():
    for asset in ("ETH", "SOL", "XRP", "DOGE"):
        alerts = replay(burst(asset, T0, 10, 30e6) + bars(T0 - 5 * MIN, T0 + 30 * MIN, price_fn=lambda t: 10.0,
                                                           asset=asset))
        assert {(a.asset, a.kind, a.alert_id) for a in alerts} == {(asset, "liquidation_cascade", alerts[0].alert_id)}
    assert DetectorConfig().cold_floor("SOL") < DetectorConfig().cold_floor("BTC")


def _learned_sol(probe):
    """Two days of quiet SOL history, then `probe(need, count)` -> the liquidations to judge; their alerts."""
    start = T0 - 2 * DAY
    history = noise("SOL", start, T0, 2_000, seed=3)
    det = CascadeDetector(NO_LINKS)
    drive(det, history)
    need, info = threshold(NO_LINKS, det.state("SOL"), 5 * MIN, NO_LINKS.floor_factor, T0)
    assert info["floor_source"] == "learned" and info["count_needed"] > 6
    tail = noise("SOL", T0 + 10 * MIN, T0 + 60 * MIN, 2_000, seed=4)
    return [a for a in drive(det, probe(need, info["count_needed"]) + tail) + det.finish() if a.stage == "cascade"]


def test_a_few_large_prints_are_not_a_cascade_but_as_much_from_many_liquidations_is():
    def prints(n):
        return lambda need, count: [e.model_copy(update={"asset": "SOL", "symbol": "SOLUSDT", "event_id": f"p{n}:{i}"})
                                    for i, e in enumerate(liqs(T0 + MIN, T0 + 2 * MIN, 60_000 // n, 1.5 * need / n))]
    assert _learned_sol(prints(3)) == []  # a heavy tail: one and a half times the USD, from three prints
    many = _learned_sol(prints(60))
    assert len(many) == 1 and many[0].cascade["liquidation_count"] >= many[0].cascade["count_needed"]


def test_one_print_however_large_is_not_a_cascade():
    """Four long liquidations, enough by count and far past the cold floor ($5M) in USD: one of $40M
    and three small ones is one position closed, four of $10M are a chain."""
    quiet = no_whale(cascade=False)

    def four(big, small):
        sizes = [big, small, small, small]
        return [e.model_copy(update={"notional_usd": usd, "quantity": usd / 110_000})
                for e, usd in zip(liqs(T0 + 20 * MIN, T0 + 22 * MIN, 30_000, 1.0, tag="p"), sizes)]

    assert [a for a in replay(quiet + four(40e6, 20_000)) if a.stage == "cascade"] == []
    chain = [a for a in replay(quiet + four(10e6, 10e6)) if a.stage == "cascade"]
    assert [a.kind for a in chain] == ["liquidation_cascade"]
    assert chain[0].cascade["long_notional_usd"] - 10e6 >= NO_LINKS.cascade_rest_fraction * chain[0].cascade["threshold_usd"]


def test_the_longs_at_the_tail_of_a_short_squeeze_are_not_a_long_cascade():
    """$20M of shorts liquidated in ten minutes, then $6M of longs in four: past the cold floor ($5M)
    in five minutes with no short among them, but the squeeze still dominates the longer windows."""
    squeeze = liqs(T0 + 20 * MIN, T0 + 30 * MIN, 2_000, 66_667, side="short", tag="sq")
    longs = liqs(T0 + 31 * MIN, T0 + 35 * MIN, 2_000, 50_000, tag="after")
    quiet = no_whale(cascade=False)
    assert [a.kind for a in replay(quiet + longs) if a.stage == "cascade"] == ["liquidation_cascade"]
    assert [a for a in replay(quiet + squeeze + longs) if a.stage == "cascade"] == []
    lenient = NO_LINKS.model_copy(update={"cascade_context_long_share": 0.0})
    assert [a.kind for a in replay(quiet + squeeze + longs, lenient) if a.stage == "cascade"] == ["liquidation_cascade"]


def test_the_tail_of_a_finished_burst_in_the_long_window_is_not_a_new_one():
    """A front-loaded crash, quiet for longer than cascade_quiet_ms, then ordinary noise: the hour
    window still holds the crash, which was alerted once."""
    crash = liqs(T0 + 20 * MIN, T0 + 23 * MIN, 2_000, 600_000)
    later = liqs(T0 + 60 * MIN, T0 + 75 * MIN, 60_000, 5_000, tag="late")
    cascades = [a for a in replay(no_whale(cascade=False) + crash + later) if a.stage == "cascade"]
    assert len({a.alert_id for a in cascades}) == 1


def test_the_history_starts_with_the_first_liquidation_however_long_its_feed_is_silent():
    """Nine minutes of bars before the asset's first liquidation. Read in event time, or as they happen,
    the silent liquidation feed stops holding the watermark after `idle_timeout_ms`, and the asset is
    judged before it has any liquidation; read as a backlog at one wall-clock moment, it is not judged
    until both feeds are heard. The history, and the alert naming its length, start with the first
    liquidation either way."""
    early = bars(T0 - 20 * MIN, T0 - 11 * MIN, price_fn=lambda t: 115_000.0, venues=("bybit",))
    first_liq = liqs(T0 - 11 * MIN + 12_000, T0 - 11 * MIN + 13_000, 1_000, 20_000, side="short", tag="first")
    evs = early + first_liq + no_whale()
    runs = []
    for now in (lambda e: None, lambda e: e.ts + 1_000, lambda e: T0 + 5 * 60 * MIN):
        det = CascadeDetector(NO_LINKS)
        runs.append(alert_rows([a for e in evs for a in det.feed(e, now(e))] + det.finish()))
        assert sum(st.late for st in det.assets.values()) == 0
    assert runs[0] and runs[0] == runs[1] == runs[2]
    # the level of T0's hour: the minutes from the first liquidation's to T0
    assert runs[0][0]["cascade"]["history_minutes"] == 11


def test_an_hour_of_quiet_history_lets_a_slow_burst_pass_the_long_windows_guess():
    """A slow ETH burst 2.5 hours into a quiet feed: no 5- or 15-minute window reaches the guess, but its hour
    holds 60% of the long window's guess. From `cold_top_min_ms` (1 h) of history the long window's threshold
    may fall below the guess, to `cold_long_floor_fraction` of it: called. Read only from 3 h on, it was not."""
    floor_long = NO_LINKS.cold_floor("ETH", NO_LINKS.cascade_long_window_ms)
    start = T0 + 150 * MIN
    quiet = noise("ETH", T0, start, 1_000, seed=6)
    slow = burst("ETH", start, 40, 0.6 * floor_long / 40)
    assert 0.6 * floor_long / 8 < NO_LINKS.cold_floor("ETH")  # no short window reaches the guess
    called = [a for a in drive(CascadeDetector(NO_LINKS), quiet + slow) if a.stage == "cascade"]
    assert len(called) == 1 and called[0].cascade["window_ms"] == NO_LINKS.cascade_long_window_ms
    assert called[0].evidence["floor_source"] == "cold_start+top"
    late = NO_LINKS.model_copy(update={"cold_top_min_ms": 3 * 60 * MIN})
    assert [a for a in drive(CascadeDetector(late), quiet + slow) if a.stage == "cascade"] == []


@pytest.mark.parametrize("order", ["arrival", "event_time"])
def test_the_judging_loop_decides_as_the_plain_one(order, monkeypatch):
    """cascades.judge passes over a long liquidation below every threshold, or one that only keeps a
    burst hot, without asking `_judge_at`: on a simulator case with every episode kind, the alerts and
    every asset's state at the end are the same as with the plain loop that asks for each one."""
    events = in_order(case_events("seed1"), order)

    def run() -> tuple[list, dict]:
        det = CascadeDetector()
        alerts = []
        for d in events:
            alerts.extend(det.feed(event_from_dict(d)))
        states = {a: det.snapshot(a) for a in sorted(det.assets)}
        return alert_rows(alerts + det.finish()), states

    fast = run()
    monkeypatch.setattr(cascades, "judge", plain_judging.judge)
    plain = run()
    assert fast[0] == plain[0] and len(fast[0]) > 10
    assert fast[1] == plain[1]
