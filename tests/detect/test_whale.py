"""Whale episodes: deposit -> selling -> cascade, and what does not make one."""

from __future__ import annotations

import pytest

from pipeline.detect import CascadeDetector, DetectorConfig, alert_id_for
from pipeline.contracts.models import TradeFlow
from tests.detect.golden import alert_rows
from tests.detect.stories import MIN, NO_LINKS, T0, bars, deposit, drive, liqs, replay, stages, story


def test_full_sequence_escalates_in_stages():
    alerts = replay(story())
    assert stages(alerts) == [("BTC", "watch", "watch"), ("BTC", "sell", "sell"), ("BTC", "cascade", "cascade")]
    watch, sell, cascade = alerts
    assert watch.alert_id == sell.alert_id == cascade.alert_id == alert_id_for("BTC", "bitcoin:whale:0")
    assert watch.ts == T0 < sell.ts < cascade.ts
    assert sell.sell["drop_pct"] >= sell.sell["drop_needed_pct"] >= NO_LINKS.sell_min_drop_pct
    assert sell.sell["net_sell_usd"] >= 0.1 * 2.7e9
    assert cascade.cascade["long_share"] >= 0.7 and cascade.cascade["venues"] == ["bybit", "okx"]
    assert cascade.cascade["long_notional_usd"] >= cascade.cascade["threshold_usd"]


def test_a_wrapped_coin_deposit_is_its_coin_and_the_alert_names_the_token():
    """WBTC deposited on an exchange (published as BTC, token WBTC) makes the same episode a BTC deposit
    does; every stage's deposit evidence says what moved."""
    events = story()
    plain = replay(events)
    wrapped = [e.model_copy(update={"chain": "ethereum", "token": "WBTC", "event_id": "ethereum:0xw:7"})
               if e.type == "whale_transfer" else e for e in events]
    alerts = replay(wrapped)
    assert stages(alerts) == stages(plain) == [("BTC", "watch", "watch"), ("BTC", "sell", "sell"),
                                               ("BTC", "cascade", "cascade")]
    assert {a.deposit.model_extra.get("token") for a in alerts} == {"WBTC"}
    assert all("token" not in a.deposit.model_extra for a in plain)
    assert alerts[0].alert_id == alert_id_for("BTC", "ethereum:0xw:7")


@pytest.mark.parametrize("sell_from", [1, 12, 25, 28])
def test_selling_that_starts_late_in_the_window_is_judged_over_the_selling(sell_from):
    """Selling from 25 minutes after the deposit, for 20 minutes: its drop is measured while it lasts."""
    alerts = replay(story(sell_from=sell_from, burst_at=sell_from + 15))
    assert [a.stage for a in alerts] == ["watch", "sell", "cascade"]
    assert alerts[1].sell["selling_from"] >= T0 + sell_from * MIN - MIN
    assert alerts[2].kind == "whale_cascade"


def test_selling_is_followed_past_a_start_the_flow_noise_gave():
    """A blip of net selling a minute after the deposit reads as the selling's start; the real selling
    begins 28 minutes in and its drop shows 47 minutes in, later than 40 minutes after the blip. The
    episode is followed as long as a selling that counts may run, so it still reaches its sell stage."""
    cfg = DetectorConfig()
    s0, blip = T0 + 28 * MIN, T0 + MIN

    def price(t):
        return 115_000.0 if t < s0 else 115_000.0 - 30.0 * (t - s0) / MIN

    evs = [deposit(T0)]
    evs += bars(T0 - 10 * MIN, T0 + 180 * MIN, price_fn=price,
                sell_extra=lambda t: 40e6 if blip <= t < blip + 10_000 or s0 <= t < s0 + 20 * MIN else 0.0)
    evs += liqs(T0 - 10 * MIN, T0 + 180 * MIN, 30_000, 20_000, side="short", tag="bg")
    evs += liqs(T0 + 50 * MIN, T0 + 70 * MIN, 2_000, 150_000)
    alerts = replay(evs)
    assert [(a.kind, a.stage) for a in alerts] == [("whale_cascade", "watch"), ("whale_cascade", "sell"),
                                                   ("whale_cascade", "cascade")]
    sell = alerts[1]
    assert sell.sell["selling_from"] == blip
    assert sell.ts > blip + cfg.sell_max_ms  # past where following from the blip alone would have stopped
    assert sell.ts <= T0 + cfg.sell_window_ms + cfg.sell_max_ms


