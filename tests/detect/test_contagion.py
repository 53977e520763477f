"""Contagion: a BTC cascade opens watches on correlated assets, across partitions, deterministically."""

from __future__ import annotations

import time

import pytest

from pipeline.contracts.interchange import read_events
from pipeline.detect import CascadeDetector, DetectorConfig
from pipeline.scenarios import bundled
from tests.detect.leverage_paths import HOUR, path
from tests.detect.stories import MIN, T0, bars, liqs, on_asset, replay, story

LINKS = DetectorConfig(contagion_targets={"BTC": ["ETH"]})


def eth_burst(start, usd):
    return on_asset(liqs(start, start + 5 * MIN, 2_000, usd), "ETH", tag="eth")


def eth_background(start=T0 - 10 * MIN):
    out = bars(start, T0 + 180 * MIN, price_fn=lambda t: 4_000.0, asset="ETH")
    return out + on_asset(liqs(start, T0 + 180 * MIN, 30_000, 20_000, side="short", tag="bg"), "ETH")


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


def test_the_watch_lasts_an_hour():
    """The same ETH burst 70 minutes after BTC's cascade: past `contagion_window_ms` (60 min) the watch has
    expired and ETH is judged at its own threshold; with a two-hour watch it would be a contagion."""
    btc = story()
    btc_cascade = next(a for a in replay(btc) if a.stage == "cascade")
    evs = btc + eth_background() + eth_burst(btc_cascade.ts + 70 * MIN, 15_000)
    eth = [a for a in replay(evs, LINKS) if a.asset == "ETH"]
    assert [(a.kind, a.stage) for a in eth] == [("contagion_cascade", "watch"), ("contagion_cascade", "expired")]
    assert eth[1].ts == btc_cascade.ts + LINKS.contagion_window_ms == btc_cascade.ts + 60 * MIN
    two_hours = LINKS.model_copy(update={"contagion_window_ms": 120 * MIN})
    assert [(a.kind, a.stage) for a in replay(evs, two_hours) if a.asset == "ETH"] == [
        ("contagion_cascade", "watch"), ("contagion_cascade", "cascade")]


@pytest.mark.parametrize("minutes_before", [6, 75])
def test_an_eth_cascade_before_btcs_is_reclassified_as_linked(minutes_before):
    """A BTC burst that bleeds for an hour before it crashes is called long after the sharp ETH burst
    it explains: up to `contagion_lookback_ms` (90 min) before the BTC cascade, ETH's is linked."""
    btc = story()
    btc_cascade = next(a for a in replay(btc) if a.stage == "cascade")
    start = btc_cascade.ts - minutes_before * MIN
    evs = btc + eth_background(min(T0 - 10 * MIN, start - 15 * MIN)) + eth_burst(start, 150_000)
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


