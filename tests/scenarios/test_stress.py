"""The stress files (pipeline/scenarios/stress.py): short, cold-started files in shapes and noise the
detector's settings were not chosen on. Every cascade is found, calm files stay silent, and the median
alert comes within a minute of the burst's start."""

from __future__ import annotations

import statistics

import pytest

from pipeline.scenarios.stress import KINDS, SHAPES, StressCase, generate, score


def test_a_stress_file_is_labelled_and_the_same_for_a_seed():
    case = StressCase.draw(7)
    events, [label] = generate(case)
    assert generate(case)[0] == events
    assert {e["type"] for e in events} >= {"trade_flow", "liquidation"}
    if case.kind != "calm_day":
        assert label.burst_start_ts is not None and label.shape == case.shape
    contagion = next(StressCase.draw(s) for s in range(100) if StressCase.draw(s).kind == "contagion_cascade")
    events, labels = generate(contagion)
    assert [(lab.kind, lab.asset) for lab in labels] == [("no_whale_cascade", "BTC"), ("contagion_cascade", "ETH")]
    assert abs(labels[1].burst_start_ts - labels[0].burst_start_ts) <= 20 * 60_000
    assert {e["asset"] for e in events if e["type"] == "liquidation"} == {"BTC", "ETH"}
    assert {StressCase.draw(s).kind for s in range(40)} == set(KINDS)
    assert {StressCase.draw(s).shape for s in range(40)} == set(SHAPES)


@pytest.mark.parametrize(("noise", "seeds"), [(1.0, range(1, 61)), (10.0, range(1, 31))])
def test_stress_files_every_cascade_found_no_false_alert_median_within_a_minute(noise, seeds):
    results = [score(StressCase.draw(seed, noise=noise)) for seed in seeds]
    positives = [r for r in results if r.found is not None]
    assert positives and len(positives) < len(results)  # cascades and calm files both
    assert [r.case.seed for r in positives if not r.found] == []
    assert [(r.case.seed, r.kinds) for r in results if r.false_alerts] == []
    latency = statistics.median(r.latency_s for r in positives)
    print(f"[stress] noise x{noise}: {len(positives)} cascades found of {len(positives)}, "
          f"{len(results) - len(positives)} calm files silent, median latency {latency:.1f} s")
    assert latency <= 60
