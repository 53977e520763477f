"""Relative thresholds, evidence quality, amendments after late data, and contagion across assets."""

from __future__ import annotations

import time

from pipeline.contracts.interchange import read_events
from pipeline.contracts.models import Liquidation
from pipeline.detect import CascadeDetector, DetectorConfig
from pipeline.scenarios import bundled
from tests.detect.test_sequence import MIN, NO_LINKS, T0, bars, crash_price, deposit, liqs, replay, story


def busy_story(dep_usd):
    """The full story, with Binance trading ~$12M a minute (about $720M an hour) before the deposit."""
    return story(dep_usd=dep_usd)


def test_a_deposit_small_against_the_venues_volume_opens_nothing():
    big = replay(busy_story(80e6))  # 11% of the venue's hour
    assert [a.stage for a in big][:1] == ["watch"]
    assert big[0].deposit.model_dump()["volume_share"] > 0.05
    small = replay(busy_story(80e6), NO_LINKS.model_copy(update={"deposit_min_volume_share": 0.2}))
    assert [a for a in small if a.kind == "whale_cascade"] == []


def test_the_drop_needed_grows_with_recent_volatility():
    calm = replay(story())
    assert calm[1].sell["drop_needed_pct"] == 1.0
    jumpy = [e for e in story() if not (hasattr(e, "open") and e.ts < T0)]
    # An hour of +-1% swings every minute before the deposit: a 4% fall is no longer unusual.
    jumpy += bars(T0 - 60 * MIN, T0, price_fn=lambda t: 115_000.0 * (1.01 if (t // MIN) % 2 else 1.0), step=MIN)
    alerts = replay(sorted(jumpy, key=lambda e: e.ts))
    watch = alerts[0]
    assert watch.deposit.model_dump()["volatility_1m_pct"] > 0.9
    whale = [a for a in alerts if a.kind == "whale_cascade"]
    assert [a.stage for a in whale] == ["watch", "expired"] and whale[1].reached == "watch"


def test_a_cascade_must_stand_out_from_the_recent_baseline():
    evs = [e for e in story() if not (isinstance(e, Liquidation) and e.side == "long")]
    evs += liqs(T0 + 20 * MIN, T0 + 40 * MIN, 2_000, 600_000)
    heavy_hour = liqs(T0 - 60 * MIN, T0 + 15 * MIN, 2_000, 300_000, tag="pre")  # $45M per 5 min, for an hour
    assert [a.stage for a in replay(sorted(evs, key=lambda e: e.ts))][-1] == "cascade"
    alerts = replay(sorted(evs + heavy_hour, key=lambda e: e.ts), NO_LINKS.model_copy(update={"cascade_min_acceleration": 0}))
    assert [a.stage for a in alerts if a.kind == "whale_cascade"][-1] == "expired"


def test_the_fading_tail_of_an_earlier_burst_is_not_a_cascade():
    fading = [e for e in story() if not (isinstance(e, Liquidation) and e.side == "long")]
    # $120M one minute after the deposit, before any selling, then a thin tail: the windows the
    # cascade stage may look at (from the sell on) all hold more in their first half than their second.
    fading += liqs(T0 + 1 * MIN, T0 + 2 * MIN, 500, 1_000_000, tag="spike")
    fading += liqs(T0 + 2 * MIN, T0 + 40 * MIN, 20_000, 100_000, tag="tail")
    fading = sorted(fading, key=lambda e: e.ts)
    loose = replay(fading, NO_LINKS.model_copy(update={"cascade_min_acceleration": 0}))
    strict = replay(fading)
    assert loose[-1].stage == "cascade" and loose[-1].cascade["acceleration"] < 1
    assert strict[-1].stage == "expired" and strict[-1].reached == "sell"


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
    got = [a for e in story() if e.ts < end + 5 * MIN for a in det.process(e)]
    assert cascade in got
    late = Liquidation(event_id="late:1", venue="okx", symbol="BTCUSDT", asset="BTC", side="long", price=110_000.0,
                       quantity=100.0, notional_usd=11e6, ts=end - 1_000, received_ts=end + 20 * MIN,
                       completeness="full")
    amended = det.process(late)
    assert det.state("BTC").late == 1
    assert [(a.stage, a.amended, a.revision) for a in amended] == [("cascade", True, 1)]
    assert amended[0].alert_id == cascade.alert_id and amended[0].event_id.endswith(":r1")
    assert round(amended[0].cascade["long_notional_usd"] - cascade.cascade["long_notional_usd"], 2) == 11e6
    assert det.process(late) == []  # the same late event again changes nothing


def test_a_late_burst_turns_an_expired_episode_into_a_cascade():
    evs = story(cascade=False)
    det = CascadeDetector(NO_LINKS)
    got = [a for e in evs for a in det.process(e)] + det.flush()
    assert [a.stage for a in got] == ["watch", "sell", "expired"]
    deadline = got[-1].ts
    det = CascadeDetector(NO_LINKS)
    got = [a for e in evs if e.ts < deadline + 12 * MIN for a in det.process(e)]
    assert got[-1].stage == "expired" and got[-1].reached == "sell"
    # Liquidations from before the deadline, arriving after it passed, still inside the buffers.
    burst = liqs(deadline - 4 * MIN, deadline - 1_000, 2_000, 600_000, tag="lateburst")
    amended = [a for e in burst for a in det.process(e)]
    assert [(a.stage, a.amended) for a in amended] == [("cascade", True)]
    assert amended[0].alert_id == got[0].alert_id and amended[0].revision == 1


def eth_burst(start, usd):
    return [e.model_copy(update={"asset": "ETH", "symbol": "ETHUSDT", "event_id": "eth" + e.event_id})
            for e in liqs(start, start + 5 * MIN, 2_000, usd)]


def eth_background():
    out = bars(T0 - 10 * MIN, T0 + 180 * MIN, price_fn=lambda t: 4_000.0, asset="ETH")
    out += [e.model_copy(update={"asset": "ETH", "symbol": "ETHUSDT", "event_id": "eth" + e.event_id})
            for e in liqs(T0 - 10 * MIN, T0 + 180 * MIN, 30_000, 20_000, side="short", tag="ethbg")]
    return out


def test_a_btc_cascade_opens_a_contagion_watch_on_eth_with_a_lower_floor():
    # $45M of ETH longs in 5 minutes, 3 minutes after BTC's cascade: below a cascade of its own.
    btc = story()
    btc_cascade = next(a for a in replay(btc) if a.stage == "cascade")
    evs = sorted(btc + eth_background() + eth_burst(btc_cascade.ts + 3 * MIN, 300_000), key=lambda e: e.ts)
    alerts = replay(evs, DetectorConfig())
    eth = [a for a in alerts if a.asset == "ETH"]
    assert [(a.kind, a.stage) for a in eth] == [("contagion_cascade", "watch"), ("contagion_cascade", "cascade")]
    assert eth[0].linked_to.alert_id == btc_cascade.alert_id and eth[0].ts == btc_cascade.ts
    assert 25e6 <= eth[1].cascade["long_notional_usd"] < 50e6
    assert [a for a in replay(evs) if a.asset == "ETH"] == []  # without the link: nothing on ETH


def test_an_eth_cascade_just_before_btcs_is_reclassified_as_linked():
    btc = [e for e in story() if e.asset == "BTC"]
    btc_cascade = next(a for a in replay(btc) if a.stage == "cascade")
    evs = sorted(btc + eth_background() + eth_burst(btc_cascade.ts - 6 * MIN, 600_000), key=lambda e: e.ts)
    eth = [a for a in replay(evs, DetectorConfig()) if a.asset == "ETH" and a.stage == "cascade"]
    assert [(a.kind, a.revision, a.amended) for a in eth] == [("liquidation_cascade", 0, False),
                                                              ("contagion_cascade", 1, True)]
    assert eth[0].alert_id == eth[1].alert_id and eth[1].linked_to.asset == "BTC"


def test_contagion_does_not_depend_on_which_partition_is_read_first():
    """The worker may read ETH's backlog long before BTC's: progress markers hold ETH's decisions."""
    evs = [e for e in read_events(bundled())]
    offline = {(a.alert_id, a.stage, a.revision, a.ts) for a in replay(evs, DetectorConfig())}
    assert any(k[1] == "cascade" for k in offline)
    now = int(time.time() * 1000)
    for order in ([e for e in evs if e.asset != "BTC"] + [e for e in evs if e.asset == "BTC"],
                  [e for e in evs if e.asset == "BTC"] + [e for e in evs if e.asset != "BTC"]):
        det, queue, got = CascadeDetector(), [], []
        for e in order:
            alerts = det.process(e, now_ms=now)
            got += alerts
            queue += [link for a in alerts for link in det.links_for(a)] + det.progress_for(e.asset)
            while queue:  # the links topic, delivered after the event that produced them
                got += det.process(queue.pop(0), now_ms=now)
        decided = {(a.alert_id, a.stage, a.revision, a.ts) for a in got}
        # Streaming has no end-of-input flush: everything it decided is what offline decided.
        assert decided <= offline and any(k[1] == "cascade" and k[0] in {a.alert_id for a in got if a.asset == "ETH"}
                                          for k in decided)


def test_crash_price_helper_is_monotone():
    assert crash_price(T0) >= crash_price(T0 + 30 * MIN)
