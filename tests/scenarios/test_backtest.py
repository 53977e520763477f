"""Backtests over seeds: the in-process path gives what simulate -> replay -> evaluate gives."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.scenarios.backtest import parse_seeds, score_seed, summarize
from pipeline.scenarios.simulate import SimConfig

runner = CliRunner()


def test_parse_seeds():
    assert parse_seeds("1-5") == [1, 2, 3, 4, 5]
    assert parse_seeds("1,3,9") == [1, 3, 9]
    assert parse_seeds("2-3, 7") == [2, 3, 7]
    for bad in ("5-1", "x", "", "1-"):
        with pytest.raises(ValueError, match="bad seed list"):
            parse_seeds(bad)


def test_summary_takes_the_worst_seed_and_the_mean():
    def seed(p, r, fc, med):
        return {"rows": [{"kind": "liquidation_cascade", "episodes": 10, "found": 8, "false_alerts": 1, "precision": p,
                          "recall": r, "false_alerts_per_day": 0.1, "false_alerts_per_calm_day": fc,
                          "median_latency_s": med, "p90_latency_s": None, "wall_median_latency_s": None}]}

    (row,) = summarize([seed(1.0, 0.9, 0.0, 30.0), seed(0.8, 1.0, 0.5, 50.0), seed(None, 0.7, 0.25, 40.0)])
    assert row["episodes"] == 30 and row["found"] == 24 and row["false_alerts"] == 3
    assert row["worst_precision"] == 0.8 and row["mean_precision"] == 0.9  # a seed with no alert has no precision
    assert row["worst_recall"] == 0.7 and row["mean_recall"] == pytest.approx(0.8667, abs=1e-4)
    assert row["worst_false_alerts_per_calm_day"] == 0.5 and row["worst_median_latency_s"] == 50.0
    assert row["worst_p90_latency_s"] is None


def test_in_process_backtest_equals_the_commands(tmp_path):
    sim = SimConfig(days=4, per_kind=2, seed=5)
    scores = score_seed(sim)
    events, labels, alerts, out = (tmp_path / n for n in ("e.jsonl", "l.jsonl", "a.jsonl", "s.json"))
    res = runner.invoke(app, ["simulate", "--days", "4", "--per-kind", "2", "--seed", "5", "--out", str(events),
                              "--labels", str(labels)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["replay", str(events), "--out", str(alerts)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["evaluate", "--labels", str(labels), "--alerts", str(alerts), "--json", str(out)])
    assert res.exit_code == 0, res.output
    from_files = orjson.loads(out.read_bytes())
    assert scores["alerts"] == len(alerts.read_bytes().splitlines())
    assert scores["rows"] == from_files["rows"] and scores["negatives"] == from_files["negatives"]
    assert scores["episodes_by_kind"] == from_files["episodes_by_kind"]
    assert scores["calm_days"] == from_files["calm_days"] == sim.calm and scores["days"] == from_files["days"] == 4
