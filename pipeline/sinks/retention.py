"""How long each table keeps its rows (ClickHouse TTL), from CASCADEWATCH_RETENTION__<TABLE>_DAYS.

0 days (the default) keeps rows forever. `schema apply` brings every table's TTL in line with this
configuration: it sets, changes or removes the TTL, so a changed setting takes effect on the next
apply. Monthly partitions let ClickHouse drop whole expired parts instead of rewriting them.
"""

from __future__ import annotations

import re

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# TTL expressions are DateTime (32-bit, ends in 2106): a longer retention would wrap into the past and
# expire everything at once, so it is refused.
MAX_DAYS = 10_000

# The event-time column each table's retention counts from.
TTL_COLUMN: dict[str, str] = {
    "whale_transfers": "block_time",
    "liquidations": "ts",
    "trade_flow": "ts",
    "trades": "ts",
    "alerts": "ts",
    "deadletter": "received_ts",
    "feed_health": "ts",
    "leverage": "ts",
    "liquidations_1m_rollup": "minute",
    "trade_flow_1m_rollup": "minute",
}
# A rollup keeps its minutes as long as its source keeps the rows they were computed from.
RETENTION_OF = {"liquidations_1m_rollup": "liquidations", "trade_flow_1m_rollup": "trade_flow"}


class Retention(BaseSettings):
    """Days of event time each table keeps; 0 = forever."""

    model_config = SettingsConfigDict(env_prefix="CASCADEWATCH_RETENTION__", extra="ignore")

    whale_transfers_days: int = Field(0, ge=0, le=MAX_DAYS)
    liquidations_days: int = Field(0, ge=0, le=MAX_DAYS)
    trade_flow_days: int = Field(0, ge=0, le=MAX_DAYS, description="1-second bars: the largest table after raw trades")
    trades_days: int = Field(0, ge=0, le=MAX_DAYS, description="raw trades (feed --raw-trades)")
    alerts_days: int = Field(0, ge=0, le=MAX_DAYS)
    deadletter_days: int = Field(0, ge=0, le=MAX_DAYS)
    feed_health_days: int = Field(0, ge=0, le=MAX_DAYS)
    leverage_days: int = Field(0, ge=0, le=MAX_DAYS, description="open interest and funding")

    def days(self, table: str) -> int:
        return getattr(self, f"{RETENTION_OF.get(table, table)}_days")


def ttl_expression(table: str, days: int) -> str:
    return f"toDateTime({TTL_COLUMN[table]}) + toIntervalDay({days})"


def current_ttl(engine_full: str) -> str | None:
    """The table TTL expression in system.tables.engine_full, or None."""
    match = re.search(r"\sTTL\s+(.*?)(?:\s+SETTINGS\s|$)", engine_full)
    return match.group(1).strip() if match else None


def ttl_statements(database: str, engine_full: dict[str, str], retention: Retention) -> list[str]:
    """The ALTERs that make each existing table's TTL match `retention` (none when it already does)."""
    out = []
    for table in TTL_COLUMN:
        if table not in engine_full:
            continue
        days, now = retention.days(table), current_ttl(engine_full[table])
        if days and now != ttl_expression(table, days):
            out.append(f"ALTER TABLE {database}.{table} MODIFY TTL {ttl_expression(table, days)}")
        elif not days and now is not None:
            out.append(f"ALTER TABLE {database}.{table} REMOVE TTL")
    return out
