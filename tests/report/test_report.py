"""The episode report: written from the store, self-contained, and shown by a real browser (headless
Chromium) with its stage markers; the PNG and the browser's screenshot are not blank."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.report.cli import write_report
from pipeline.report.data import ReportError, load_episode
from tests.analytics_scenario import GAP_VENUE

from .browser import not_blank, run_chromium

ROOT = Path(__file__).resolve().parents[2]


def whale_cascade(alerts) -> dict:
    return next(a for a in alerts if a["kind"] == "whale_cascade" and a["stage"] == "cascade")


@pytest.fixture(scope="module")
def written(scenario, tmp_path_factory):
    store, _, alerts = scenario
    out = tmp_path_factory.mktemp("report")
    html_path, png_path = write_report(store, whale_cascade(alerts)["alert_id"], out)
    return html_path, png_path


def test_episode_holds_the_alert_and_the_market_around_it(scenario):
    store, events, alerts = scenario
    alert = whale_cascade(alerts)
    ep = load_episode(store, alert["alert_id"])
    assert [s.stage for s in ep.stages] == ["watch", "sell", "cascade"]
    assert int(ep.deposit_ts.timestamp() * 1000) == alert["deposit"]["ts"]
    assert set(ep.price) == {"binance-usdm", "bybit", "okx"}
    assert [v for v, _, _ in ep.gaps] == [GAP_VENUE]
    lo, hi = int(ep.start.timestamp() * 1000), int(ep.end.timestamp() * 1000)
    longs = sum(e["notional_usd"] for e in events if e["type"] == "liquidation" and e["asset"] == "BTC"
                and e["side"] == "long" and lo <= e["ts"] // 60_000 * 60_000 <= hi)
    assert sum(lo_ for _, lo_, _ in ep.liquidations) == pytest.approx(longs)
    assert min(v for _, v in ep.net_flow) < -1e6  # the selling shows


def test_page_is_self_contained_with_stages_markers_and_evidence(written, scenario):
    html_path, png_path = written
    page = html_path.read_text()
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not_blank(png_path)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "the page fetches something"
    assert "<script" not in page
    for stage in ("deposit", "watch", "sell", "cascade"):
        assert f'id="marker-{stage}"' in page
    assert re.findall(r'data-stage="(\w+)"', page) == ["watch", "sell", "cascade"]
    assert 'id="gap-0"' in page and f"{GAP_VENUE}: 21:22:00 to 21:22:40Z" in page
    assert "sampled feeds (totals are a lower bound): binance-usdm" in page
    assert "6 days" in page  # the ETF outflow streak of the alert's context


def test_unknown_alert_is_a_clear_error(scenario):
    with pytest.raises(ReportError, match="no alert 'nope'"):
        load_episode(scenario[0], "nope")


def test_cli_needs_one_of_alert_id_or_latest(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLICKHOUSE_URL": f"chdb://{tmp_path}/chdb"}
    both = subprocess.run([sys.executable, "-m", "pipeline", "report"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert both.returncode == 2 and "give an ALERT_ID or --latest" in both.stderr
    empty = subprocess.run([sys.executable, "-m", "pipeline", "report", "--latest", "--out", str(tmp_path)], env=env,
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert empty.returncode == 1 and "error:" in empty.stderr and "Traceback" not in empty.stderr


def test_chromium_loads_the_page_with_its_markers_and_draws_it(written, tmp_path):
    html_path, _ = written
    url = html_path.resolve().as_uri()
    dom = run_chromium("--dump-dom", url, tmp=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for stage in ("deposit", "watch", "sell", "cascade"):
        assert f'id="marker-{stage}"' in dom.stdout, f"marker-{stage} not in the DOM"
    assert re.findall(r'data-stage="(\w+)"', dom.stdout) == ["watch", "sell", "cascade"]
    shot = tmp_path / "shot.png"
    res = run_chromium(f"--screenshot={shot}", "--window-size=1280,1600", url, tmp=tmp_path)
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    assert not_blank(shot)
