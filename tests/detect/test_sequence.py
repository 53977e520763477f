"""The pure detection core: stages, thresholds, idempotence, order, snapshots, ETF context."""

from __future__ import annotations

import random

import pytest

from pipeline.contracts.models import EtfFlow, Liquidation, TradeFlow, WhaleTransfer
from pipeline.contracts.interchange import read_events
from pipeline.detect import CascadeDetector, DetectorConfig
from pipeline.detect.sequence import alert_id_for
from pipeline.replay import run
from pipeline.scenarios import bundled

T0 = 1_756_065_600_000  # 2025-08-24 20:00 UTC
MIN = 60_000


def bars(start, end, *, price_fn, sell_extra=0.0, venues=("binance-usdm", "bybit"), asset="BTC", step=10_000):
    out = []
    for t in range(start, end, step):
        for v in venues:
            p0, p1 = price_fn(t), price_fn(t + step)
            extra = sell_extra(t) if callable(sell_extra) else sell_extra
            out.append(TradeFlow(venue=v, symbol=f"{asset}USDT", asset=asset, ts=t, interval_ms=step,
                                 buy_volume_usd=1e6, sell_volume_usd=1e6 + extra, open=p0, high=max(p0, p1),
                                 low=min(p0, p1), close=p1, trade_count=100))
    return out


def deposit(ts, usd=2.7e9, *, direction="exchange_inflow", eid="bitcoin:whale:0", asset="BTC", retracted=False):
    return WhaleTransfer(event_id=eid, chain="bitcoin", asset=asset, amount=usd / 110_000, usd_value=usd,
                         from_address="bc1qwhale", to_address="1Pzaqw98PeRfyHypfqyEgg5yycJRsENrE7", from_entity=None,
                         to_entity="binance", direction=direction, tx_hash=eid.split(":")[1], block_number=1,
                         block_time=ts, confirmations=1, observed_ts=ts + 30_000, retracted=retracted)


def liqs(start, end, every_ms, usd, side="long", venues=("bybit", "okx"), asset="BTC", tag="c"):
    return [Liquidation(event_id=f"{tag}:{t}", venue=venues[i % len(venues)], symbol=f"{asset}USDT", asset=asset,
                        side=side, price=110_000.0, quantity=usd / 110_000, notional_usd=usd, ts=t,
                        received_ts=t + 100, completeness="full")
            for i, t in enumerate(range(start, end, every_ms))]


def crash_price(t):
    if t < T0 + 5 * MIN:
        return 115_000.0
    return max(110_000.0, 115_000.0 - 250.0 * (t - T0 - 5 * MIN) / MIN)


def story(*, sell=True, cascade=True, dep_usd=2.7e9, direction="exchange_inflow"):
    """Deposit at T0, selling from T0+5m, long liquidations from T0+20m; quiet data to T0+3h."""
    evs = [deposit(T0, dep_usd, direction=direction)]
    evs += bars(T0 - 10 * MIN, T0 + 180 * MIN, price_fn=crash_price if sell else (lambda t: 115_000.0),
                sell_extra=(lambda t: 40e6 if sell and T0 + 5 * MIN <= t < T0 + 25 * MIN else 0.0))
    evs += liqs(T0 - 10 * MIN, T0 + 180 * MIN, 30_000, 20_000, side="short", tag="bg")
    if cascade:
        evs += liqs(T0 + 20 * MIN, T0 + 40 * MIN, 2_000, 600_000)
    return sorted(evs, key=lambda e: e.ts)


NO_LINKS = DetectorConfig(contagion_targets={})  # these stories are about one asset: no contagion watches


def replay(events, cfg=None):
    return run(list(events), cfg or NO_LINKS).alerts


def stages(alerts):
    return [(a.asset, a.stage, a.reached) for a in alerts]


def test_full_sequence_escalates_in_stages():
    alerts = replay(story())
    assert stages(alerts) == [("BTC", "watch", "watch"), ("BTC", "sell", "sell"), ("BTC", "cascade", "cascade")]
    watch, sell, cascade = alerts
    assert watch.alert_id == sell.alert_id == cascade.alert_id == alert_id_for("BTC", "bitcoin:whale:0")
    assert watch.ts == T0 < sell.ts < cascade.ts
    assert sell.sell["drop_pct"] >= 1.0 and sell.sell["net_sell_usd"] >= 0.1 * 2.7e9
    assert cascade.cascade["long_notional_usd"] >= 50e6 and cascade.cascade["long_share"] >= 0.7
    assert cascade.cascade["venues"] == ["bybit", "okx"]
    assert cascade.severity == ("critical" if cascade.cascade["long_notional_usd"] >= 250e6 else "high")


def test_deposit_without_selling_expires_at_watch():
    alerts = replay(story(sell=False, cascade=False))
    assert stages(alerts) == [("BTC", "watch", "watch"), ("BTC", "expired", "watch")]
    assert alerts[1].ts == T0 + DetectorConfig().sell_window_ms


