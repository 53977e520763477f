"""The shipped single-node DDL, rewritten for a ClickHouse cluster (`schema apply --cluster NAME`).

Every statement gets ON CLUSTER. Each table becomes two: `<table>_local`, the same columns, keys and
settings on the Replicated variant of its engine (one replica path per shard), and `<table>`, a
Distributed table over it, sharded by asset (or venue / source topic where a table has no asset).
So the names the views, the sink, the dashboards and the cookbook use are unchanged, and every
event of an asset lands on one shard, where FINAL deduplicates it. ALTERs go to both tables.
Nothing is written twice: the statements are derived from schemas/clickhouse/*.sql.
"""

from __future__ import annotations

import re

LOCAL = "_local"
_CREATE_TABLE = re.compile(
    r"^CREATE TABLE IF NOT EXISTS (?P<db>\w+)\.(?P<name>\w+)\s*\((?P<cols>.*)\)\s*"
    r"ENGINE\s*=\s*(?P<engine>\w+)(?P<args>\([^)]*\))?(?P<rest>.*)$", re.S)
_SHARD_BY = ("asset", "venue", "source_topic")


def shard_key(columns: str) -> str:
    for col in _SHARD_BY:
        if re.search(rf"^\s*{col}\s", columns, re.M):
            return f"cityHash64({col})"
    return "rand()"


def _replicated(engine: str, args: str | None, db: str, name: str) -> str:
    inner = (args or "()")[1:-1].strip()
    path = f"'/clickhouse/tables/{{shard}}/{db}/{name}{LOCAL}', '{{replica}}'"
    return f"Replicated{engine}({path}{', ' + inner if inner else ''})"


def cluster_statements(statement: str, cluster: str) -> list[str]:
    """The statements that do on `cluster` what `statement` does on one node."""
    on = f"ON CLUSTER {cluster}"
    s = statement.strip()
    if m := re.match(r"^CREATE DATABASE IF NOT EXISTS (\w+)$", s):
        return [f"CREATE DATABASE IF NOT EXISTS {m.group(1)} {on}"]
    if m := _CREATE_TABLE.match(s):
        db, name = m["db"], m["name"]
        # Replicated tables deduplicate retried inserts by themselves (replicated_deduplication_window).
        rest = re.sub(r"\s*SETTINGS\s+non_replicated_deduplication_window\s*=\s*\d+\s*$", "", m["rest"])
        local = (f"CREATE TABLE IF NOT EXISTS {db}.{name}{LOCAL} {on}\n({m['cols']})\n"
                 f"ENGINE = {_replicated(m['engine'], m['args'], db, name)}{rest}")
        dist = (f"CREATE TABLE IF NOT EXISTS {db}.{name} {on} AS {db}.{name}{LOCAL}\n"
                f"ENGINE = Distributed({cluster}, {db}, {name}{LOCAL}, {shard_key(m['cols'])})")
        return [local, dist]
    if m := re.match(r"^CREATE OR REPLACE VIEW (\w+\.\w+) AS\b(.*)$", s, re.S):
        return [f"CREATE OR REPLACE VIEW {m.group(1)} {on} AS{m.group(2)}"]
    if m := re.match(r"^ALTER TABLE (\w+)\.(\w+)\s+(.*)$", s, re.S):
        db, name, action = m.groups()
        return [f"ALTER TABLE {db}.{name}{LOCAL} {on} {action}", f"ALTER TABLE {db}.{name} {on} {action}"]
    raise ValueError(f"no cluster form for this statement (add one in pipeline/sinks/cluster.py):\n{s[:300]}")


def ttl_for_cluster(statement: str, cluster: str) -> str:
    """A TTL ALTER from retention.ttl_statements, aimed at the local tables of every node."""
    m = re.match(r"^ALTER TABLE (\w+)\.(\w+)\s+(.*)$", statement, re.S)
    return f"ALTER TABLE {m.group(1)}.{m.group(2)}{LOCAL} ON CLUSTER {cluster} {m.group(3)}"