def test_buying_before_the_selling_does_not_hide_its_start():
    """Dip buyers net $10.8M a minute for 26 minutes after the deposit; then $24M a minute of net
    selling. Counted from the deposit, the net is still a buy when the selling window closes (minute
    30); counted over the selling itself (from the net's low), it has started by then."""
    s0 = T0 + 26 * MIN

    def price(t):
        return 115_000.0 if t < s0 else 115_000.0 * (1 - 0.003 * min(20.0, (t - s0) / MIN))

    evs = [deposit(T0)]
    evs += bars(T0 - 10 * MIN, T0 + 180 * MIN, price_fn=price,
                sell_extra=lambda t: -0.9e6 if T0 <= t < s0 else (2e6 if s0 <= t < s0 + 20 * MIN else 0.0))
    evs += liqs(T0 - 10 * MIN, T0 + 180 * MIN, 30_000, 20_000, side="short", tag="bg")
    evs += liqs(T0 + 45 * MIN, T0 + 60 * MIN, 2_000, 150_000)
    alerts = replay(evs)
    assert [(a.kind, a.stage) for a in alerts] == [("whale_cascade", "watch"), ("whale_cascade", "sell"),
                                                   ("whale_cascade", "cascade")]
    sell = alerts[1].sell
    assert s0 <= sell["selling_from"] < T0 + DetectorConfig().sell_window_ms
    assert sell["net_sell_usd"] >= 0.1 * 2.7e9 > sell["sell_usd"] - sell["buy_usd"]  # over the selling only


def test_selling_that_starts_after_the_window_does_not_count():
    alerts = replay(story(sell_from=45, cascade=False))
    assert stages(alerts) == [("BTC", "watch", "watch"), ("BTC", "expired", "watch")]
    assert alerts[1].ts == T0 + DetectorConfig().sell_window_ms


def test_deposit_without_selling_expires_at_watch():
    alerts = replay(story(sell=False, cascade=False))
    assert stages(alerts) == [("BTC", "watch", "watch"), ("BTC", "expired", "watch")]


def test_selling_without_cascade_expires_at_sell():
    assert stages(replay(story(cascade=False)))[-1] == ("BTC", "expired", "sell")


@pytest.mark.parametrize("kw", [{"dep_usd": 10e6}, {"direction": "exchange_internal"}, {"direction": "exchange_outflow"}])
def test_small_or_non_inflow_transfers_never_open_an_episode(kw):
    assert [a for a in replay(story(**kw)) if a.kind == "whale_cascade"] == []
    assert replay(story(sell=False, cascade=False, **kw)) == []


def test_second_deposit_joins_the_open_episode():
    alerts = replay(story() + [deposit(T0 + 2 * MIN, 1e9, eid="bitcoin:second:0")])
    assert len({a.alert_id for a in alerts}) == 1
    assert alerts[-1].deposit.deposit_count == 2 and alerts[-1].deposit.total_usd == pytest.approx(3.7e9)


@pytest.mark.parametrize("after_watch", [False, True])
def test_an_earlier_deposit_arriving_late_joins_the_open_episode(after_watch):
    evs = story()
    early = deposit(T0 - 2 * MIN, 1e9, eid="bitcoin:early:0")
    det = CascadeDetector(NO_LINKS)
    got, sent = [], False
    for e in evs:
        got += det.process(e).alerts
        due = bool(got) if after_watch else e.event_id == "bitcoin:whale:0"
        if due and not sent:
            got += det.process(early).alerts
            sent = True
    got += det.flush().alerts
    assert [a.stage for a in got] == ["watch", "sell", "cascade"]
    first = "bitcoin:whale:0" if after_watch else "bitcoin:early:0"
    assert {a.alert_id for a in got} == {alert_id_for("BTC", first)}
    assert got[-1].deposit.deposit_count == 2 and got[-1].deposit.total_usd == 1e9 + 2.7e9


def test_retracted_deposit_is_dropped():
    det = CascadeDetector(NO_LINKS)
    alerts = drive(det, sorted([deposit(T0)] + bars(T0, T0 + 2 * MIN, price_fn=lambda t: 115_000.0),
                               key=lambda e: e.ts))
    alerts += det.process(deposit(T0, retracted=True)).alerts + det.flush().alerts
    assert stages(alerts) == [("BTC", "watch", "watch"), ("BTC", "expired", "watch")]
    assert alerts[-1].model_dump()["retracted"] is True


def test_a_deposit_retracted_before_it_was_decided_never_alerts():
    det = CascadeDetector(NO_LINKS)
    alerts = drive(det, [bars(T0 - MIN, T0, price_fn=lambda t: 115_000.0)[0], deposit(T0), deposit(T0, retracted=True)])
    alerts += drive(det, bars(T0, T0 + 40 * MIN, price_fn=lambda t: 115_000.0)) + det.flush().alerts
    assert alerts == []


def test_a_deposit_small_against_the_venues_volume_opens_nothing():
    big = replay(story(dep_usd=80e6))
    assert big[0].stage == "watch" and big[0].deposit.model_dump()["volume_share"] > 0.05
    small = replay(story(dep_usd=80e6), NO_LINKS.model_copy(update={"deposit_min_volume_share": 0.2}))
    assert [a for a in small if a.kind == "whale_cascade"] == []