def test_selling_without_cascade_expires_at_sell():
    alerts = replay(story(cascade=False))
    assert stages(alerts)[-1] == ("BTC", "expired", "sell")


@pytest.mark.parametrize("kw", [{"dep_usd": 10e6}, {"direction": "exchange_internal"}, {"direction": "exchange_outflow"}])
def test_small_or_non_inflow_transfers_never_open_an_episode(kw):
    assert [a for a in replay(story(**kw)) if a.kind == "whale_cascade"] == []
    assert replay(story(sell=False, cascade=False, **kw)) == []


def test_a_cascade_without_a_whale_is_its_own_alert_kind():
    evs = [e for e in story() if not isinstance(e, WhaleTransfer)]
    alerts = replay(evs)
    assert [(a.kind, a.stage, a.deposit) for a in alerts] == [("liquidation_cascade", "cascade", None)]
    c = alerts[0].cascade
    assert c["long_notional_usd"] >= 50e6 and c["long_share"] >= 0.7 and T0 + 20 * MIN <= alerts[0].ts < T0 + 40 * MIN
    # One alert for the whole burst, not one per liquidation.
    longer = sorted(evs + liqs(T0 + 41 * MIN, T0 + 60 * MIN, 2_000, 600_000, tag="c2"), key=lambda e: e.ts)
    assert len(replay(longer)) == 1


def test_the_whale_sequence_is_not_also_reported_as_unexplained():
    assert {a.kind for a in replay(story())} == {"whale_cascade"}


def test_second_deposit_joins_the_open_episode():
    evs = story() + [deposit(T0 + 2 * MIN, 1e9, eid="bitcoin:second:0")]
    alerts = replay(sorted(evs, key=lambda e: e.ts))
    assert len({a.alert_id for a in alerts}) == 1
    assert alerts[-1].deposit.deposit_count == 2 and alerts[-1].deposit.total_usd == pytest.approx(3.7e9)


def test_duplicates_change_nothing():
    evs = story()
    assert replay(sorted(evs + evs[::3], key=lambda e: e.ts)) == replay(evs)


def test_arrival_order_within_lateness_does_not_matter():
    evs = story()
    base = replay(evs)
    rng = random.Random(7)
    # Jitter exchange events by up to 5 s (lateness 10 s) and the chain event by up to 10 minutes.
    for _ in range(5):
        keyed = [(e.ts + (rng.randint(0, 600_000) if isinstance(e, WhaleTransfer) else rng.randint(0, 5_000)), i, e)
                 for i, e in enumerate(evs)]
        shuffled = [e for _, _, e in sorted(keyed)]
        det = CascadeDetector()
        got = [a for e in shuffled for a in det.process(e)] + det.flush()
        assert {(a.alert_id, a.stage) for a in got} == {(a.alert_id, a.stage) for a in base}


def test_events_older_than_the_watermark_are_late():
    det = CascadeDetector()
    for e in bars(T0, T0 + 5 * MIN, price_fn=lambda t: 100.0):
        det.process(e)
    old = liqs(T0, T0 + 1, 1, 1e6, tag="old")[0]
    assert det.process(old) == []
    assert det.state("BTC").late == 1 and det.late_events[-1] is old


