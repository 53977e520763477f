"""What both ClickHouse backends share: the Store interface, schema loading, event grouping, dedup tokens.

The backends (pipeline/sinks/_chdb.py, _native.py) import this module; pipeline/sinks/clickhouse.py
chooses one by URL (`open_store`).
"""

from __future__ import annotations

import hashlib
import logging
import pathlib
import re
from typing import Protocol

from pipeline.sinks import rows as rowlib
from pipeline.sinks.cluster import cluster_statements, ttl_for_cluster
from pipeline.sinks.retention import Retention, ttl_statements
from pipeline.sinks.rollups import ROLLUPS, coalesce, refresh_ranges_statement, refresh_statement, touched

log = logging.getLogger(__name__)
Stale = dict[str, list[tuple[str, int, int]]]  # rollup source -> (asset, start_ms, end_ms) minutes to recompute
_RANGES_PER_STATEMENT = 400  # keeps a refresh statement far below max_query_size

DEFAULT_DATABASE = "cascadewatch"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class StoreError(RuntimeError):
    """The store refused or lost a write, or could not be opened."""


class Store(Protocol):
    url: str
    database: str

    def apply_schema(self, retention: Retention | None = None, cluster: str | None = None) -> list[str]: ...
    def insert_rows(self, table: str, rows: list[dict], *, dedup_token: str | None = None,
                    deduplicate: bool = True) -> int: ...
    def insert_events(self, events: list[dict], stale: Stale | None = None) -> dict[str, int]: ...
    def refresh_rollups(self, stale: Stale) -> None: ...
    def query(self, sql: str) -> tuple[list[str], list[tuple]]: ...
    def close(self) -> None: ...


def schema_dir() -> pathlib.Path:
    return pathlib.Path(__file__).resolve().parents[2] / "schemas" / "clickhouse"


def split_statements(sql: str) -> list[str]:
    """The statements of a DDL file: `--` comments dropped, split on `;` outside quotes."""
    out, buf, quote = [], [], None
    i = 0
    while i < len(sql):
        ch = sql[i]
        if quote:
            buf.append(ch)
            if ch == "\\":
                buf.append(sql[i + 1 : i + 2])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'`\"":
            quote = ch
            buf.append(ch)
        elif sql.startswith("--", i):
            i = sql.find("\n", i)
            if i < 0:
                break
            continue
        elif ch == ";":
            out.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
        i += 1
    out.append("".join(buf).strip())
    return [s for s in out if s]


# Tables whose rows are revised in place: the same key written again with new content (an amended alert, a
# retracted or more confirmed transfer, a revised bar). ReplacingMergeTree keeps the row inserted last, so
# these are never deduplicated on insert: a replay after a crash batches the same rows differently, and
# dropping the part of it that matches an earlier batch (an amendment) while writing the rest (the revision
# before it) would leave the older revision last. Written again whole and in order, the newest stays last;
# the copies collapse under FINAL.
REVISED_IN_PLACE = frozenset({"alerts", "whale_transfers", "trade_flow"})


def dedup_token(rows: list[dict]) -> str:
    """Same rows (in any order) -> same token, so a retried batch is dropped by the server.

    Hashes the whole stored event (`raw`), not only its id, so a revised event (same id, new content)
    in an otherwise identical batch is still written.
    """
    h = hashlib.sha256()
    for raw in sorted(r["raw"] for r in rows):
        h.update(raw.encode())
        h.update(b"\n")
    return h.hexdigest()


def check_identifier(name: str, what: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"invalid {what} name {name!r}: letters, digits and _ only")
    return name


