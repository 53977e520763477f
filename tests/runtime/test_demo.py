"""`cascadewatch demo` as a user runs it, pointed at a broker and a ClickHouse path it did not start."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson

from pipeline.config import Settings
from pipeline.replay import replay_files
from pipeline.scenarios import bundled
from tests.conftest import read_topic


def test_demo_uses_the_configured_services_and_reports_the_cascade(broker, tmp_path):
    env = {**os.environ, "KAFKA_BOOTSTRAP": broker.bootstrap, "CLICKHOUSE_URL": f"chdb://{tmp_path / 'ch'}",
           "CASCADEWATCH_DATA_DIR": str(tmp_path / "var"), "CASCADEWATCH_REBALANCE_TIMEOUT_S": "5",
           "CASCADEWATCH_SINGLE_RECORD_BATCHES": "true", "COLUMNS": "200"}
    out = subprocess.run([sys.executable, "-m", "pipeline", "demo"], env=env, capture_output=True, text=True,
                         timeout=400, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert f"Kafka {broker.bootstrap} (KAFKA_BOOTSTRAP)" in out.stdout
    offline = replay_files([bundled()]).alerts  # what the demo's scenario gives offline
    assert "CASCADE  BTC" in out.stdout and f"{len(offline)} alerts, 2 cascades" in out.stdout
    assert "contagion watch: BTC cascade" in out.stdout and "linked to the BTC cascade" in out.stdout
    (report,) = (tmp_path / "var" / "reports").glob("*.html")  # the demo ends with its cascade's report
    assert f"Report of the BTC cascade: {report}" in out.stdout and 'id="marker-cascade"' in report.read_text()
    # The alerts went to the broker we started, not to an embedded one.
    stages = sorted(orjson.loads(r.value)["stage"] for r in read_topic(broker.bootstrap, Settings().topics.alerts))
    assert stages == sorted(a.stage for a in offline)
    rows = subprocess.run([sys.executable, "-m", "pipeline", "sql", "SELECT count() AS n FROM alerts FINAL",
                           "--format", "json"], env=env, capture_output=True, timeout=120, cwd=tmp_path)
    assert orjson.loads(rows.stdout.splitlines()[0]) == {"n": len({(a.alert_id, a.stage) for a in offline})}
