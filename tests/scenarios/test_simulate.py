"""The simulator and the backtest, through the CLI: simulate -> replay -> evaluate."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.scenarios.simulate import KINDS, SimConfig, simulate

runner = CliRunner()


def test_same_seed_same_files():
    a, la = simulate(SimConfig(days=6, per_kind=6, seed=3))
    b, lb = simulate(SimConfig(days=6, per_kind=6, seed=3))
    assert a == b and la == lb
    assert {lab.kind for lab in la} == set(KINDS) and len(la) == 6 * len(KINDS)


def test_too_many_episodes_is_a_clear_error(tmp_path):
    res = runner.invoke(app, ["simulate", "--days", "1", "--per-kind", "5", "--out", str(tmp_path / "e"),
                              "--labels", str(tmp_path / "l")])
    assert res.exit_code == 1 and "add days" in res.output


def test_backtest_finds_every_whale_cascade_and_beats_the_baseline(tmp_path):
    events, labels, alerts, scores = (tmp_path / n for n in ("events.jsonl", "labels.jsonl", "alerts.jsonl",
                                                             "scores.json"))
    res = runner.invoke(app, ["simulate", "--days", "6", "--per-kind", "6", "--seed", "2", "--out", str(events),
                              "--labels", str(labels)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["replay", str(events), "--out", str(alerts)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["evaluate", "--labels", str(labels), "--alerts", str(alerts), "--json", str(scores)])
    assert res.exit_code == 0, res.output
    rows = {r["kind"]: r for r in orjson.loads(scores.read_bytes())["rows"]}
    whale, baseline = rows["whale_cascade"], rows["baseline: every large deposit"]
    assert whale["episodes"] == 6 and whale["recall"] == 1.0 and whale["precision"] == 1.0
    assert baseline["precision"] < whale["precision"]
    contagion = rows["contagion_cascade"]
    assert contagion["episodes"] == 6 and contagion["recall"] == 1.0 and contagion["precision"] == 1.0
    assert whale["median_lead_vs_burst_start_s"] is not None
    # Short squeezes, internal transfers and deposits nobody sold raised no cascade alert.
    assert rows["liquidation_cascade"]["false_alerts"] == 0
