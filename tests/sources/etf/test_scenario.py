"""The demo scenario's ETF history comes from a wide CSV beside it, imported like `etf import` does."""

from __future__ import annotations

import orjson

from pipeline.contracts.models import event_from_dict
from pipeline.replay import run
from pipeline.scenarios import bundled
from pipeline.sources.etf.scenario import history_files, with_imported_history


def _events():
    return [orjson.loads(line) for line in bundled().read_bytes().splitlines() if line.strip()]


def _daily(events):
    out = {}
    for e in events:
        if e["type"] == "etf_flow":
            out[e["date"]] = round(out.get(e["date"], 0.0) + e["net_flow_usd"], 2)
    return out


def test_the_bundled_scenario_has_a_btc_history_file():
    assert list(history_files(bundled())) == ["BTC"]


def test_imported_history_replaces_the_scenario_figures_with_the_same_days():
    own = _events()
    events, notes = with_imported_history(bundled(), own)
    assert notes == ["BTC ETF history imported from aug2025_etf_btc.csv: 35 figures, 7 trading days"]
    etf = [e for e in events if e["type"] == "etf_flow"]
    assert {e["source"] for e in etf} == {"wide-csv"} and len(etf) == 35
    assert _daily(etf) == _daily(own)
    assert [e for e in events if e["type"] != "etf_flow"] == [e for e in own if e["type"] != "etf_flow"]


def test_the_demo_alerts_carry_context_from_the_imported_figures():
    events, _ = with_imported_history(bundled(), _events())
    models = sorted((event_from_dict(e) for e in events), key=lambda e: e.ts)
    alerts = [a for a in run(models).alerts if a.asset == "BTC" and a.stage != "expired"]
    assert alerts
    for a in alerts:
        ctx = a.etf_context
        assert ctx["as_of_date"] == "2025-08-22" and ctx["outflow_streak_days"] == 6
        assert ctx["sum_5d_usd"] == -1.36e9
    # the same alerts as with the scenario's own figures: only the publication times differ
    own = sorted((event_from_dict(e) for e in _events()), key=lambda e: e.ts)
    assert [(a.stage, a.severity, a.etf_context) for a in run(own).alerts if a.asset == "BTC" and a.stage != "expired"] \
        == [(a.stage, a.severity, a.etf_context) for a in alerts]