def test_snapshot_restore_midway_gives_the_same_alerts():
    import orjson

    evs = story()
    whole = replay(evs)
    for cut in (len(evs) // 4, len(evs) // 2):
        det = CascadeDetector()
        first = [a for e in evs[:cut] for a in det.process(e)]
        snap = orjson.loads(orjson.dumps(det.snapshot("BTC")))  # through JSON, as the state table stores it
        det2 = CascadeDetector()
        det2.restore("BTC", snap)
        again = [a for e in evs[cut - 50: cut] for a in det2.process(e)]  # redelivered after the restore
        rest = [a for e in evs[cut:] for a in det2.process(e)] + det2.flush()
        assert again == [] and first + rest == whole


def test_state_stays_bounded():
    det = CascadeDetector()
    evs = story()
    for e in evs:
        det.process(e)
    st = det.state("BTC")
    horizon = det.retention_ms
    assert horizon == max(DetectorConfig().chain_lateness_ms + 5 * MIN, 15 * MIN + 10_000 + 5 * MIN)
    assert st.bars[0][0] >= evs[-1].ts - horizon - 40_000  # the frontier trails the last bar by <= 30 s
    assert st.liqs[0][0] >= evs[-1].ts - horizon - 60_000
    assert not st.episodes


def test_retracted_deposit_is_dropped():
    det = CascadeDetector()
    evs = [deposit(T0)] + bars(T0, T0 + 2 * MIN, price_fn=lambda t: 115_000.0)
    alerts = [a for e in sorted(evs, key=lambda e: e.ts) for a in det.process(e)]
    alerts += det.process(deposit(T0, retracted=True)) + det.flush()
    assert stages(alerts) == [("BTC", "watch", "watch"), ("BTC", "expired", "watch")]
    assert alerts[-1].model_dump()["retracted"] is True


def test_a_deposit_retracted_before_it_was_decided_never_alerts():
    """A deposit is decided once the exchange watermark passes its block time; a reorg before that is silent."""
    det = CascadeDetector()
    alerts = det.process(bars(T0 - MIN, T0, price_fn=lambda t: 115_000.0)[0]) + det.process(deposit(T0))
    alerts += det.process(deposit(T0, retracted=True))
    alerts += [a for e in bars(T0, T0 + 40 * MIN, price_fn=lambda t: 115_000.0) for a in det.process(e)] + det.flush()
    assert alerts == []


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


def test_bundled_scenario_alerts():
    events = [e for e in read_events(bundled())]
    got = stages(replay(sorted(events, key=lambda e: e.ts)))
    assert got == [("ETH", "watch", "watch"), ("ETH", "expired", "watch"),
                   ("BTC", "watch", "watch"), ("BTC", "sell", "sell"), ("BTC", "cascade", "cascade")]


def test_a_feed_that_arrives_late_as_a_whole_is_not_dropped():
    """A worker catching up reads one topic's backlog before another's: hours of bars, then the liquidations."""
    evs = story()
    base = {(a.alert_id, a.stage) for a in replay(evs)}
    det = CascadeDetector()
    now = 1_800_000_000_000  # wall clock barely moves while a backlog is read
    ordered = [e for e in evs if isinstance(e, TradeFlow)] + [e for e in evs if not isinstance(e, TradeFlow)]
    got = [a for e in ordered for a in det.process(e, now_ms=now)] + det.flush()
    assert det.state("BTC").late == 0
    assert {(a.alert_id, a.stage) for a in got} == base


def test_a_feed_silent_past_the_idle_timeout_stops_holding_time():
    det = CascadeDetector()
    now = 1_800_000_000_000
    for i, e in enumerate(bars(T0, T0 + 10 * MIN, price_fn=lambda t: 100.0)):
        det.process(e, now_ms=now + i * 1_000)  # no liquidation feed at all for ~2 minutes of wall time
    assert det._frontier(det.state("BTC"), now + 200_000) == T0 + 10 * MIN - 10_000


def test_restored_state_after_downtime_does_not_drop_the_backlog():
    """After a restart, one topic's backlog read first must not make the other's late."""
    import orjson

    evs = story()
    cut = next(i for i, e in enumerate(evs) if e.ts > T0 + 3 * MIN)
    wall = 1_800_000_000_000
    det = CascadeDetector()
    first = [a for e in evs[:cut] for a in det.process(e, now_ms=wall)]
    restored = CascadeDetector()
    restored.restore("BTC", orjson.loads(orjson.dumps(det.snapshot("BTC"))))
    wall += 10 * MIN  # downtime, longer than the idle timeout
    rest = evs[cut:]
    backlog = [e for e in rest if isinstance(e, Liquidation)] + [e for e in rest if not isinstance(e, Liquidation)]
    got = first + [a for e in backlog for a in restored.process(e, now_ms=wall)] + restored.flush()
    assert restored.state("BTC").late == 0
    assert {(a.alert_id, a.stage) for a in got} == {(a.alert_id, a.stage) for a in replay(evs)}


def test_snapshot_is_a_copy():
    det = CascadeDetector()
    evs = story()
    for e in evs[:50]:
        det.process(e)
    snap = det.snapshot("BTC")
    before = (len(snap["bars"]), dict(snap["frontier"]))
    for e in evs[50:100]:
        det.process(e)
    assert (len(snap["bars"]), snap["frontier"]) == before


@pytest.mark.parametrize("after_watch", [False, True])
def test_an_earlier_deposit_arriving_late_joins_the_open_episode(after_watch):
    """One episode either way. Arriving before the first deposit was decided, the earlier deposit is
    the episode's first (its id names the alert); arriving after, it joins the published episode."""
    evs = story()
    early = deposit(T0 - 2 * MIN, 1e9, eid="bitcoin:early:0")
    det = CascadeDetector()
    got, sent = [], False
    for e in evs:
        got += det.process(e)
        due = bool(got) if after_watch else isinstance(e, WhaleTransfer)
        if due and not sent:
            got += det.process(early)
            sent = True
    got += det.flush()
    assert [a.stage for a in got] == ["watch", "sell", "cascade"]
    first = "bitcoin:whale:0" if after_watch else "bitcoin:early:0"
    assert {a.alert_id for a in got} == {alert_id_for("BTC", first)}
    assert got[-1].deposit.deposit_count == 2 and got[-1].deposit.total_usd == 1e9 + 2.7e9


def test_a_cascade_without_a_whale_is_found_when_liquidations_arrive_out_of_order():
    evs = [e for e in story() if not isinstance(e, WhaleTransfer)]
    rng = random.Random(11)
    jittered = [e for _, _, e in sorted((e.ts + (rng.randint(0, 8_000) if isinstance(e, Liquidation) else 0), i, e)
                                        for i, e in enumerate(evs))]
    det = CascadeDetector()
    got = [a for e in jittered for a in det.process(e)] + det.flush()
    assert [a.kind for a in got] == ["liquidation_cascade"] and det.state("BTC").late == 0