def test_the_drop_needed_grows_with_recent_volatility():
    jumpy = [e for e in story(cascade=False) if not (hasattr(e, "open") and e.ts < T0)]
    # An hour of +-1% swings every minute before the deposit: a 4% fall is no longer unusual.
    jumpy += bars(T0 - 60 * MIN, T0, price_fn=lambda t: 115_000.0 * (1.01 if (t // MIN) % 2 else 1.0), step=MIN)
    alerts = replay(jumpy)
    assert alerts[0].deposit.model_dump()["volatility_1m_pct"] > 0.9
    whale = [a for a in alerts if a.alert_id == alerts[0].alert_id]
    assert [a.stage for a in whale] == ["watch", "expired"] and whale[1].reached == "watch"


def minute_bar_story():
    """One-minute bars (as many feeds give them); the selling shows only in the bar in which the burst
    begins: the bar closes at T0+21 min, the burst's first seconds already pass the cascade test."""
    s0 = T0 + 20 * MIN

    def price(t):
        return 115_000.0 if t < s0 else 110_000.0

    evs = [deposit(T0)]
    evs += bars(T0 - 30 * MIN, T0 + 90 * MIN, price_fn=price, step=MIN,
                sell_extra=lambda t: 400e6 if s0 <= t < s0 + 3 * MIN else 0.0)
    evs += liqs(T0 - 30 * MIN, T0 + 90 * MIN, 30_000, 20_000, side="short", tag="bg")
    evs += liqs(s0 + 5_000, s0 + 10 * MIN, 2_000, 1.5e6)
    return sorted(evs, key=lambda e: e.ts)


def test_a_burst_inside_the_bar_that_shows_the_selling_is_alerted_before_the_bar_closes():
    """The cascade is published when its liquidations pass the test, as a liquidation cascade, and the
    whale claims it (same alert, amended) once the bar showing the selling has closed: the selling is
    not known before its bar ends, so it must not delay the cascade to then."""
    alerts = replay(minute_bar_story())
    cascades = [a for a in alerts if a.stage == "cascade"]
    first = cascades[0]
    assert first.kind == "liquidation_cascade" and first.ts < T0 + 21 * MIN
    assert {a.alert_id for a in cascades} == {first.alert_id}  # one alert for the burst
    last = max(cascades, key=lambda a: a.revision)
    assert last.kind == "whale_cascade" and last.amended and last.deposit.event_id == "bitcoin:whale:0"
    assert last.sell["ts"] == T0 + 21 * MIN


def test_whale_decisions_are_the_same_however_far_one_advance_moves_the_watermark():
    """Every bar read first (a worker catching up on one topic), then the rest: one advance passes the
    deposit, the bars and the burst together, and decides them in event-time order as a replay does."""
    evs = minute_bar_story()
    want = [(a.alert_id, a.stage, a.kind, a.revision, a.ts) for a in replay(evs)]
    det = CascadeDetector(NO_LINKS)
    ordered = [e for e in evs if isinstance(e, TradeFlow)] + [e for e in evs if not isinstance(e, TradeFlow)]
    got = drive(det, ordered, 1_800_000_000_000) + det.flush().alerts
    assert [(a.alert_id, a.stage, a.kind, a.revision, a.ts) for a in got] == want



def _into_a_burst(started_min: int):
    """The whale story (deposit at T0, selling from T0+5 min, its burst from T0+20 min) on an asset whose
    earlier burst began `started_min` minutes before the deposit, ran 10 minutes and is kept under way
    since by long liquidations at about half its threshold."""
    s0 = T0 - started_min * MIN
    evs = story(burst_at=20)
    evs += liqs(s0, s0 + 10 * MIN, 2_000, 150_000, tag="old")
    evs += liqs(s0 + 10 * MIN, T0 + 20 * MIN, 15_000, 150_000, tag="trickle")
    evs += bars(s0 - 30 * MIN, T0 - 10 * MIN, price_fn=lambda t: 115_000.0)
    return sorted(evs, key=lambda e: e.ts)


def test_a_whale_depositing_into_an_old_burst_under_way_gets_its_own_cascade():
    evs = _into_a_burst(40)
    alerts = replay(evs)
    assert [(a.kind, a.stage) for a in alerts] == [
        ("liquidation_cascade", "cascade"), ("whale_cascade", "watch"), ("whale_cascade", "sell"),
        ("whale_cascade", "cascade")]
    first, *_, cascade = alerts
    assert cascade.alert_id != first.alert_id
    # Called on the whale's own burst (from T0+20 min), on windows that begin after its selling showed.
    assert T0 + 20 * MIN <= cascade.ts <= T0 + 26 * MIN
    assert cascade.cascade["window_end"] - cascade.cascade["window_ms"] >= alerts[2].ts
    # The same read as a backlog at one wall-clock moment, and one event at a time as it happens.
    want = alert_rows(alerts)
    det = CascadeDetector(NO_LINKS)
    assert alert_rows(det.process_many(evs, T0).alerts + det.finish()) == want
    det = CascadeDetector(NO_LINKS)
    assert alert_rows([a for e in evs for a in det.process(e, e.ts + 1_000).alerts] + det.finish()) == want
    # Without the split the deposit feeds the old burst and no whale is seen at all.
    old = replay(evs, NO_LINKS.model_copy(update={"deposit_into_cascade_ms": 0}))
    assert [(a.kind, a.stage) for a in old] == [("liquidation_cascade", "cascade")]


def test_a_deposit_into_a_burst_that_just_began_opens_nothing():
    alerts = replay(_into_a_burst(4))
    assert [(a.kind, a.stage) for a in alerts] == [("liquidation_cascade", "cascade")]
