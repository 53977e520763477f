"""Per-minute rollups kept exact under redelivery: recomputed from deduplicated rows on every write.

A materialized view would add a redelivered liquidation to its minute twice (ReplacingMergeTree
drops the duplicate only when parts merge, long after the view has summed it). Instead, after each
batch the store recomputes every minute the batch touched, per asset, from `source FINAL`, and
writes the whole minute again into a ReplacingMergeTree keyed by the minute's group with the
refresh time as version: the latest recomputation wins, so a minute is right however often its
events arrive. The views liquidations_1m and trade_flow_1m read these tables with FINAL: tens of
rows per market and minute-range instead of one per event or second, which keeps dashboards fast
over months (bench/analytics.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

MINUTE_MS = 60_000


@dataclass(frozen=True)
class Rollup:
    source: str
    table: str
    columns: str  # the rollup table's columns, in insert order
    select: str  # aggregates over the source, same order, without the version column
    group_by: str


ROLLUPS: dict[str, Rollup] = {
    "liquidations": Rollup(
        source="liquidations",
        table="liquidations_1m_rollup",
        columns="minute, asset, venue, side, liquidations, notional_usd_sum, quantity_sum, price_min, price_max, sampled",
        select="toStartOfMinute(ts) AS minute, asset, venue, side, count(), sum(notional_usd), sum(quantity), "
               "min(price), max(price), countIf(completeness != 'full')",
        group_by="minute, asset, venue, side",
    ),
    "trade_flow": Rollup(
        source="trade_flow",
        table="trade_flow_1m_rollup",
        columns="minute, asset, venue, buy_usd, sell_usd, open_price, high_price, low_price, close_price, trades, "
                "symbols, covered_s",
        select="toStartOfMinute(ts) AS minute, asset, venue, sum(buy_volume_usd), sum(sell_volume_usd), "
               "argMin(open, ts), max(high), min(low), argMax(close, ts), sum(trade_count), "
               "uniqExact(symbol), sum(interval_ms) / 1000",
        group_by="minute, asset, venue",
    ),
}


def _ts(ms: int) -> str:
    return f"fromUnixTimestamp64Milli({int(ms)}, 'UTC')"


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _range(asset: str | None, start_ms: int | None, end_ms: int | None) -> list[str]:
    where = []
    if asset is not None:
        where.append(f"asset = {_quote(asset)}")
    if start_ms is not None:
        where.append(f"ts >= {_ts(start_ms // MINUTE_MS * MINUTE_MS)}")
    if end_ms is not None:
        where.append(f"ts < {_ts(-(-end_ms // MINUTE_MS) * MINUTE_MS)}")
    return where


def _statement(database: str, source: str, where: str) -> str:
    r = ROLLUPS[source]
    return (f"INSERT INTO {database}.{r.table} ({r.columns}, refreshed_at) "
            f"SELECT {r.select}, now64(3) FROM {database}.{r.source} FINAL "
            f"{'WHERE ' + where if where else ''} GROUP BY {r.group_by} SETTINGS async_insert = 0")


def refresh_statement(database: str, source: str, asset: str | None = None, start_ms: int | None = None,
                      end_ms: int | None = None) -> str:
    """INSERT ... SELECT recomputing the rollup of `source` for whole minutes in [start_ms, end_ms)
    (all of it when unbounded), for one asset or all."""
    return _statement(database, source, " AND ".join(_range(asset, start_ms, end_ms)))


def refresh_ranges_statement(database: str, source: str, ranges: list[tuple[str, int, int]]) -> str:
    """One INSERT ... SELECT recomputing every (asset, start_ms, end_ms) range of `source` (whole minutes):
    a statement per batch and table instead of one per asset and run of minutes, each of which costs
    tens of milliseconds however few rows it reads."""
    return _statement(database, source, " OR ".join(f"({' AND '.join(_range(*r))})" for r in ranges))


def coalesce(ranges: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """The same minutes as few (asset, start_ms, end_ms) ranges: overlapping or adjacent ones merged."""
    out: list[tuple[str, int, int]] = []
    for asset, start, end in sorted(ranges):
        if out and out[-1][0] == asset and start <= out[-1][2]:
            out[-1] = (asset, out[-1][1], max(out[-1][2], end))
        else:
            out.append((asset, start, end))
    return out


def _ms(value) -> int:
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    return int(value)


def touched(source: str, rows: list[dict]) -> list[tuple[str, int, int]]:
    """(asset, start_ms, end_ms) runs of consecutive minutes that `rows` of `source` fall in."""
    if source not in ROLLUPS:
        return []
    minutes: dict[str, set[int]] = {}
    for row in rows:
        minutes.setdefault(row["asset"], set()).add(_ms(row["ts"]) // MINUTE_MS)
    runs = []
    for asset, ms in sorted(minutes.items()):
        ordered = sorted(ms)
        start = prev = ordered[0]
        for m in ordered[1:]:
            if m != prev + 1:
                runs.append((asset, start * MINUTE_MS, (prev + 1) * MINUTE_MS))
                start = m
            prev = m
        runs.append((asset, start * MINUTE_MS, (prev + 1) * MINUTE_MS))
    return runs
