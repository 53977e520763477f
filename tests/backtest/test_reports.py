"""`cascadewatch backtest --out DIR` writes the episode reports from its own alerts and events (no
store): a page and a PNG per cascade episode and an index, which a real browser (headless Chromium)
opens with the stage markers; `--reports all|none` choose the episodes."""

from __future__ import annotations

import re

import orjson
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from tests.report.browser import not_blank, run_chromium

from .scenario_files import write_scenario_files


@pytest.fixture(scope="module")
def backtested(tmp_path_factory):
    root = tmp_path_factory.mktemp("scenario")
    paths = write_scenario_files(root)
    out = root / "out"
    res = CliRunner().invoke(app, ["backtest", *map(str, paths), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out, [orjson.loads(x) for x in (out / "alerts.jsonl").read_bytes().splitlines()], res.output


def test_a_report_per_cascade_episode_and_an_index(backtested):
    out, alerts, output = backtested
    cascades = sorted({a["alert_id"] for a in alerts if a["stage"] == "cascade"})
    assert cascades
    pages = sorted(p.stem for p in (out / "reports").glob("*.html") if p.name != "index.html")
    assert pages == sorted("".join(c if c.isalnum() or c in "-_." else "_" for c in a) for a in cascades)
    for stem in pages:
        png = out / "reports" / f"{stem}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not_blank(png)
        page = (out / "reports" / f"{stem}.html").read_text()
        assert "Per minute from the backtest" in page and 'id="marker-cascade"' in page
    index = (out / "reports" / "index.html").read_text()
    assert all(f'href="{stem}.html"' in index for stem in pages)
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert len(summary["reports"]) == len(pages)
    assert "episode report(s)" in output


def test_chromium_opens_the_whale_cascade_report(backtested, tmp_path):
    out, alerts, _ = backtested
    whale = next(a for a in alerts if a["kind"] == "whale_cascade" and a["stage"] == "cascade")
    page = next((out / "reports").glob(f"{whale['alert_id'].replace(':', '_')}*.html"))
    dom = run_chromium("--dump-dom", page.resolve().as_uri(), tmp=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for marker in ("deposit", "watch", "sell", "cascade"):
        assert f'id="marker-{marker}"' in dom.stdout, marker
    assert re.findall(r'data-stage="(\w+)"', dom.stdout) == ["watch", "sell", "cascade"]
    shot = tmp_path / "shot.png"
    res = run_chromium(f"--screenshot={shot}", "--window-size=1280,1600", page.resolve().as_uri(), tmp=tmp_path)
    assert res.returncode == 0 and not_blank(shot), res.stderr[-2000:]
    index = run_chromium("--dump-dom", (out / "reports" / "index.html").resolve().as_uri(), tmp=tmp_path)
    assert page.name in index.stdout


def test_reports_all_none_and_a_bad_choice(backtested, tmp_path):
    root = backtested[0].parent
    paths = [str(p) for p in sorted(root.iterdir()) if p.is_file()]
    res = CliRunner().invoke(app, ["backtest", *paths, "--out", str(tmp_path / "none"), "--reports", "none"])
    assert res.exit_code == 0 and not (tmp_path / "none" / "reports").exists()
    res = CliRunner().invoke(app, ["backtest", *paths, "--out", str(tmp_path / "x"), "--reports", "some"])
    assert res.exit_code == 2 and "--reports" in res.output
    res = CliRunner().invoke(app, ["backtest", *paths, "--out", str(tmp_path / "all"), "--reports", "all"])
    assert res.exit_code == 0
    alerts = [orjson.loads(x) for x in (tmp_path / "all" / "alerts.jsonl").read_bytes().splitlines()]
    pages = [p for p in (tmp_path / "all" / "reports").glob("*.html") if p.name != "index.html"]
    assert len(pages) == len({a["alert_id"] for a in alerts}) > len(list((backtested[0] / "reports").glob("*.png")))
