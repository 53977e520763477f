"""Evaluation arithmetic on small hand-made label and alert lists."""

from __future__ import annotations

import pytest

from pipeline.detect.config import DetectorConfig
from pipeline.detect import alert_id_for
from pipeline.evaluate import cascade_calls, evaluate, match, quantile, share_at

MIN = 60_000
DAY = 86_400_000
T0 = 1_735_689_600_000


def label(kind, asset="BTC", start=0, end=60, burst=None, deposit=None, ep="ep"):
    return {"episode_id": ep, "kind": kind, "asset": asset, "start_ts": T0 + start * MIN, "end_ts": T0 + end * MIN,
            "deposit_event_id": deposit, "deposit_usd": 1e9 if deposit else None,
            "burst_start_ts": None if burst is None else T0 + burst * MIN,
            "peak_ts": None if burst is None else T0 + (burst + 2) * MIN, "burst_long_usd": 5e7 if burst else 0.0}


def alert(alert_id, kind, ts_s, asset="BTC", stage="cascade", revision=0, deposit=None):
    return {"type": "alert", "alert_id": alert_id, "kind": kind, "asset": asset, "stage": stage, "ts": T0 + ts_s * 1000,
            "severity": "high", "revision": revision, "amended": revision > 0,
            "deposit": None if deposit is None else {"event_id": deposit, "usd_value": 1e9, "to_entity": "binance"}}


def rows(result):
    return {r["kind"]: r for r in result["rows"]}


def test_quantile_interpolates():
    assert quantile([], 0.5) is None
    assert quantile([5.0], 0.9) == 5.0
    assert quantile([1, 2, 3, 4], 0.5) == 2.5
    assert quantile(list(range(1, 11)), 0.9) == pytest.approx(9.1)


def test_an_amended_alert_counts_once_as_its_latest_kind_at_its_first_time():
    calls = cascade_calls([alert("a", "liquidation_cascade", 100), alert("a", "whale_cascade", 400, revision=1),
                           alert("a", "whale_cascade", 30, stage="watch"), alert("b", "liquidation_cascade", 50)])
    assert [(c.alert_id, c.kind, c.ts) for c in calls] == [("b", "liquidation_cascade", T0 + 50_000),
                                                          ("a", "whale_cascade", T0 + 100_000)]


def test_whale_episode_found_through_an_amended_liquidation_alert():
    dep = "bitcoin:ab:0"
    labels = [label("whale_cascade", start=0, end=120, burst=30, deposit=dep),
              label("calm_day", asset="*", start=1440, end=2880, ep="calm1")]
    # First called as a cascade without a whale (own id), then a late deposit claims it.
    alerts = [alert("x1", "liquidation_cascade", 30 * 60 + 45),
              alert("x1", "whale_cascade", 30 * 60 + 600, revision=1, deposit=dep)]
    r = rows(evaluate(labels, alerts, DetectorConfig(), days=2))
    w = r["whale_cascade"]
    assert (w["episodes"], w["found"], w["false_alerts"], w["precision"], w["recall"]) == (1, 1, 0, 1.0, 1.0)
    assert w["median_latency_s"] == 45.0  # the first revision's time, not the amendment's
    assert r["liquidation_cascade"]["false_alerts"] == 0


def test_whale_episode_found_by_alert_id():
    dep = "ethereum:cd:0"
    labels = [label("whale_cascade", asset="ETH", start=0, end=120, burst=20, deposit=dep)]
    alerts = [alert(alert_id_for("ETH", dep), "whale_cascade", 20 * 60 + 30, asset="ETH"),
              alert(alert_id_for("ETH", dep), "whale_cascade", 20 * 60 + 90, asset="ETH", revision=1)]
    w = rows(evaluate(labels, alerts, days=1))["whale_cascade"]
    assert (w["found"], w["false_alerts"], w["median_latency_s"]) == (1, 0, 30.0)


def test_latency_median_p90_and_wall_clock_part():
    labels = [label("no_whale_cascade", start=i * 100, end=i * 100 + 60, burst=i * 100 + 5, ep=f"e{i}")
              for i in range(10)]
    alerts = [alert(f"a{i}", "liquidation_cascade", (i * 100 + 5) * 60 + 10 * (i + 1)) for i in range(10)]
    cfg = DetectorConfig(exchange_lateness_ms=10_000)
    r = rows(evaluate(labels, alerts, cfg, days=1, delivery_ms=500))["liquidation_cascade"]
    assert r["found"] == 10 and r["recall"] == 1.0 and r["precision"] == 1.0
    assert r["median_latency_s"] == 55.0 and r["p90_latency_s"] == 91.0
    # lateness 10 s, delivery 0.5 s, and one bar of the connectors' trade flow (1 s)
    assert r["watermark_s"] == 11.5 and r["wall_median_latency_s"] == 66.5 and r["wall_p90_latency_s"] == 102.5
    minute_bars = rows(evaluate(labels, alerts, cfg, days=1, delivery_ms=500, bar_ms=60_000))["liquidation_cascade"]
    assert minute_bars["watermark_s"] == 70.5


