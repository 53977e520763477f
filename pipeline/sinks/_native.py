"""Store on a ClickHouse server over the native protocol (clickhouse-driver)."""

from __future__ import annotations

import threading

from clickhouse_driver import Client, errors

from pipeline.sinks.base import BaseStore, StoreError

_UNKNOWN_DATABASE = 81


def _message(exc: Exception) -> str:
    """The server's message without the stack trace older servers append."""
    text = exc.message if isinstance(exc, errors.ServerException) else str(exc)
    return text.split("Stack trace", 1)[0].strip().rstrip(".") or type(exc).__name__


from pipeline.redact import redact_url  # noqa: E402


class NativeStore(BaseStore):
    def __init__(self, url: str, *, host: str, port: int, user: str, password: str, database: str):
        self.url = redact_url(url)  # shown in errors and logs: no password
        self.database = database
        conn = dict(host=host, port=port, user=user, password=password, connect_timeout=10, send_receive_timeout=300)
        self._client = Client(database=database, **conn)
        # Used until `database` exists (before apply_schema), since the connection itself names it.
        self._fallback = Client(database="default", **conn)
        self._lock = threading.Lock()
        self._known_settings: set[str] | None = None
        self._closed = False

    def _run(self, sql: str, *args, **kwargs):
        if self._closed:
            raise StoreError(f"store {self.url} is closed")
        with self._lock:
            try:
                return self._client.execute(sql, *args, **kwargs)
            except errors.ServerException as exc:
                if exc.code != _UNKNOWN_DATABASE or self._database_exists():
                    raise
                return self._fallback.execute(sql, *args, **kwargs)

    def _database_exists(self) -> bool:
        return bool(self._fallback.execute("SELECT count() FROM system.databases WHERE name = %(db)s", {"db": self.database})[0][0])

    def server_version(self) -> str:
        return self._run("SELECT version()")[0][0]

    def _insert_settings(self, dedup_token: str | None, deduplicate: bool = True) -> dict:
        # Settings are checked by name rather than by version: 18.16 knows neither of the first two, and
        # clickhouse-driver silently drops settings an old server does not know.
        if self._known_settings is None:
            names = self._run("SELECT name FROM system.settings WHERE name IN ('async_insert', "
                              "'insert_deduplication_token', 'insert_deduplicate', 'insert_distributed_sync')")
            self._known_settings = {name for (name,) in names}
        settings = {}
        if "async_insert" in self._known_settings:
            settings["async_insert"] = 0
        if dedup_token is not None and "insert_deduplication_token" in self._known_settings:
            settings["insert_deduplication_token"] = dedup_token
        if not deduplicate and "insert_deduplicate" in self._known_settings:
            settings["insert_deduplicate"] = 0
        if "insert_distributed_sync" in self._known_settings:
            # On a cluster (Distributed tables) the insert returns once the shards have the rows, not once
            # they are queued: the rollup refresh right after it, and the acknowledgement, must see them.
            settings["insert_distributed_sync"] = 1
        return settings

    def _execute(self, statement: str) -> None:
        try:
            self._run(statement)
        except errors.Error as exc:
            raise StoreError(f"ClickHouse {self.url}: {_message(exc)}\nin: {statement[:300]}") from exc

    def insert_rows(self, table: str, rows: list[dict], *, dedup_token: str | None = None,
                    deduplicate: bool = True) -> int:
        if not rows:
            return 0
        target = self._qualified(table)
        cols = list(rows[0])
        try:
            data = [tuple(row[c] for c in cols) for row in rows]
        except KeyError as exc:
            raise StoreError(f"insert into {target}: a row lacks column {exc} (columns are the keys of rows[0])") from None
        names = ", ".join(f"`{c}`" for c in cols)
        try:
            written = self._run(f"INSERT INTO {target} ({names}) VALUES", data, settings=self._insert_settings(dedup_token, deduplicate))
        except errors.Error as exc:
            raise StoreError(f"insert of {len(rows)} rows into {target} failed: {_message(exc)}") from exc
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise StoreError(f"insert of {len(rows)} rows into {target} failed: a value does not fit its column: {exc}") from exc
        if written != len(rows):
            raise StoreError(f"insert into {target} wrote {written} rows of {len(rows)}")
        return written

    def query(self, sql: str) -> tuple[list[str], list[tuple]]:
        try:
            data, types = self._run(sql.replace("{db}", self.database), with_column_types=True)
        except errors.Error as exc:
            raise StoreError(f"ClickHouse {self.url}: {_message(exc)}") from exc
        return [name for name, _ in types], [tuple(r) for r in data]

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._client.disconnect()
            self._fallback.disconnect()
