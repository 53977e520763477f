"""The leverage separation figures of `evaluate`: true cascade alerts against false ones."""

from __future__ import annotations

from pipeline.detect.config import DetectorConfig
from pipeline.evaluate import evaluate
from pipeline.evaluate_leverage import separation

T0 = 1_735_689_600_000
MIN = 60_000


def cascade(alert_id, ts_min, ctx, revision=0, asset="BTC"):
    return {"type": "alert", "alert_id": alert_id, "kind": "liquidation_cascade", "asset": asset, "stage": "cascade",
            "ts": T0 + ts_min * MIN, "severity": "high", "revision": revision, "amended": revision > 0,
            "evidence": {"leverage": ctx} if ctx else None}


LOADED = {"oi_percentile_30d": 0.97, "building": True, "funding_zscore": 2.5, "oi_change_24h_pct": 8.0,
          "flush": {"drop_pct": 4.0}}
UNLOADED = {"oi_percentile_30d": 0.1, "building": False, "funding_zscore": -0.5, "oi_change_24h_pct": -1.0}


def test_loaded_true_cascades_against_unloaded_false_alerts():
    labels = [{"episode_id": f"ep{i}", "kind": "no_whale_cascade", "asset": "BTC", "start_ts": T0 + i * 600 * MIN,
               "end_ts": T0 + (i * 600 + 60) * MIN, "burst_start_ts": T0 + i * 600 * MIN, "peak_ts": None}
              for i in range(3)]
    alerts = [cascade(f"t{i}", i * 600 + 5, LOADED) for i in range(3)]
    alerts += [cascade("t0", 5, UNLOADED, revision=1)]  # an amendment: the first revision counts
    alerts += [cascade("f1", 300, UNLOADED), cascade("f2", 1500, None)]
    result = evaluate(labels, alerts, DetectorConfig(), days=1)
    true, false = result["leverage"]
    assert (true["group"], true["alerts"], true["with_context"]) == ("true cascades", 3, 3)
    assert true["loaded_share"] == 1.0 and true["building_share"] == 1.0 and true["median_flush_pct"] == 4.0
    assert (false["alerts"], false["with_context"], false["loaded_share"], false["unloaded_share"]) == (2, 1, 0.0, 1.0)
    assert separation(set(), set(), alerts, DetectorConfig())[0]["loaded_share"] is None
