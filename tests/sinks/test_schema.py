"""Schema upgrades and retention: `apply_schema` over tables of the previous layout keeps every row,
brings TTLs in line with the configuration, and the views answer on the upgraded tables."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import orjson
import pytest

from pipeline.contracts.interchange import read_events
from pipeline.contracts.models import dump_event
from pipeline.replay import replay_files
from pipeline.scenarios import bundled
from pipeline.sinks.clickhouse import split_statements
from pipeline.sinks.rows import event_row
from pipeline.sinks.retention import Retention, current_ttl

ROOT = Path(__file__).resolve().parents[2]
TABLES = ["whale_transfers", "liquidations", "trade_flow", "etf_flows", "alerts"]


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def previous_layout() -> str:
    """The tree just before the commit that gave the liquidations table codecs (and brought rollups)."""
    for commit in git("log", "--reverse", "--format=%H", "--", "schemas/clickhouse/020_liquidations.sql").split():
        if "CODEC" in git("show", f"{commit}:schemas/clickhouse/020_liquidations.sql"):
            return f"{commit}^"
    raise AssertionError("no commit introducing the current layout in the git history")


def previous_ddl() -> list[str]:
    commit = previous_layout()
    names = git("ls-tree", "--name-only", f"{commit}:schemas/clickhouse").split()
    assert "020_liquidations.sql" in names and "105_liquidations_1m_rollup.sql" not in names
    return [git("show", f"{commit}:schemas/clickhouse/{n}") for n in sorted(names) if n.endswith(".sql")]


def scenario_events() -> list[dict]:
    path = bundled("aug2025")
    events = [orjson.loads(dump_event(e)) for e in read_events(path) if hasattr(e, "type")]
    latest = {(a.alert_id, a.stage): a for a in replay_files([path]).alerts}  # one row per stage: its latest revision
    return events + [orjson.loads(dump_event(a)) for a in latest.values()]


def counts(store) -> dict[str, int]:
    return {t: store.query(f"SELECT count() FROM {{db}}.{t}")[1][0][0] for t in TABLES}


def engine(store, table: str) -> str:
    return store.query(f"SELECT engine_full FROM system.tables WHERE database = '{store.database}' AND name = '{table}'")[1][0][0]


def test_apply_over_the_previous_layout_keeps_every_row(fresh_store):
    for ddl in previous_ddl():
        for statement in split_statements(ddl.replace("{db}", fresh_store.database)):
            fresh_store._execute(statement)
    events = [e for e in scenario_events() if e["type"] != "leverage"]  # the previous layout had no leverage table
    groups: dict[str, list[dict]] = {}
    old_columns = {t: {name for name, *_ in fresh_store.query(f"DESCRIBE TABLE {{db}}.{t}")[1]} for t in TABLES}
    for event in events:  # as the previous version wrote them: rows only, no rollups, its columns only
        table, row = event_row(event)
        groups.setdefault(table, []).append({k: v for k, v in row.items() if k in old_columns[table]})
    written = {table: fresh_store.insert_rows(table, rows) for table, rows in groups.items()}
    before = counts(fresh_store)
    assert before == {t: written[t] for t in TABLES} and before["liquidations"] > 10_000

    fresh_store.apply_schema(Retention(trade_flow_days=3650, liquidations_days=3650))
    assert counts(fresh_store) == before
    # Columns added since (011_whale_transfers_token.sql) are there, empty on the old rows.
    _, ((tokens,),) = fresh_store.query("SELECT countIf(token IS NOT NULL) FROM {db}.whale_transfers")
    assert tokens == 0
    assert current_ttl(engine(fresh_store, "trade_flow")) == "toDateTime(ts) + toIntervalDay(3650)"
    assert current_ttl(engine(fresh_store, "alerts")) is None
    assert current_ttl(engine(fresh_store, "trade_flow_1m_rollup")) == "toDateTime(minute) + toIntervalDay(3650)"
    # The new rollups were filled from the rows already there.
    _, ((n, usd),) = fresh_store.query("SELECT sum(liquidations), sum(notional_usd_sum) FROM {db}.liquidations_1m")
    liquidations = [e for e in events if e["type"] == "liquidation"]
    assert (n, usd) == (len(liquidations), pytest.approx(sum(e["notional_usd"] for e in liquidations)))
    _, ((bars_buy,),) = fresh_store.query("SELECT sum(buy_usd) FROM {db}.trade_flow_1m")
    assert bars_buy == pytest.approx(sum(e["buy_volume_usd"] for e in events if e["type"] == "trade_flow"))
    _, rows = fresh_store.query("SELECT stage, exchange, sampled_venues FROM {db}.alert_stages "
                                "WHERE asset = 'BTC' AND stage = 'cascade'")
    assert rows == [("cascade", "binance", ["binance-usdm"])]
    inflows = [e for e in events if e["type"] == "whale_transfer" and e["direction"] == "exchange_inflow"
               and not e.get("retracted") and e["asset"] == "BTC" and e["to_entity"] == "binance"]
    _, rows = fresh_store.query("SELECT exchange, deposits, inflow_usd, largest_usd FROM {db}.whale_inflows_1d "
                                "WHERE asset = 'BTC' ORDER BY inflow_usd DESC LIMIT 1")
    assert rows == [("binance", len(inflows), pytest.approx(sum(e["usd_value"] for e in inflows)), 2_755_200_000.0)]


def test_retention_follows_the_configuration_on_every_apply(store, monkeypatch):
    assert current_ttl(engine(store, "liquidations")) is None
    monkeypatch.setenv("CASCADEWATCH_RETENTION__LIQUIDATIONS_DAYS", "90")
    monkeypatch.setenv("CASCADEWATCH_RETENTION__FEED_HEALTH_DAYS", "14")
    store.apply_schema()
    assert current_ttl(engine(store, "liquidations")) == "toDateTime(ts) + toIntervalDay(90)"
    assert current_ttl(engine(store, "feed_health")) == "toDateTime(ts) + toIntervalDay(14)"
    monkeypatch.setenv("CASCADEWATCH_RETENTION__LIQUIDATIONS_DAYS", "0")
    store.apply_schema()
    assert current_ttl(engine(store, "liquidations")) is None
    assert current_ttl(engine(store, "feed_health")) == "toDateTime(ts) + toIntervalDay(14)"


def test_expired_rows_go_and_recent_ones_stay(store, ev):
    day = 86_400_000
    now_ms = int(time.time() * 1000)  # TTL counts from the server's clock, not an injectable one
    old, recent = ev.liquidation("old", ts=now_ms - 300 * day), ev.liquidation("recent", ts=now_ms - day)
    store.insert_events([old, recent])
    store.apply_schema(Retention(liquidations_days=200))
    store._execute(f"OPTIMIZE TABLE {store.database}.liquidations FINAL")
    _, rows = store.query("SELECT event_id FROM {db}.liquidations")
    assert rows == [("recent",)]


def test_bad_retention_is_refused():
    with pytest.raises(ValueError):
        Retention(trades_days=-1)
    with pytest.raises(ValueError):  # would wrap past 2106 and expire every row
        Retention(trades_days=36_500)
