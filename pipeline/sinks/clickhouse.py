"""Public API of the ClickHouse sink: open_store(url) gives a Store on embedded chDB or on a ClickHouse server."""

from __future__ import annotations

import hashlib
import pathlib
import re
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from pipeline.sinks import rows as rowlib

DEFAULT_DATABASE = "cascadewatch"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class StoreError(RuntimeError):
    """The store refused or lost a write, or could not be opened."""


class Store(Protocol):
    url: str
    database: str

    def apply_schema(self) -> list[str]: ...
    def insert_rows(self, table: str, rows: list[dict], *, dedup_token: str | None = None) -> int: ...
    def insert_events(self, events: list[dict]) -> dict[str, int]: ...
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

    def _execute(self, statement: str) -> None:
        raise NotImplementedError

    def insert_rows(self, table: str, rows: list[dict], *, dedup_token: str | None = None) -> int:
        raise NotImplementedError

    def apply_schema(self) -> list[str]:
        applied = []
        for path in sorted(schema_dir().glob("*.sql")):
            for statement in split_statements(path.read_text().replace("{db}", self.database)):
                self._execute(statement)
            applied.append(path.name)
        return applied

    def insert_events(self, events: list[dict]) -> dict[str, int]:
        groups: dict[str, list[dict]] = {}
        for event in events:
            table, row = rowlib.event_row(event)
            groups.setdefault(table, []).append(row)
        return {table: self.insert_rows(table, rows, dedup_token=dedup_token(rows)) for table, rows in groups.items()}

    def _qualified(self, table: str) -> str:
        db, _, name = table.rpartition(".")
        return f"{check_identifier(db or self.database, 'database')}.{check_identifier(name, 'table')}"

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError


def open_store(url: str) -> Store:
    """chdb://PATH[?database=NAME] (embedded) or clickhouse://user:pass@host:port/db (native protocol)."""
    from pipeline.redact import redact_url

    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"ClickHouse URL {redact_url(url)!r} has no scheme; use chdb://PATH or clickhouse://user:pass@host:9000/db")
    if scheme == "chdb":
        from pipeline.sinks._chdb import ChdbStore

        path, _, qs = rest.partition("?")
        if not path:
            raise ValueError(f"ClickHouse URL {redact_url(url)!r} has no path; e.g. chdb://./var/chdb or chdb:///tmp/chdb")
        database = parse_qs(qs).get("database", [DEFAULT_DATABASE])[0]
        return ChdbStore(url, unquote(path), check_identifier(database, "database"))
    if scheme == "clickhouse":
        from pipeline.sinks._native import NativeStore

        parts = urlsplit(url)
        database = parts.path.strip("/") or DEFAULT_DATABASE
        return NativeStore(
            url, host=parts.hostname or "localhost", port=parts.port or 9000,
            user=unquote(parts.username or "default"), password=unquote(parts.password or ""),
            database=check_identifier(database, "database"),
        )
    raise ValueError(f"unknown ClickHouse URL scheme {scheme!r} in {redact_url(url)!r}; use chdb://PATH or clickhouse://user:pass@host:9000/db")