class BaseStore:
    """What both backends share: schema loading, event grouping and {db} substitution."""

    url: str
    database: str
    unstorable = 0  # events left out because no row could hold them (insert_events)

    def _execute(self, statement: str) -> None:
        raise NotImplementedError

    def insert_rows(self, table: str, rows: list[dict], *, dedup_token: str | None = None,
                    deduplicate: bool = True) -> int:
        raise NotImplementedError

    def schema_statements(self, cluster: str | None = None) -> list[tuple[str, list[str]]]:
        """(file name, statements) of every DDL file in order, for one node or rewritten for `cluster`."""
        out = []
        for path in sorted(schema_dir().glob("*.sql")):
            statements = split_statements(path.read_text().replace("{db}", self.database))
            if cluster:
                statements = [c for st in statements for c in cluster_statements(st, check_identifier(cluster, "cluster"))]
            out.append((path.name, statements))
        return out

    def apply_schema(self, retention: Retention | None = None, cluster: str | None = None) -> list[str]:
        """Apply every DDL file in order (ON CLUSTER as Replicated + Distributed tables with `cluster`),
        then set each table's TTL from `retention` (default: the environment) and fill rollups created
        over existing rows. Existing tables and their rows are kept; returns the files applied."""
        applied = []
        for name, statements in self.schema_statements(cluster):
            for statement in statements:
                self._execute(statement)
            applied.append(name)
        suffix = "_local" if cluster else ""
        _, rows = self.query(f"SELECT name, engine_full FROM system.tables WHERE database = '{self.database}'")
        engines = {n[: len(n) - len(suffix)] if suffix else n: e for n, e in rows if n.endswith(suffix)}
        for statement in ttl_statements(self.database, engines, retention or Retention()):
            self._execute(ttl_for_cluster(statement, cluster) if cluster else statement)
        for rollup in ROLLUPS.values():
            # A rollup created over a store that already holds rows (an upgrade) is filled from them.
            if not self._count(rollup.table) and self._count(rollup.source):
                self.refresh_rollup(rollup.source)
        return applied

    def _count(self, table: str) -> int:
        return self.query(f"SELECT count() FROM {self._qualified(table)}")[1][0][0]

    def refresh_rollup(self, source: str, asset: str | None = None, start_ms: int | None = None,
                       end_ms: int | None = None) -> None:
        """Recompute the per-minute rollup of `source` from its deduplicated rows, for whole minutes in
        [start_ms, end_ms) of one asset or all (everything when unbounded)."""
        self._execute(refresh_statement(self.database, source, asset, start_ms, end_ms))

    def insert_events(self, events: list[dict], stale: Stale | None = None) -> dict[str, int]:
        """Store the events (each in its type's table) and recompute the per-minute rollups they touched,
        or, given `stale`, add those minutes to it for a later `refresh_rollups` (several inserts, one
        refresh). Returns the rows written per table."""
        groups: dict[str, list[dict]] = {}
        for event in events:
            try:
                table, row = rowlib.event_row(event)
            except (ValueError, OverflowError, TypeError) as exc:
                # A row no column can take (an ETF date of 2025-02-30): retrying would hold every later row
                # back forever. Left out, logged and counted; the event itself went through the pipeline.
                self.unstorable += 1
                log.error("not stored, no row can hold it: %s (%s %s)", exc, event.get("type"), rowlib.ident(event))
                continue
            groups.setdefault(table, []).append(row)
        written = {table: self.insert_rows(table, rows, dedup_token=dedup_token(rows)) if table not in REVISED_IN_PLACE
                   else self.insert_rows(table, rows, deduplicate=False) for table, rows in groups.items()}
        touched_now: Stale = {table: touched(table, rows) for table, rows in groups.items() if table in ROLLUPS}
        if stale is None:
            self.refresh_rollups(touched_now)
        else:
            for table, ranges in touched_now.items():
                stale.setdefault(table, []).extend(ranges)
        return written

    def refresh_rollups(self, stale: Stale) -> None:
        """Recompute the rollup minutes in `stale`: one statement per table (per few hundred ranges)."""
        for table, ranges in stale.items():
            ranges = coalesce(ranges)
            for i in range(0, len(ranges), _RANGES_PER_STATEMENT):
                self._execute(refresh_ranges_statement(self.database, table, ranges[i:i + _RANGES_PER_STATEMENT]))

    def _qualified(self, table: str) -> str:
        db, _, name = table.rpartition(".")
        return f"{check_identifier(db or self.database, 'database')}.{check_identifier(name, 'table')}"

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError
