"""`cascadewatch backtest` over the Aug 2025 scenario written in five archive formats gives the
alerts a replay of the scenario gives, with any sort-run size, inside a time window, and with an
evaluation when labels are given; bad lines are kept, not lost."""

from __future__ import annotations

import gzip

import orjson
import pytest
from typer.testing import CliRunner

from pipeline.backtest import backtest
from pipeline.cli import app
from pipeline.contracts.models import event_from_dict
from pipeline.replay import run
from pipeline.sources.archives import detect

from .scenario_files import scenario_events, write_scenario_files


def key(a: dict) -> tuple:
    return (a["alert_id"], a["stage"], a.get("kind"), a["asset"], a["ts"], a.get("revision"))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    root = tmp_path_factory.mktemp("scenario")
    paths = write_scenario_files(root)
    # The venue-format files carry no open interest: the replay to match is the scenario's without it.
    events = sorted((event_from_dict(e) for e in scenario_events() if e["type"] != "leverage"), key=lambda e: e.ts)
    want = [a.model_dump(mode="json") for a in run(events).alerts]
    return root, paths, want


def test_formats_are_detected(scenario):
    _, paths, _ = scenario
    assert [detect(p).fmt for p in paths] == ["interchange", "binance-klines", "binance-klines",
                                              "tardis-liquidations", "messages", "messages"]
    assert [detect(p).venue for p in paths][-2:] == ["bybit", "okx"]


def test_same_alerts_as_the_scenario_replay_with_small_sort_runs(scenario, tmp_path):
    _, paths, want = scenario
    result = backtest([detect(p) for p in paths], tmp_path / "out", run_size=1_000)
    assert result.runs == 20 and result.events == 19_156 and result.bad_lines == 0
    got = [orjson.loads(x) for x in (tmp_path / "out" / "alerts.jsonl").read_bytes().splitlines()]
    assert any(a["stage"] == "cascade" for a in want)
    assert [key(a) for a in got] == [key(a) for a in want]
    summary = orjson.loads((tmp_path / "out" / "summary.json").read_bytes())
    assert summary["events"] == result.events == sum(f["events_in_window"] for f in summary["files"])


def test_cli_window_labels_and_bad_lines(scenario, tmp_path):
    root, paths, want = scenario
    bad = root / "bybit_2025-08-24.log"
    broken = tmp_path / "bybit_broken_2025-08-24.log"
    lines = bad.read_bytes().splitlines()
    broken.write_bytes(b"\n".join(lines[:3] + [b"2025-08-24T21:00:00.0000000Z {not json"] + lines[3:]) + b"\n")
    files = [p for p in paths if p != bad] + [broken]
    cascade = next(a for a in want if a["stage"] == "cascade")
    labels = tmp_path / "labels.jsonl"
    labels.write_bytes(orjson.dumps({"kind": "whale_cascade", "asset": cascade["asset"],
                                     "deposit_event_id": cascade["deposit"]["event_id"],
                                     "start_ts": cascade["ts"] - 3_600_000, "end_ts": cascade["ts"] + 3_600_000,
                                     "burst_start_ts": cascade["ts"] - 60_000, "peak_ts": cascade["ts"],
                                     "deposit_usd": cascade["deposit"]["usd_value"]}) + b"\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["backtest", "--from", "2025-08-24T00:00Z", "--to", "2025-08-26",
                                      "--out", str(out), "--labels", str(labels), *map(str, files)])
    assert result.exit_code == 0, result.output
    got = [orjson.loads(x) for x in (out / "alerts.jsonl").read_bytes().splitlines()]
    assert {key(a) for a in got} >= {key(a) for a in want if a["stage"] == "cascade"}
    [badline] = [orjson.loads(x) for x in (out / "bad_lines.jsonl").read_bytes().splitlines()]
    assert badline["line"] == 4 and badline["path"].endswith("bybit_broken_2025-08-24.log")
    evaluation = orjson.loads((out / "evaluation.json").read_bytes())
    row = next(r for r in evaluation["rows"] if r["kind"] == "whale_cascade")
    assert row["episodes"] == 1 and row["found"] == 1
    assert "CASCADE" in result.stdout and "evaluation" in result.stdout
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert sum(f["events_outside_window"] for f in summary["files"]) > 0


def test_cli_refuses_unknown_files_and_bad_windows(tmp_path):
    odd = tmp_path / "notes.txt"
    odd.write_text("hello\n")
    runner = CliRunner()
    result = runner.invoke(app, ["backtest", "--out", str(tmp_path / "o"), str(odd)])
    assert result.exit_code == 2 and "unknown format" in result.output
    gz = tmp_path / "x.jsonl.gz"
    gz.write_bytes(gzip.compress(b"{}\n"))
    result = runner.invoke(app, ["backtest", "--from", "2025-08-25", "--to", "2025-08-24", str(gz)])
    assert result.exit_code == 2 and "--to must be after --from" in result.output
    result = runner.invoke(app, ["backtest", "--from", "yesterday", str(gz)])
    assert result.exit_code == 2


def test_every_archive_format_goes_through(tmp_path):
    """The formats not in the scenario files (trades archives, tardis trades, COIN-M liquidation
    snapshot, node fills) go through the same command: counted per file, nothing bad, all sorted."""
    from tests.sources.archives.builders import (
        binance_aggtrades_csv,
        binance_liquidation_snapshot_csv,
        binance_trades_csv,
        doc_example,
        tardis_trades_csv,
        zipped,
    )

    files = {
        "SUSHIUSDT-aggTrades-2021-07-22.zip": zipped("SUSHIUSDT-aggTrades-2021-07-22.csv",
                                                      binance_aggtrades_csv("SUSHIUSDT")),
        "SUSHIUSDT-trades-2021-07-22.csv": binance_trades_csv("SUSHIUSDT"),
        "binance-futures_trades_2021-07-22_ALL.csv.gz": gzip.compress(tardis_trades_csv()),
        "BTCUSD_200925-liquidationSnapshot-2020-06-03.csv": binance_liquidation_snapshot_csv(
            [doc_example("binance_coinm_forceOrder_docs_example.json")["o"]]),
        "node_fills_20260120_17": b"".join(orjson.dumps(["0x193bd350ec838b1e22d6f302da5343b920aa1c2b", f]) + b"\n"
                                           for f in doc_example("hyperliquid_userFills_with_liquidation_ccxt_fixture.json")),
    }
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    result = backtest([detect(p) for p in paths], tmp_path / "out", run_size=10)
    assert [f.fmt for f in result.files] == ["binance-aggtrades", "binance-trades", "tardis-trades",
                                             "binance-liquidations", "hyperliquid-node-fills"]
    assert result.bad_lines == 0 and result.runs > 1
    assert all(f.in_window > 0 for f in result.files)
    assert result.events == sum(f.in_window for f in result.files)
    assert sum(f.stats.liquidations for f in result.files) == 2  # COIN-M snapshot row, HYPE node fill
    # the aggTrades archive, the trades archive and the tardis.dev CSV carry the same SUSHIUSDT trades:
    # the detector sees each of those bars three times and drops two as duplicates
    assert result.duplicates == 2 * result.files[1].stats.bars
