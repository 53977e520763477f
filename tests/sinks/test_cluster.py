"""`schema apply --cluster`: the shipped DDL rewritten as Replicated + Distributed tables ON CLUSTER.
chDB has no cluster to run it on, but its parser checks every statement (EXPLAIN AST)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.sinks.clickhouse import schema_dir, split_statements
from pipeline.sinks.cluster import cluster_statements

ROOT = Path(__file__).resolve().parents[2]


def shipped_tables() -> list[str]:
    return [m.group(1) for p in sorted(schema_dir().glob("*.sql"))
            for m in re.finditer(r"CREATE TABLE IF NOT EXISTS \{db\}\.(\w+)", p.read_text())]


def test_single_node_statements_are_the_files_unchanged(fresh_store):
    for name, statements in fresh_store.schema_statements():
        expected = split_statements((schema_dir() / name).read_text().replace("{db}", fresh_store.database))
        assert statements == expected
        assert not any("ON CLUSTER" in s for s in statements)


def test_every_cluster_statement_parses(fresh_store):
    statements = [s for _, group in fresh_store.schema_statements("prod") for s in group]
    assert len(statements) > len(shipped_tables()) * 2
    for statement in statements:
        assert "ON CLUSTER prod" in statement
        _, rows = fresh_store.query(f"EXPLAIN AST {statement}")
        assert rows, statement


def test_each_table_is_replicated_per_shard_and_distributed_by_asset(fresh_store):
    statements = [s for _, group in fresh_store.schema_statements("prod") for s in group]
    db = fresh_store.database
    for table in shipped_tables():
        (local,) = [s for s in statements if s.startswith(f"CREATE TABLE IF NOT EXISTS {db}.{table}_local ")]
        (dist,) = [s for s in statements if s.startswith(f"CREATE TABLE IF NOT EXISTS {db}.{table} ")]
        assert re.search(rf"ENGINE = ReplicatedReplacingMergeTree\('/clickhouse/tables/{{shard}}/{db}/{table}_local', "
                         r"'\{replica\}'", local), local
        assert "non_replicated_deduplication_window" not in local
        assert dist.endswith(f"ENGINE = Distributed(prod, {db}, {table}_local, cityHash64("
                             f"{'asset' if table not in ('feed_health', 'deadletter') else ('venue' if table == 'feed_health' else 'source_topic')}))")
    rollup = next(s for s in statements if f"{db}.liquidations_1m_rollup_local " in s)
    assert "/liquidations_1m_rollup_local', '{replica}', refreshed_at)" in rollup  # the version column is kept
    view = next(s for s in statements if f"VIEW {db}.liquidations_1m " in s)
    assert f"FROM {db}.liquidations_1m_rollup FINAL" in view  # the view reads the Distributed table
    alters = [s for s in statements if s.startswith("ALTER TABLE")]
    assert alters and len([a for a in alters if "_local ON CLUSTER" in a]) * 2 == len(alters)


def test_unknown_statement_and_bad_cluster_name_are_refused(fresh_store):
    with pytest.raises(ValueError, match="no cluster form"):
        cluster_statements("DROP TABLE x.y", "prod")
    with pytest.raises(ValueError, match="invalid cluster name"):
        fresh_store.schema_statements("prod; DROP DATABASE x")


def test_cli_prints_the_cluster_ddl(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLICKHOUSE_URL": f"chdb://{tmp_path}/chdb"}
    out = subprocess.run([sys.executable, "-m", "pipeline", "schema", "apply", "--cluster", "prod", "--print"],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ENGINE = Distributed(prod, cascadewatch, liquidations_local, cityHash64(asset))" in out.stdout
    assert "-- 020_liquidations.sql" in out.stdout
