"""Turn contract-shaped event dicts into rows of the ClickHouse tables in schemas/clickhouse/."""

from __future__ import annotations

import datetime as dt

import orjson

from pipeline.contracts.registry import TABLES

TABLE_FOR_TYPE: dict[str, str] = TABLES  # event type -> table, from the registry

# Insertable columns of each table, in DDL order (inserted_at is filled by the server).
COLUMNS: dict[str, tuple[str, ...]] = {
    "feed_health": (
        "event_id", "venue", "status", "ts", "detail", "messages_per_s", "liquidations_per_s", "trades_per_s",
        "errors", "reconnects", "gap_ms", "window_s", "schema_version", "raw",
    ),
    "whale_transfers": (
        "event_id", "chain", "asset", "token", "amount", "usd_value", "from_address", "to_address", "from_entity",
        "to_entity", "direction", "tx_hash", "block_number", "block_time", "confirmations", "observed_ts",
        "retracted", "schema_version", "raw",
    ),
    "liquidations": (
        "event_id", "venue", "symbol", "asset", "side", "price", "quantity", "notional_usd", "ts", "received_ts",
        "completeness", "schema_version", "raw",
    ),
    "trade_flow": (
        "venue", "symbol", "asset", "ts", "interval_ms", "buy_volume_usd", "sell_volume_usd", "open", "high", "low",
        "close", "trade_count", "schema_version", "raw",
    ),
    "trades": (
        "event_id", "venue", "symbol", "asset", "ts", "price", "quantity", "notional_usd", "taker_side", "trade_id",
        "received_ts", "schema_version", "raw",
    ),
    "leverage": (
        "event_id", "venue", "symbol", "asset", "ts", "open_interest", "open_interest_usd", "funding_rate",
        "funding_interval_ms", "next_funding_ts", "mark_price", "source", "received_ts", "schema_version", "raw",
    ),
    "etf_flows": ("event_id", "date", "fund", "asset", "net_flow_usd", "published_ts", "source", "schema_version", "raw"),
    "alerts": (
        "alert_id", "kind", "asset", "stage", "reached", "ts", "deposit", "sell", "cascade", "etf_context", "severity",
        "schema_version", "revision", "amended", "evidence", "linked_to", "raw",
    ),
    "deadletter": (
        "reason", "error", "source_topic", "partition", "offset", "key_b64", "original_b64", "original_size",
        "received_ts", "schema_version", "raw",
    ),
}

MS_COLUMNS = frozenset({"block_time", "observed_ts", "ts", "received_ts", "published_ts", "next_funding_ts"})
# Integer columns: the contracts take 1000.0 for 1000 (JSON Schema counts it an integer), a column does not.
INT_COLUMNS = frozenset({"interval_ms", "trade_count", "schema_version", "confirmations", "block_number", "revision",
                         "partition", "offset", "original_size", "errors", "reconnects", "gap_ms",
                         "funding_interval_ms"})
JSON_COLUMNS = frozenset({"deposit", "sell", "cascade", "etf_context", "evidence", "linked_to"})
NULLABLE = frozenset({"token", "from_entity", "to_entity", "block_number", "reached", "sell", "cascade", "etf_context", "key_b64",
                      "evidence", "linked_to", "trade_id", "open_interest", "open_interest_usd", "funding_rate",
                      "funding_interval_ms", "next_funding_ts", "mark_price"})
DEFAULTS: dict[str, object] = {
    "retracted": False, "schema_version": 1, "kind": "whale_cascade", "partition": -1, "offset": -1,
    "deposit": "null",  # liquidation and contagion cascades have no whale deposit
    "revision": 0, "amended": False,
}

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def ms_to_datetime(ms: int | float) -> dt.datetime:
    """Milliseconds since the epoch as an aware UTC datetime (exact, no float rounding for ints)."""
    return _EPOCH + dt.timedelta(milliseconds=ms)


def _json(value) -> str:
    return orjson.dumps(value).decode()


def _converter(col: str):
    if col in MS_COLUMNS:
        return ms_to_datetime
    if col in JSON_COLUMNS:
        return _json
    if col == "date":
        return dt.date.fromisoformat
    if col in INT_COLUMNS:
        return int
    return None


# Per table, each insertable column but `raw` with its conversion (None: stored as it is), worked out once:
# event_row runs for every stored event.
_PLANS: dict[str, tuple[tuple[str, object], ...]] = {
    table: tuple((col, _converter(col)) for col in cols[:-1]) for table, cols in COLUMNS.items()
}


def event_row(event: dict) -> tuple[str, dict]:
    """(table, row) for one event; raises ValueError for an unknown type or a missing required field."""
    kind = event.get("type")
    table = TABLE_FOR_TYPE.get(kind) if isinstance(kind, str) else None
    if table is None:
        raise ValueError(f"cannot store event of type {kind!r}; known: {', '.join(TABLE_FOR_TYPE)}")
    row: dict = {}
    get = event.get
    for col, convert in _PLANS[table]:
        value = get(col)
        if value is None:
            if col in DEFAULTS:
                value = DEFAULTS[col]
            elif col not in NULLABLE:
                raise ValueError(f"{kind} event {ident(event)} has no {col!r}")
        elif convert is not None:
            value = convert(value)
        row[col] = value
    row["raw"] = orjson.dumps(event).decode()
    return table, row


def ident(event: dict) -> str:
    for key in ("event_id", "alert_id"):
        if event.get(key):
            return repr(event[key])
    return "(no id)"
