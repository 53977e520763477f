"""`cascadewatch calibrate`: the levels learned per asset, and the cold start on short history."""

from __future__ import annotations

import random

import orjson
from typer.testing import CliRunner

from pipeline.calibrate import calibrate
from pipeline.cli import app
from pipeline.contracts.models import Liquidation
from pipeline.detect import DetectorConfig
from tests.detect.stories import MIN, T0

DAY = 24 * 60 * MIN


def noise(asset, hours, median_usd, seed):
    rng, out, t, n = random.Random(seed), [], T0, 0
    while t < T0 + hours * 60 * MIN:
        out.append(Liquidation(event_id=f"{asset}:{n}", venue=rng.choice(("bybit", "okx")), symbol=f"{asset}USDT",
                               asset=asset, side=rng.choice(("long", "short")), price=1.0, quantity=1.0,
                               notional_usd=round(rng.lognormvariate(0, 1.0) * median_usd, 2), ts=t, received_ts=t,
                               completeness="full"))
        t += rng.randint(5_000, 30_000)
        n += 1
    return out


def test_levels_are_learned_per_asset_from_their_own_history():
    events = sorted(noise("SOL", 50, 5_000, 1) + noise("BTC", 50, 200_000, 2), key=lambda e: e.ts)
    rows = {r["asset"]: r for r in calibrate(events, DetectorConfig())}
    assert rows["SOL"]["floor_source"] == rows["BTC"]["floor_source"] == "learned"
    assert rows["SOL"]["history_minutes"] >= 48 * 60 - 120
    # Forty times the liquidation sizes: a level and thresholds of that order, not one floor for all.
    assert 15 < rows["BTC"]["level_usd"] / rows["SOL"]["level_usd"] < 100
    cfg = DetectorConfig()
    for r in rows.values():
        assert r["level_60m_usd"] == round(r["level_usd"], 2)
        for w, factor in (("5m", cfg.floor_factor), ("15m", cfg.floor_factor_mid), ("60m", cfg.floor_factor_long)):
            # Two days of history are young: the factor is raised (docs/detection.md, "Learned floors").
            young = cfg.young_factor(r["history_minutes"] * MIN)
            assert r["young_factor"] == round(young, 3) > 1.4
            assert abs(r[f"threshold_{w}_usd"] - factor * young * r[f"level_{w}_usd"]) < 2  # the level is shown rounded
            assert r[f"count_{w}"] >= cfg.cascade_min_count
        # Each window has its own level: an hour holds more than five minutes.
        assert r["level_5m_usd"] < r["level_15m_usd"] < r["level_60m_usd"]


def test_short_history_is_a_cold_start():
    """Three quiet hours: the fallback guesses, the long window's lowered by the quiet hours seen so far."""
    cfg = DetectorConfig()
    rows = calibrate(noise("ETH", 3, 5_000, 3), cfg)
    assert [(r["asset"], r["floor_source"]) for r in rows] == [("ETH", "cold_start+top")]
    assert rows[0]["threshold_5m_usd"] == cfg.cold_floor("ETH")
    long_guess = cfg.cold_floor("ETH", cfg.cascade_long_window_ms)
    assert cfg.cold_long_floor_fraction * long_guess <= rows[0]["threshold_60m_usd"] < long_guess
    fresh = calibrate(noise("ETH", 3, 5_000, 3), cfg.model_copy(update={"cold_top_min_ms": 4 * 60 * MIN}))
    assert fresh[0]["floor_source"] == "cold_start" and fresh[0]["threshold_60m_usd"] == round(long_guess, 2)


def test_the_command_prints_whole_rows_when_piped(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e.model_dump()) + b"\n" for e in noise("XRP", 48, 3_000, 4)))
    result = CliRunner().invoke(app, ["calibrate", str(path)])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "XRP" in x)
    assert "learned" in line and line.count("liqs") == 3
    assert "5m window" in result.output and "60m window" in result.output
    as_json = CliRunner().invoke(app, ["calibrate", "--json", str(path)])
    assert orjson.loads(as_json.stdout.splitlines()[0])["asset"] == "XRP"
