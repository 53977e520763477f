"""The detector loop: event time, lateness, duplicates, order, snapshots, idle feeds, the Output."""

from __future__ import annotations

import random

import orjson
import pytest

from pipeline.contracts.interchange import read_events
from pipeline.contracts.models import EtfFlow, Link, Liquidation, TradeFlow, WhaleTransfer
from pipeline.detect import CascadeDetector, DetectorConfig
from pipeline.detect.codec import decode_bars
from pipeline.scenarios import bundled
from tests.detect.leverage_paths import lev
from tests.detect.stories import MIN, NO_LINKS, T0, bars, drive, liqs, replay, stages, story


def keys(alerts):
    return [(a.alert_id, a.stage, a.revision, a.ts) for a in alerts]


def test_duplicates_change_nothing():
    evs = story()
    assert replay(evs + evs[::3]) == replay(evs)


def test_arrival_order_within_lateness_does_not_matter():
    evs = story()
    base = replay(evs)
    rng = random.Random(7)
    # Jitter exchange events by up to 5 s (lateness 10 s) and the chain event by up to 10 minutes.
    for _ in range(5):
        keyed = [(e.ts + (rng.randint(0, 600_000) if isinstance(e, WhaleTransfer) else rng.randint(0, 5_000)), i, e)
                 for i, e in enumerate(evs)]
        det = CascadeDetector(NO_LINKS)
        got = drive(det, [e for _, _, e in sorted(keyed)]) + det.flush().alerts
        assert {(a.alert_id, a.stage) for a in got} >= {(a.alert_id, a.stage) for a in base}
        assert {a.alert_id for a in got if a.stage == "cascade"} == {a.alert_id for a in base if a.stage == "cascade"}


def test_events_older_than_the_watermark_are_late():
    det = CascadeDetector(NO_LINKS)
    drive(det, bars(T0, T0 + 5 * MIN, price_fn=lambda t: 100.0))
    old = liqs(T0, T0 + 1, 1, 1e6, tag="old")[0]
    out = det.process(old)
    assert out.alerts == [] and out.late == [old] and det.state("BTC").late == 1


