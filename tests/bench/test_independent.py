"""The independent scenarios of bench/independent.py: valid events, labels the scorer reads, feeds as venues deliver."""

import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from _independent.build import build  # noqa: E402

from pipeline.contracts.models import event_from_dict  # noqa: E402
from pipeline.evaluate import POSITIVE  # noqa: E402


@pytest.fixture(scope="module")
def scenario():
    return build(3, days=4)


def test_every_event_is_valid_for_its_schema(scenario):
    kinds = Counter(event_from_dict(e).type for e in scenario.events)
    assert {"liquidation", "trade_flow", "leverage", "whale_transfer"} <= set(kinds)


def test_the_same_seed_gives_the_same_scenario(scenario):
    again = build(3, days=4)
    assert again.events == scenario.events and again.labels == scenario.labels


def test_binance_keeps_one_liquidation_per_symbol_and_second(scenario):
    seen = Counter((e["symbol"], e["ts"] // 1000, e["event_id"]) for e in scenario.events
                   if e["type"] == "liquidation" and e["venue"] == "binance-usdm")
    per_second = Counter((symbol, second) for symbol, second, _ in seen)
    assert seen and max(per_second.values()) == 1
    assert {e["completeness"] for e in scenario.events if e["type"] == "liquidation"
            and e["venue"] == "binance-usdm"} == {"sampled"}


def test_each_positive_label_holds_its_burst_inside_its_window(scenario):
    positives = [lab for lab in scenario.labels if lab["kind"] in POSITIVE]
    assert positives
    for lab in positives:
        assert lab["start_ts"] <= lab["burst_start_ts"] < lab["end_ts"]
        assert lab["burst_long_usd"] > 0 and sum(lab["burst_minutes_usd"]) > 0
        if lab["kind"] == "whale_cascade":
            deposits = [e for e in scenario.events if e["type"] == "whale_transfer"
                        and e["event_id"] == lab["deposit_event_id"]]
            assert deposits and deposits[0]["direction"] == "exchange_inflow"
