"""The simulate and evaluate commands: options, tables, JSON, clear errors."""

from __future__ import annotations

import re

import orjson
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()


def test_evaluate_over_seeds_prints_per_seed_and_worst_and_mean(tmp_path):
    out = tmp_path / "scores.json"
    res = runner.invoke(app, ["evaluate", "--seeds", "1-2", "--days", "5", "--per-kind", "2", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "per seed (5 days each)" in res.output and "2 seeds (1-2): worst seed / mean" in res.output
    # Piped output is whole: the longest cell is not cut.
    assert "baseline: every large deposit" in res.output and "…" not in res.output
    data = orjson.loads(out.read_bytes())
    assert data["seeds"] == [1, 2] and [s["seed"] for s in data["per_seed"]] == [1, 2]
    assert data["negatives"]["small_liquidations"]["episodes"] == 4 and "(all seeds)" in res.output
    assert {r["kind"] for r in data["summary"]} >= {"whale_cascade", "liquidation_cascade", "contagion_cascade"}
    for s in data["per_seed"]:
        assert s["calm_days"] == 1 and s["days"] == 5
        assert s["episodes_by_kind"]["whale_cascade"] == 2 and s["episodes_by_kind"]["small_liquidations"] == 2
        assert all("wall_median_latency_s" in r and "false_alerts_per_calm_day" in r for r in s["rows"])
    assert data["per_seed"][0]["rows"] != data["per_seed"][1]["rows"] or \
        data["per_seed"][0]["events"] != data["per_seed"][1]["events"]


def test_evaluate_errors_are_clear(tmp_path):
    res = runner.invoke(app, ["evaluate"])
    assert res.exit_code == 1 and "--seeds" in res.output
    res = runner.invoke(app, ["evaluate", "--seeds", "3-1"])
    assert res.exit_code == 1 and "bad seed list" in res.output
    bad = tmp_path / "labels.jsonl"
    bad.write_text('{"kind": "whale_cascade"\n')
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_text("")
    res = runner.invoke(app, ["evaluate", "--labels", str(bad), "--alerts", str(alerts)])
    assert res.exit_code == 1 and "cannot read labels/alerts" in res.output
    res = runner.invoke(app, ["evaluate", "--seeds", "1", "--days", "2", "--per-kind", "9"])
    assert res.exit_code == 1 and "add days" in res.output


def test_simulate_writes_events_and_labels(tmp_path):
    events, labels = tmp_path / "e.jsonl", tmp_path / "l.jsonl"
    res = runner.invoke(app, ["simulate", "--days", "3", "--per-kind", "1", "--calm-days", "1", "--seed", "4",
                              "--out", str(events), "--labels", str(labels)])
    assert res.exit_code == 0, res.output
    labs = [orjson.loads(x) for x in labels.read_bytes().splitlines()]
    assert sum(lab["kind"] == "calm_day" for lab in labs) == 1 and len(labs) == 9
    assert len(events.read_bytes().splitlines()) > 3 * 1440 * 3 * 5 * 0.95  # bars of 5 assets on 3 venues


def test_a_one_day_simulation_works_for_every_seed_or_says_why_not(tmp_path):
    """A file of one day has no room for a leverage build-up before a false alarm: it used to crash some seeds."""
    for seed in (1, 3, 7):
        res = runner.invoke(app, ["simulate", "-o", str(tmp_path / "e.jsonl"), "--labels", str(tmp_path / "l.jsonl"),
                                  "--days", "1", "--per-kind", "1", "--seed", str(seed)])
        assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["simulate", "-o", str(tmp_path / "e.jsonl"), "--labels", str(tmp_path / "l.jsonl"),
                              "--days", "1", "--per-kind", "2", "--seed", "2"])
    assert res.exit_code == 1 and "too few episode slots" in res.output and "Traceback" not in res.output


def test_files_to_write_are_checked_before_the_work(tmp_path):
    events = tmp_path / "e.jsonl"
    runner.invoke(app, ["simulate", "-o", str(events), "--labels", str(tmp_path / "l.jsonl"), "--days", "1",
                        "--per-kind", "1"])
    for args in (["replay", str(events), "--out", str(tmp_path)],
                 ["replay", str(events), "--out", str(tmp_path / "missing" / "a.jsonl")],
                 ["simulate", "-o", str(tmp_path), "--labels", str(tmp_path / "l2.jsonl"), "--days", "1"],
                 ["calibrate", str(events), "-o", str(tmp_path)],
                 ["replay", str(tmp_path)]):
        res = runner.invoke(app, args)
        said = re.sub(r"[│╭╮╰╯─\s]+", " ", res.output)  # the error box, its lines joined
        assert res.exit_code == 2 and ("is a directory" in said or "does not exist" in said), (args, said)


def test_input_with_no_event_is_an_error_not_an_empty_success(tmp_path):
    empty, labels = tmp_path / "empty.jsonl", tmp_path / "l.jsonl"
    empty.write_bytes(b"")
    runner.invoke(app, ["simulate", "-o", str(tmp_path / "e.jsonl"), "--labels", str(labels), "--days", "1",
                        "--per-kind", "1"])
    for args, says in ((["replay", str(empty)], "the files are empty"),
                       (["replay", str(labels)], "every line was refused"),  # labels are no events
                       (["calibrate", str(empty)], "no event could be read"),
                       (["evaluate", "--labels", str(empty), "--alerts", str(empty)], "holds no labels"),
                       (["evaluate", "--seeds", "1", "--labels", str(labels), "--alerts", str(empty)], "not both")):
        res = runner.invoke(app, args)
        assert res.exit_code == 1 and says in res.output, (args, res.output)