def test_share_of_the_burst_before_its_alert():
    lab = {**label("no_whale_cascade", burst=5), "burst_minutes_usd": [10.0, 30.0, 0.0, 60.0]}
    start = lab["burst_start_ts"]
    assert share_at(lab, start) == 0.0
    assert share_at(lab, start + 30_000) == pytest.approx(0.05)  # half of the first minute
    assert share_at(lab, start + 2 * MIN) == pytest.approx(0.4)
    assert share_at(lab, start + 10 * MIN) == pytest.approx(1.0)
    assert share_at({**lab, "burst_minutes_usd": None}, start) is None
    assert share_at({**lab, "burst_minutes_usd": [0.0]}, start) is None
    # The median over the episodes found, per kind: called after 1.5 and 3.5 minutes of two bursts.
    labels = [{**label("no_whale_cascade", start=i * 100, end=i * 100 + 60, burst=i * 100 + 5, ep=f"e{i}"),
               "burst_minutes_usd": [10.0, 30.0, 0.0, 60.0]} for i in range(2)]
    alerts = [alert("a0", "liquidation_cascade", (5 * 60) + 90), alert("a1", "liquidation_cascade", (105 * 60) + 210)]
    r = rows(evaluate(labels, alerts, DetectorConfig(), days=1))["liquidation_cascade"]
    assert r["median_share_at_alert"] == pytest.approx((0.25 + 0.7) / 2, abs=1e-3)


def test_false_alerts_per_day_and_per_calm_day():
    labels = [label("no_whale_cascade", start=0, end=60, burst=5),
              label("calm_day", asset="*", start=1440, end=2880, ep="c1"),
              label("calm_day", asset="*", start=2880, end=4320, ep="c2"),
              label("short_squeeze", asset="SOL", start=4400, end=4460, burst=4400, ep="sq")]
    alerts = [alert("hit", "liquidation_cascade", 6 * 60),
              alert("twice", "liquidation_cascade", 10 * 60),  # a second alert for one burst: false
              alert("calm", "liquidation_cascade", 2000 * 60, asset="XRP"),  # on a calm day
              alert("calm", "liquidation_cascade", 2001 * 60, asset="XRP", revision=1),  # same alert, amended
              alert("sq", "liquidation_cascade", 4410 * 60, asset="SOL")]  # inside a short squeeze
    result = evaluate(labels, alerts, days=4)
    r = rows(result)["liquidation_cascade"]
    assert (r["episodes"], r["found"], r["false_alerts"]) == (1, 1, 3)
    assert r["precision"] == 0.25 and r["false_alerts_per_day"] == 0.75
    assert r["false_alerts_per_calm_day"] == 0.5 and r["wrong_kind"] == 1
    assert result["calm_days"] == 2
    assert result["negatives"]["short_squeeze"] == {"episodes": 1, "alerted": 1}


def test_contagion_needs_a_contagion_alert_and_each_alert_finds_one_episode():
    labels = [label("no_whale_cascade", asset="ETH", start=0, end=60, burst=5, ep="n"),
              label("contagion_cascade", asset="ETH", start=0, end=60, burst=5, ep="c")]
    alerts = [alert("l", "contagion_cascade", 7 * 60, asset="ETH")]
    r = rows(evaluate(labels, alerts, days=1))
    assert r["contagion_cascade"]["found"] + r["liquidation_cascade"]["found"] == 1
    assert r["contagion_cascade"]["found"] == 1  # the contagion episode is matched first
    only_liq = rows(evaluate(labels[1:], [alert("l", "liquidation_cascade", 7 * 60, asset="ETH")], days=1))
    assert only_liq["contagion_cascade"]["recall"] == 0.0 and only_liq["liquidation_cascade"]["false_alerts"] == 1
    assert only_liq["liquidation_cascade"]["wrong_kind"] == 1


def test_labels_a_user_wrote_need_no_episode_ids():
    """Labels files from users carry what they know: two bursts with no id, each found by its own alert."""
    labels = [{k: v for k, v in label("no_whale_cascade", start=s, end=s + 60, burst=s + 5).items() if k != "episode_id"}
              for s in (0, 120)]
    labels.insert(1, {"kind": "calm_day", "asset": "*", "start_ts": T0, "end_ts": T0 + 1440 * MIN})
    alerts = [alert("b", "liquidation_cascade", (125 + 1) * 60), alert("a", "liquidation_cascade", 6 * 60)]
    calls = cascade_calls(alerts)
    assert match(labels, calls) == [0, None, 1]
    assert rows(evaluate(labels, alerts, days=1))["liquidation_cascade"]["found"] == 2


def test_no_calm_days_no_calm_figure_and_baseline():
    dep = "bitcoin:ef:0"
    labels = [label("whale_no_sell", start=0, end=60, deposit=dep),
              label("whale_cascade", start=100, end=200, burst=120, deposit="bitcoin:gh:0", ep="w")]
    r = rows(evaluate(labels, [], days=1))
    assert r["whale_cascade"]["false_alerts_per_calm_day"] is None and r["whale_cascade"]["recall"] == 0.0
    base = r["baseline: every large deposit"]
    assert (base["found"], base["false_alerts"], base["precision"]) == (1, 1, 0.5)
