"""Contagion: a BTC cascade opens watches on correlated assets, across partitions, deterministically."""

from __future__ import annotations

import time

from pipeline.contracts.interchange import read_events
from pipeline.detect import CascadeDetector, DetectorConfig
from pipeline.scenarios import bundled
from tests.detect.stories import MIN, T0, bars, liqs, on_asset, replay, story

LINKS = DetectorConfig(contagion_targets={"BTC": ["ETH"]})


def eth_burst(start, usd):
    return on_asset(liqs(start, start + 5 * MIN, 2_000, usd), "ETH", tag="eth")


def eth_background():
    out = bars(T0 - 10 * MIN, T0 + 180 * MIN, price_fn=lambda t: 4_000.0, asset="ETH")
    return out + on_asset(liqs(T0 - 10 * MIN, T0 + 180 * MIN, 30_000, 20_000, side="short", tag="bg"), "ETH")


def test_a_btc_cascade_opens_a_contagion_watch_on_eth_with_a_lower_threshold():
    btc = story()
    btc_cascade = next(a for a in replay(btc) if a.stage == "cascade")
    # $2.25M of ETH longs in 5 minutes, 3 minutes after BTC's cascade: below ETH's own cold floor ($3M).
    evs = btc + eth_background() + eth_burst(btc_cascade.ts + 3 * MIN, 15_000)
    eth = [a for a in replay(evs, LINKS) if a.asset == "ETH"]
    assert [(a.kind, a.stage) for a in eth] == [("contagion_cascade", "watch"), ("contagion_cascade", "cascade")]
    assert eth[0].linked_to.alert_id == btc_cascade.alert_id and eth[0].ts == btc_cascade.ts
    assert eth[1].cascade["long_notional_usd"] < LINKS.cold_floor("ETH")
    assert [a for a in replay(evs) if a.asset == "ETH"] == []  # without the link: nothing on ETH


def test_an_eth_cascade_just_before_btcs_is_reclassified_as_linked():
    btc = story()
    btc_cascade = next(a for a in replay(btc) if a.stage == "cascade")
    evs = btc + eth_background() + eth_burst(btc_cascade.ts - 6 * MIN, 150_000)
    eth = [a for a in replay(evs, LINKS) if a.asset == "ETH" and a.stage == "cascade"]
    assert [(a.kind, a.revision, a.amended) for a in eth] == [("liquidation_cascade", 0, False),
                                                              ("contagion_cascade", 1, True)]
    assert eth[0].alert_id == eth[1].alert_id and eth[1].linked_to.asset == "BTC"


def test_a_target_without_data_gets_no_watch_alerts():
    alerts = replay(story(), DetectorConfig(contagion_targets={"BTC": ["ETH", "SOL"]}))
    assert {a.asset for a in alerts} == {"BTC"}


def test_contagion_does_not_depend_on_which_partition_is_read_first():
    """The worker may read ETH's backlog long before BTC's: progress markers hold ETH's decisions."""
    evs = list(read_events(bundled()))
    offline = {(a.alert_id, a.stage, a.revision, a.ts) for a in replay(evs, DetectorConfig())}
    assert any(k[1] == "cascade" for k in offline)
    now = int(time.time() * 1000)
    for order in ([e for e in evs if e.asset != "BTC"] + [e for e in evs if e.asset == "BTC"],
                  [e for e in evs if e.asset == "BTC"] + [e for e in evs if e.asset != "BTC"]):
        det, queue, got = CascadeDetector(), [], []
        for e in order:
            out = det.process(e, now_ms=now)
            got += out.alerts
            queue += out.links
            while queue:  # the links topic, delivered after the event that produced them
                out = det.process(queue.pop(0), now_ms=now)
                got += out.alerts
                queue += out.links
        decided = {(a.alert_id, a.stage, a.revision, a.ts) for a in got}
        # Streaming has no end-of-input flush: everything it decided is what offline decided.
        eth_ids = {a.alert_id for a in got if a.asset == "ETH"}
        assert decided <= offline and any(k[1] == "cascade" and k[0] in eth_ids for k in decided)
