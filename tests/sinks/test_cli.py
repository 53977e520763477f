"""`cascadewatch sql` run as a user runs it, with stdout a pipe (or a terminal): whole values in every format."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LONG_ID = "5a62dcffe3b9c0d4e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8:0"
QUERY = (f"SELECT * FROM (SELECT '{LONG_ID}' AS alert_id, 'whale_cascade' AS kind, repeat('x', 300) AS wide, 1.5 AS usd, "
         "toDateTime64('2025-08-24 21:11:30.250', 3, 'UTC') AS ts, CAST(NULL AS Nullable(String)) AS missing, "
         "'tab\there' AS tabbed UNION ALL "
         f"SELECT 'second', 'liquidation_cascade', 'y', 22, toDateTime64('2025-08-24 21:24:24', 3, 'UTC'), 'z', 'b') "
         "ORDER BY usd")


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "CLICKHOUSE_URL": f"chdb://{tmp_path_factory.mktemp('sqlcli')}",
            "COLUMNS": "60"}


def run_sql(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", "sql", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=180)


def test_table_piped_is_whole_plain_columns(env):
    out = run_sql(env, QUERY)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["alert_id", "kind", "wide", "usd", "ts", "missing", "tabbed"]
    assert LONG_ID in lines[2] and "x" * 300 in lines[2] and "liquidation_cascade" in lines[3]
    assert "2025-08-24 21:11:30.250" in lines[2] and "2025-08-24 21:24:24 " in lines[3]
    assert "…" not in out.stdout and "\x1b[" not in out.stdout
    assert len(lines[1]) == max(len(line) for line in lines)  # the rule under the header spans every column


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json"])
def test_every_format_piped_is_whole(env, fmt):
    out = run_sql(env, QUERY, "--format", fmt)
    assert out.returncode == 0, out.stderr
    if fmt == "json":
        rows = [json.loads(line) for line in out.stdout.splitlines()]
        assert rows[0]["alert_id"] == LONG_ID and rows[0]["wide"] == "x" * 300 and rows[0]["missing"] is None
        assert rows[0]["ts"].startswith("2025-08-24T21:11:30.250") and rows[1]["usd"] == 22
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out.stdout)))
        assert rows[0]["alert_id"] == LONG_ID and rows[0]["wide"] == "x" * 300 and rows[0]["tabbed"] == "tab\there"
    else:
        header, first, second = out.stdout.splitlines()
        assert header.split("\t")[0] == "alert_id"
        assert first.split("\t") == [LONG_ID, "whale_cascade", "x" * 300, "1.5", "2025-08-24 21:11:30.250", "\\N", "tab\\there"]
        assert second.split("\t")[1] == "liquidation_cascade"


def test_table_on_a_terminal_folds_instead_of_cutting(env):
    """On a terminal narrower than the values, the rich table wraps cells onto more lines, never '…'."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "sql", f"SELECT '{LONG_ID}' AS alert_id"],
                            env=env, cwd=ROOT, stdout=follower, stderr=subprocess.PIPE)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=180) == 0, proc.stderr.read()
    os.close(leader)
    screen = b"".join(chunks).decode()
    assert "┃" in screen or "│" in screen  # a rich table was drawn
    assert "…" not in screen
    letters = "".join(ch for ch in screen if ch.isalnum() or ch == ":")
    assert LONG_ID.replace(":", "") in letters.replace(":", "").replace("alertid", "")


def test_bad_format_and_bad_sql_give_one_clear_error(env):
    bad = run_sql(env, "SELECT 1", "--format", "xml")
    assert bad.returncode == 1 and "--format must be one of table, csv, json, tsv" in bad.stderr
    broken = run_sql(env, "SELEC nothing")
    assert broken.returncode == 1 and "error:" in broken.stderr and "Traceback" not in broken.stderr
