"""Public API of the ClickHouse sink: open_store(url) gives a Store on embedded chDB or on a ClickHouse server."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from pipeline.sinks.base import (  # noqa: F401 - the sink's public names
    DEFAULT_DATABASE,
    BaseStore,
    Store,
    StoreError,
    check_identifier,
    dedup_token,
    schema_dir,
    split_statements,
)


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