def test_a_link_read_before_the_targets_own_feeds_reach_its_time_gives_replays_watch():
    """The links topic is read as soon as the source's worker publishes; the target's own topics (its
    open interest among them) may lag half an hour. The link is applied where the target's judging
    reaches the source's time, so the watch carries the context `replay` gives it, field for field."""
    btc = story()
    btc_cascade = next(a for a in replay(btc) if a.stage == "cascade")
    eth_oi = path(T0 - 30 * HOUR, T0 + 3 * HOUR, 60_000, lambda t: 6e9 + 2e6 * ((t - T0) // MIN),
                  venues=(("binance-usdm", "ETHUSDT"), ("bybit", "ETHUSDT")), asset="ETH")
    eth = sorted(eth_background() + eth_burst(btc_cascade.ts + 3 * MIN, 15_000) + eth_oi, key=lambda e: e.ts)
    plain = [a for a in replay(btc + eth, LINKS) if a.asset == "ETH"]
    assert [a.stage for a in plain] == ["watch", "cascade"]
    assert all("leverage" in (a.evidence or {}) for a in plain)

    now = 1_900_000_000_000  # a stream: everything arrives "now"
    source, target = CascadeDetector(LINKS), CascadeDetector(LINKS)
    links = [link for e in btc for link in source.process(e, now).links]
    cut = btc_cascade.ts - 30 * MIN
    got = [a for e in eth if e.ts < cut for a in target.process(e, now).alerts]
    got += [a for link in links for a in target.process(link, now).alerts]
    got += [a for e in eth if e.ts >= cut for a in target.process(e, now).alerts]
    got += target.finish()
    assert [(a.alert_id, a.stage, a.revision, a.ts, a.severity, a.evidence) for a in got] == \
        [(a.alert_id, a.stage, a.revision, a.ts, a.severity, a.evidence) for a in plain]


def test_a_target_read_hours_ahead_of_its_source_still_has_the_cascade_the_link_reclassifies():
    """A worker may read ETH's partition hours ahead of BTC's. ETH's decisions wait for BTC's (its
    progress markers); the ETH cascade a BTC link will re-classify is kept behind ETH's decisions,
    not its feeds, so the link finds it as it does in `replay`."""
    btc = story()
    btc_cascade = next(a for a in replay(btc) if a.stage == "cascade")
    far = bars(T0 + 180 * MIN, T0 + 12 * HOUR, price_fn=lambda t: 4_000.0, asset="ETH")
    far += on_asset(liqs(T0 + 180 * MIN, T0 + 12 * HOUR, 30_000, 20_000, side="short", tag="far"), "ETH")
    eth = sorted(eth_background() + far + eth_burst(btc_cascade.ts - 6 * MIN, 150_000), key=lambda e: e.ts)
    plain = [a for a in replay(btc + eth, LINKS) if a.asset == "ETH" and a.stage == "cascade"]
    assert [(a.kind, a.revision) for a in plain] == [("liquidation_cascade", 0), ("contagion_cascade", 1)]

    now = 1_900_000_000_000  # a stream: everything arrives "now", ETH's backlog hours ahead of BTC's
    source, target = CascadeDetector(LINKS), CascadeDetector(LINKS)
    head = [e for e in eth if e.ts < T0 + 10 * HOUR]
    tail = iter([e for e in eth if e.ts >= T0 + 10 * HOUR])
    got = [a for e in head for a in target.process(e, now).alerts]
    for e in btc:
        for link in source.process(e, now).links:
            got += target.process(link, now).alerts
        more = next(tail, None)  # ETH's feed keeps moving on meanwhile
        if more is not None:
            got += target.process(more, now).alerts
    got = [a for a in got if a.stage == "cascade"]
    assert [(a.alert_id, a.kind, a.revision, a.ts) for a in got] == \
        [(a.alert_id, a.kind, a.revision, a.ts) for a in plain]


def _live(cfg: DetectorConfig, events) -> list[tuple]:
    """Alerts of a live run (wall clock half a second past each event, links delivered at once), each
    with how long after its own time the event that decided it came."""
    det, got = CascadeDetector(cfg), []
    for e in sorted(events, key=lambda e: e.ts):
        queue = [e]
        while queue:
            out = det.process(queue.pop(0), now_ms=e.ts + 500)
            got += [(a, e.ts - a.ts) for a in out.alerts]
            queue += out.links
    return got


def test_live_progress_markers_let_a_target_decide_within_seconds_of_its_source():
    """While judging is live, a source tells its targets of its progress every second, not once a minute:
    the ETH cascade is decided sooner, and exactly the same."""
    evs = story() + eth_background() + eth_burst(T0 + 100 * MIN + 7_000, 150_000)
    fast = _live(DetectorConfig(contagion_targets={"BTC": ["ETH"]}), evs)
    slow = _live(DetectorConfig(contagion_targets={"BTC": ["ETH"]}, progress_live_step_ms=0), evs)
    assert [a for a, _ in fast] == [a for a, _ in slow]
    cascade = [i for i, (a, _) in enumerate(fast) if a.asset == "ETH" and a.stage == "cascade"][0]
    assert fast[cascade][1] + 20_000 <= slow[cascade][1]


def btc_background():
    out = bars(T0 - 10 * MIN, T0 + 180 * MIN, price_fn=lambda t: 110_000.0)
    return out + liqs(T0 - 10 * MIN, T0 + 180 * MIN, 30_000, 20_000, side="short", tag="btcbg")


def btc_stirring(start):
    """$2.4M of BTC longs in 5 minutes: half BTC's cold-start threshold ($5M), no cascade of its own."""
    return liqs(start, start + 5 * MIN, 10_000, 80_000, tag="stir")


@pytest.mark.parametrize("gap_min, kind", [(10, "contagion_cascade"), (55, "liquidation_cascade"),
                                           (None, "liquidation_cascade")])
def test_an_eth_cascade_soon_after_btc_stirred_is_a_contagion(gap_min, kind):
    """BTC's long liquidations reached part of its threshold (contagion_stir_fraction) without a cascade:
    an ETH cascade called within contagion_stir_window_ms (45 min) after that is a contagion linked to
    the stirring; later, or with BTC quiet, it is ETH's own."""
    stir_at = T0 + 30 * MIN
    eth_at = stir_at + 5 * MIN + (gap_min if gap_min is not None else 10) * MIN
    evs = btc_background() + eth_background() + eth_burst(eth_at, 30_000)
    if gap_min is not None:
        evs += btc_stirring(stir_at)
    alerts = replay(evs, LINKS)
    assert [a for a in alerts if a.asset == "BTC"] == []  # BTC called nothing
    eth = [a for a in alerts if a.asset == "ETH" and a.stage == "cascade"]
    assert [a.kind for a in eth] == [kind]
    if kind == "contagion_cascade":
        link = eth[0].linked_to
        assert (link.asset, link.kind) == ("BTC", "stir") and stir_at < link.ts <= stir_at + 5 * MIN
        assert link.alert_id == f"stir:BTC:{link.ts}" and eth[0].revision == 0
    assert [a.kind for a in replay(evs, DetectorConfig(contagion_targets={"BTC": ["ETH"]},
                                                        contagion_stir_fraction=0))
            if a.asset == "ETH" and a.stage == "cascade"] == ["liquidation_cascade"]


def test_a_stirring_heard_survives_a_snapshot_and_links_the_same():
    stir_at = T0 + 30 * MIN
    evs = sorted(btc_background() + eth_background() + btc_stirring(stir_at) + eth_burst(stir_at + 15 * MIN, 30_000),
                 key=lambda e: e.ts)
    cut = next(i for i, e in enumerate(evs) if e.ts >= stir_at + 10 * MIN)
    det = CascadeDetector(LINKS)
    head = det.feed_many(evs[:cut])
    assert det.state("ETH").stirs and det.state("BTC").stir_sent > stir_at
    again = CascadeDetector(LINKS)
    for asset in det.assets:
        again.restore(asset, det.snapshot(asset))
    assert again.state("ETH").stirs == det.state("ETH").stirs
    tail = again.feed_many(evs[cut:]) + again.finish()
    eth = [a for a in head + tail if a.asset == "ETH" and a.stage == "cascade"]
    assert [(a.kind, a.linked_to.kind) for a in eth] == [("contagion_cascade", "stir")]


def test_a_btc_cascade_after_the_stirring_relinks_eth_s_contagion_to_its_alert():
    """ETH's cascade was called as a contagion of BTC's stirring; when BTC's own cascade follows within
    contagion_lookback_ms, ETH's alert is amended to link that cascade's alert (the same alert id)."""
    stir_at = T0 + 30 * MIN
    btc_crash = liqs(T0 + 70 * MIN, T0 + 75 * MIN, 2_000, 150_000, tag="crash")
    evs = btc_background() + eth_background() + btc_stirring(stir_at) + eth_burst(stir_at + 15 * MIN, 30_000)
    alerts = replay(evs + btc_crash, LINKS)
    btc = [a for a in alerts if a.asset == "BTC" and a.stage == "cascade"]
    eth = [a for a in alerts if a.asset == "ETH" and a.stage == "cascade"]
    assert [a.kind for a in btc] == ["liquidation_cascade"]
    assert [(a.kind, a.linked_to.kind, a.revision) for a in eth] == [("contagion_cascade", "stir", 0),
                                                                     ("contagion_cascade", "liquidation_cascade", 1)]
    assert eth[1].alert_id == eth[0].alert_id and eth[1].linked_to.alert_id == btc[0].alert_id