def test_snapshot_restore_midway_gives_the_same_alerts():
    evs = story()
    whole = replay(evs)
    for cut in (len(evs) // 4, len(evs) // 2):
        det = CascadeDetector(NO_LINKS)
        first = drive(det, evs[:cut])
        snap = orjson.loads(orjson.dumps(det.snapshot("BTC")))  # through JSON, as the state table stores it
        det2 = CascadeDetector(NO_LINKS)
        det2.restore("BTC", snap)
        again = drive(det2, evs[cut - 50: cut])  # redelivered after the restore
        rest = drive(det2, evs[cut:]) + det2.flush().alerts
        assert again == [] and first + rest == whole


def test_a_snapshot_taken_before_any_liquidation_restores_and_decides_the_same():
    """A worker writes an asset's state once it has seen anything (ETF days loaded first); restored
    after a rebalance, that state must take the liquidations that follow."""
    evs = story()
    det = CascadeDetector(NO_LINKS)
    det.process(etf("2025-08-22", -2.0e8, T0 - 86_400_000))
    snap = orjson.loads(orjson.dumps(det.snapshot("BTC")))
    det2 = CascadeDetector(NO_LINKS)
    det2.restore("BTC", snap)
    got = drive(det2, evs) + det2.flush().alerts
    assert stages(got) == stages(replay(evs)) and any(a.stage == "cascade" for a in got)


def test_snapshot_is_a_copy():
    det = CascadeDetector(NO_LINKS)
    evs = story()
    drive(det, evs[:50])
    snap = det.snapshot("BTC")
    before = (len(decode_bars(snap["bars"])), dict(snap["clock"]["frontier"]))
    drive(det, evs[50:100])
    assert (len(decode_bars(snap["bars"])), snap["clock"]["frontier"]) == before


def test_state_stays_bounded():
    det = CascadeDetector(NO_LINKS)
    evs = story()
    drive(det, evs)
    st = det.state("BTC")
    assert st.bars[0].ts >= evs[-1].ts - det.retention_ms - 2 * MIN
    assert st.liqs[0].ts >= evs[-1].ts - det.retention_ms - 2 * MIN
    assert not st.episodes and len(orjson.dumps(det.snapshot("BTC"))) < 400_000


def test_a_feed_that_arrives_late_as_a_whole_is_not_dropped():
    """A worker catching up reads one topic's backlog before another's: hours of bars, then the liquidations."""
    evs = story()
    base = {(a.alert_id, a.stage) for a in replay(evs)}
    det = CascadeDetector(NO_LINKS)
    now = 1_800_000_000_000  # wall clock barely moves while a backlog is read
    ordered = [e for e in evs if isinstance(e, TradeFlow)] + [e for e in evs if not isinstance(e, TradeFlow)]
    got = drive(det, ordered, now) + det.flush().alerts
    assert det.state("BTC").late == 0
    assert {(a.alert_id, a.stage) for a in got} == base


def test_a_feed_silent_past_the_idle_timeout_stops_holding_time():
    clock = {"now": 1_800_000_000_000}
    det = CascadeDetector(NO_LINKS, now=lambda: clock["now"])
    for e in bars(T0, T0 + 10 * MIN, price_fn=lambda t: 100.0):
        clock["now"] += 1_000  # no liquidation feed at all for minutes of wall time
        det.process(e)
    st = det.state("BTC")
    assert st.clock.front(clock["now"], det.cfg.idle_timeout_ms) == T0 + 10 * MIN - 10_000
    assert st.clock.front(st.clock.born + 1_000, det.cfg.idle_timeout_ms) is None  # still expected then


def test_restored_state_after_downtime_does_not_drop_the_backlog():
    evs = story()
    cut = next(i for i, e in enumerate(evs) if e.ts > T0 + 3 * MIN)
    wall = 1_800_000_000_000
    det = CascadeDetector(NO_LINKS)
    first = drive(det, evs[:cut], wall)
    restored = CascadeDetector(NO_LINKS)
    restored.restore("BTC", orjson.loads(orjson.dumps(det.snapshot("BTC"))))
    wall += 10 * MIN  # downtime, longer than the idle timeout
    rest = evs[cut:]
    backlog = [e for e in rest if isinstance(e, Liquidation)] + [e for e in rest if not isinstance(e, Liquidation)]
    got = first + drive(restored, backlog, wall) + restored.flush().alerts
    assert restored.state("BTC").late == 0
    assert {(a.alert_id, a.stage) for a in got} == {(a.alert_id, a.stage) for a in replay(evs)}


@pytest.mark.parametrize("first", ["progress", "leverage"])
def test_a_restored_state_takes_a_link_or_a_leverage_figure_first(first):
    """After a restore the clock starts again at the next event; that may be a contagion progress marker
    or an open-interest figure instead of an exchange event."""
    evs = story()
    cut = next(i for i, e in enumerate(evs) if e.ts > T0 + 3 * MIN)
    wall = 1_800_000_000_000
    det = CascadeDetector(NO_LINKS)
    before = drive(det, evs[:cut], wall)
    restored = CascadeDetector(NO_LINKS)
    restored.restore("BTC", orjson.loads(orjson.dumps(det.snapshot("BTC"))))
    event = (Link(asset="BTC", source_alert_id="progress", source_asset="ETH", source_kind="progress",
                  source_ts=evs[cut].ts) if first == "progress" else lev(evs[cut].ts, 8e9))
    out = restored.process(event, wall + MIN)
    got = before + out.alerts + drive(restored, evs[cut:], wall + MIN) + restored.flush().alerts
    assert {(a.alert_id, a.stage) for a in got} == {(a.alert_id, a.stage) for a in replay(evs)}


def test_a_cascade_without_a_whale_is_found_when_liquidations_arrive_out_of_order():
    evs = [e for e in story() if not isinstance(e, WhaleTransfer)]
    rng = random.Random(11)
    jittered = [e for _, _, e in sorted((e.ts + (rng.randint(0, 8_000) if isinstance(e, Liquidation) else 0), i, e)
                                        for i, e in enumerate(evs))]
    det = CascadeDetector(NO_LINKS)
    got = drive(det, jittered) + det.flush().alerts
    assert keys(got) == keys(replay(evs)) and det.state("BTC").late == 0


def test_bundled_scenario_alerts():
    got = replay(list(read_events(bundled())), DetectorConfig())
    btc = [(a.kind, a.stage) for a in got if a.asset == "BTC" and not a.revision]
    assert btc == [("whale_cascade", "watch"), ("whale_cascade", "sell"), ("whale_cascade", "cascade")]
    assert [a.stage for a in got if a.asset == "ETH" and a.kind == "whale_cascade"] == ["watch", "expired"]


def etf(day, net, published):
    return EtfFlow(event_id=f"etf:IBIT:{day}", date=day, fund="IBIT", asset="BTC", net_flow_usd=net,
                   published_ts=published, source="test")


def test_etf_context_is_used_only_once_published():
    flows = [etf(f"2025-08-{d:02d}", -400e6, T0 - (30 - d) * 86_400_000) for d in range(18, 23)]
    late = etf("2025-08-23", -900e6, T0 + 60 * MIN)  # published after the whole episode
    alerts = replay(flows + [late] + story())
    ctx = alerts[0].etf_context
    assert ctx["as_of_date"] == "2025-08-22" and ctx["outflow_streak_days"] == 5
    assert ctx["sum_5d_usd"] == pytest.approx(-2e9)
    assert alerts[0].severity == "warning"  # watch (info) raised one level by the outflow streak
    assert stages(alerts)[0] == ("BTC", "watch", "watch")


def per_minute(bars_in):
    """The same market as one-minute bars: sums of flow, first open, last close, lowest low."""
    out = {}
    for b in sorted(bars_in, key=lambda b: b.ts):
        key = (b.venue, b.ts - b.ts % MIN)
        m = out.get(key)
        if m is None:
            out[key] = b.model_copy(update={"ts": key[1], "interval_ms": MIN})
            continue
        out[key] = m.model_copy(update={"buy_volume_usd": m.buy_volume_usd + b.buy_volume_usd,
                                        "sell_volume_usd": m.sell_volume_usd + b.sell_volume_usd,
                                        "low": min(m.low, b.low), "high": max(m.high, b.high), "close": b.close,
                                        "trade_count": m.trade_count + b.trade_count})
    return list(out.values())


@pytest.mark.parametrize("sell_from,burst_at,sell,cascade", [(5, 20, True, True), (20, 33, True, True),
                                                              (5, 20, True, False), (5, 20, False, False)])
def test_one_second_and_one_minute_bars_of_a_market_give_the_same_decisions(sell_from, burst_at, sell, cascade):
    s0 = T0 + sell_from * MIN

    def price(t):
        return 115_000.0 if t < s0 or not sell else max(110_000.0, 115_000.0 - 250.0 * (t - s0) / MIN)

    story_ = story(sell_from=sell_from, burst_at=burst_at, sell=sell, cascade=cascade)
    others = [e for e in story_ if not isinstance(e, TradeFlow)]
    # One-second bars with the story's flow per minute: $1M a side, $40M more selling while it sells.
    fine = [b.model_copy(update={"buy_volume_usd": 1e6 / 60, "sell_volume_usd": (1e6 + (
        40e6 if sell and s0 <= b.ts < s0 + 20 * MIN else 0.0)) / 60})
        for b in bars(T0 - 10 * MIN, T0 + 180 * MIN, price_fn=price, step=1_000)]
    a, b = replay(others + fine), replay(others + per_minute(fine))
    assert [(x.alert_id, x.kind, x.stage, x.revision) for x in a] == [(x.alert_id, x.kind, x.stage, x.revision) for x in b]
    assert {x.stage for x in a} >= {"watch"}
    for x, y in zip(a, b):  # decided at the same moments, within the coarser bars' minute
        assert abs(x.ts - y.ts) <= MIN
        if x.stage == "sell":
            assert x.sell["net_sell_usd"] == pytest.approx(y.sell["net_sell_usd"], rel=0.1)


@pytest.mark.parametrize("size", [1, 7, 500])
def test_a_batch_gives_what_its_events_give_one_by_one(size):
    """process_many reads the wall clock once per batch; fed that same clock one event at a time,
    with jitter, duplicates and late events, the detector gives the same Output, field for field."""
    from pipeline.contracts.light import to_record

    rng = random.Random(size)
    evs = story()
    evs = [e for _, _, e in sorted((e.ts + rng.randint(0, 15_000), i, e) for i, e in enumerate(evs + evs[::5]))]
    wall = 1_800_000_000_000
    one, many = CascadeDetector(NO_LINKS), CascadeDetector(NO_LINKS)
    want, got = [], []
    for i in range(0, len(evs), size):
        batch = evs[i:i + size]
        now = wall + i * 20  # a backlog read quickly: the wall clock barely moves
        outs = [one.process(e, now_ms=now) for e in batch]
        want.append(([a for o in outs for a in o.alerts], [x for o in outs for x in o.late]))
        out = many.process_many([to_record(e) for e in batch], now_ms=now)
        got.append((out.alerts, out.late))
    assert [(a, [to_record(x) for x in late]) for a, late in want] == got
    assert sum(len(late) for _, late in got) > 0 and sum(len(a) for a, _ in got) > 0
    assert orjson.dumps(one.snapshot("BTC")) == orjson.dumps(many.snapshot("BTC"))
