"""`cascadewatch normalize` on archive files: detection without --venue, whole output when piped,
bad rows on stderr with a count, and usage errors with exit code 2."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from pipeline.sources.exchanges.cli import normalize_app

from ..archives.builders import gzipped, tardis_trades_csv


def test_tardis_csv_detected_and_bad_rows_counted(tmp_path):
    data = tardis_trades_csv().splitlines()
    data.insert(3, b"binance-futures,SUSHIUSDT,notatime,1,1,buy,1,1")
    path = tmp_path / "binance-futures_trades_2021-07-22_ALL.csv.gz"
    path.write_bytes(gzipped(b"\n".join(data) + b"\n"))
    result = CliRunner().invoke(normalize_app, ["normalize", str(path)])
    assert result.exit_code == 0, result.output
    events = [orjson.loads(ln) for ln in result.stdout.splitlines() if ln.strip()]
    assert events and {e["type"] for e in events} == {"trade_flow"}
    assert "line 4: invalid: timestamp" in result.stderr and "errors: 1" in result.stderr
    assert "tardis-trades" in result.stderr


def test_usage_errors_exit_2(tmp_path):
    runner = CliRunner()
    assert runner.invoke(normalize_app, ["normalize"], input="{}\n").exit_code == 2
    odd = tmp_path / "notes.txt"
    odd.write_text("hello\n")
    result = runner.invoke(normalize_app, ["normalize", str(odd)])
    assert result.exit_code == 2 and "unknown format" in result.stderr
    result = runner.invoke(normalize_app, ["normalize", "--format", "nope", str(odd)])
    assert result.exit_code == 2 and "unknown format 'nope'" in result.stderr
