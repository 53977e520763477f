"""Every query of the Grafana dashboard runs on the shipped schema and finds the events it should.

Grafana's ClickHouse datasource expands its macros in its backend (grafana/clickhouse-datasource,
pkg/macros); expand_macros below does the same, so the SQL run here is the SQL ClickHouse would get.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from pipeline.contracts import models

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "cascadewatch.json"
DATASOURCE = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "clickhouse.yml"

T0 = dt.datetime(2025, 8, 15, 3, 0, tzinfo=dt.timezone.utc)
T0_MS = int(T0.timestamp() * 1000)
RANGE = (T0 - dt.timedelta(hours=1), T0 + dt.timedelta(hours=1))
EMPTY_RANGE = (T0 - dt.timedelta(days=2), T0 - dt.timedelta(days=1))
INTERVAL_S = 60


def expand_macros(sql: str, start: dt.datetime, end: dt.datetime, interval_s: float) -> str:
    """The datasource's server-side macros, as pkg/macros/macros.go expands them."""
    f_s, t_s = int(start.timestamp()), int(end.timestamp())
    f_ms, t_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    iv_s, iv_ms = max(int(interval_s), 1), max(int(interval_s * 1000), 1)
    with_arg = {
        "timeFilter": lambda c: f"{c} >= toDateTime({f_s}) AND {c} <= toDateTime({t_s})",
        "timeFilter_ms": lambda c: f"{c} >= fromUnixTimestamp64Milli({f_ms}) AND {c} <= fromUnixTimestamp64Milli({t_ms})",
        "timeInterval": lambda c: f"toStartOfInterval(toDateTime({c}), INTERVAL {iv_s} second)",
        "timeInterval_ms": lambda c: f"toStartOfInterval(toDateTime64({c}, 3), INTERVAL {iv_ms} millisecond)",
    }
    plain = {
        "fromTime": f"toDateTime({f_s})", "toTime": f"toDateTime({t_s})",
        "fromTime_ms": f"fromUnixTimestamp64Milli({f_ms})", "toTime_ms": f"fromUnixTimestamp64Milli({t_ms})",
        "interval_s": str(iv_s),
    }
    sql = re.sub(r"\$__(\w+)\(([^()]*)\)",
                 lambda m: with_arg[m.group(1)](m.group(2).strip()) if m.group(1) in with_arg else m.group(0), sql)
    sql = re.sub(r"\$__(\w+)\b(?!\()", lambda m: plain.get(m.group(1), m.group(0)), sql)
    if "$" in sql:
        raise AssertionError(f"unexpanded macro or template variable in:\n{sql}")
    return sql


def test_expand_macros_matches_the_datasource():
    start, end = dt.datetime.fromtimestamp(1000, dt.timezone.utc), dt.datetime.fromtimestamp(2000, dt.timezone.utc)
    sql = "SELECT $__timeInterval(ts), $__interval_s FROM t WHERE $__timeFilter( ts ) AND x < $__toTime OR $__fromTime_ms"
    assert expand_macros(sql, start, end, 0.2) == (
        "SELECT toStartOfInterval(toDateTime(ts), INTERVAL 1 second), 1 FROM t "
        "WHERE ts >= toDateTime(1000) AND ts <= toDateTime(2000) AND x < toDateTime(2000) OR fromUnixTimestamp64Milli(1000000)")
    with pytest.raises(AssertionError):
        expand_macros("SELECT $__conditionalAll(a = 1, $asset)", start, end, 60)


def _targets() -> list[tuple[str, dict]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target) for panel in dashboard["panels"] for target in panel.get("targets", [])]


def _dump(model) -> dict:
    return model.model_dump(mode="json")


def _events() -> list[dict]:
    """A small cascade: inflows (one retracted, one outflow), selling bars, long and short liquidations,
    an alert and a dead-lettered message, all in the minutes after T0."""
    minute = 60_000
    transfers = [
        models.WhaleTransfer(event_id=f"bitcoin:{tx}:0", chain="bitcoin", asset="BTC", amount=2400.0,
                             usd_value=usd, from_address="bc1qfrom", to_address="bc1qto", to_entity="binance",
                             direction=direction, tx_hash=tx, block_time=T0_MS, confirmations=2,
                             observed_ts=T0_MS + 5_000, retracted=retracted)
        for tx, usd, direction, retracted in [("aa", 2.7e8, "exchange_inflow", False),
                                              ("bb", 1.0e8, "exchange_inflow", True),
                                              ("cc", 5.0e7, "exchange_outflow", False)]
    ]
    bars = [models.TradeFlow(venue="bybit", symbol="BTCUSDT", asset="BTC", ts=T0_MS + i * 10_000, interval_ms=10_000,
                             buy_volume_usd=1e6, sell_volume_usd=4e6, open=115_000.0, high=115_100.0, low=114_000.0,
                             close=114_200.0, trade_count=50) for i in range(12)]
    liquidations = [models.Liquidation(event_id=f"liq-{i}", venue="binance-usdm", symbol="BTCUSDT", asset="BTC",
                                       side=side, price=112_000.0, quantity=10.0, notional_usd=1.12e6,
                                       ts=T0_MS + 20 * minute + i * 1_000, received_ts=T0_MS + 20 * minute + i * 1_000 + 200,
                                       completeness="full")
                    for i, side in enumerate(["long", "long", "long", "short"])]
    alert = models.Alert(alert_id="BTC:bitcoin:aa:0", asset="BTC", stage="cascade", reached="cascade",
                         ts=T0_MS + 21 * minute, severity="critical",
                         deposit=models.DepositEvidence(event_id="bitcoin:aa:0", usd_value=2.7e8, to_entity="binance",
                                                        amount=2400.0, ts=T0_MS),
                         sell={"net_sell_usd": 3.6e7, "venue": "bybit"},
                         cascade={"long_notional_usd": 3.36e6, "short_notional_usd": 1.12e6, "long_share": 0.75})
    dead = models.DeadLetter(reason="malformed_json", error="unexpected character", source_topic="exchange.liquidations",
                             partition=0, offset=7, original_b64="e25vdCBqc29u", original_size=9, received_ts=T0_MS)
    etf = [models.EtfFlow(event_id=f"etf:BTC:{fund}:{date}:{pub}", date=date, fund=fund, asset="BTC", net_flow_usd=usd,
                          published_ts=pub, source="test")
           for date, fund, usd, pub in [("2025-08-13", "IBIT", -2e8, T0_MS - 50 * minute),
                                        ("2025-08-14", "IBIT", -1e8, T0_MS - 40 * minute),
                                        ("2025-08-14", "FBTC", -5e7, T0_MS - 40 * minute)]]
    return [_dump(m) for m in [*transfers, *bars, *liquidations, alert, dead, *etf]]


@pytest.fixture(scope="module")
def store(deploy_store):
    written = deploy_store.insert_events(_events())
    assert set(written) == {"whale_transfers", "trade_flow", "liquidations", "alerts", "deadletter", "etf_flows"}
    return deploy_store


def test_dashboard_targets_use_the_provisioned_clickhouse_datasource():
    uid = re.search(r"^\s*uid:\s*(\S+)", DATASOURCE.read_text(), re.M).group(1)
    targets = _targets()
    assert len(targets) >= 5
    for title, target in targets:
        assert target["datasource"] == {"type": "grafana-clickhouse-datasource", "uid": uid}, title
        assert target["editorType"] == "sql" and target["rawSql"].strip(), title


@pytest.mark.parametrize("title,target", _targets(), ids=[t for t, _ in _targets()])
def test_panel_query_runs_and_finds_the_events(store, title, target):
    names, rows = store.query(expand_macros(target["rawSql"], *RANGE, INTERVAL_S))
    assert rows, f"{title}: no rows"
    if target.get("queryType") == "timeSeries":
        assert names[0] == "time", f"{title}: a time series query must return its time column first"
        assert [r[0] for r in rows] == sorted(r[0] for r in rows), f"{title}: not ordered by time"
    _, outside = store.query(expand_macros(target["rawSql"], *EMPTY_RANGE, INTERVAL_S))
    assert outside == [], f"{title}: rows outside the dashboard time range"


def _panel_rows(store, title_part: str) -> tuple[list[str], list[tuple]]:
    (target,) = [t for title, t in _targets() if title_part in title]
    return store.query(expand_macros(target["rawSql"], *RANGE, INTERVAL_S))


def test_panel_values(store):
    names, rows = _panel_rows(store, "long vs short")
    (row,) = [dict(zip(names, r)) for r in rows]
    assert (row["asset"], row["long_usd"], row["short_usd"]) == ("BTC", pytest.approx(3.36e6), pytest.approx(-1.12e6))

    names, rows = _panel_rows(store, "net sell flow")
    assert [dict(zip(names, r))["net_sell_usd"] for r in rows] == [pytest.approx(6 * 3e6)] * 2  # 12 bars of 10 s

    names, rows = _panel_rows(store, "inflows")
    assert [dict(zip(names, r))["tx_hash"] for r in rows] == ["aa"]  # not the retracted one, not the outflow

    names, rows = _panel_rows(store, "alerts")
    (alert,) = [dict(zip(names, r)) for r in rows]
    assert (alert["stage"], alert["exchange"], alert["long_liquidated_usd"]) == ("cascade", "binance", 3.36e6)

    names, rows = _panel_rows(store, "Dead-letter")
    assert [(r[1], r[2]) for r in rows] == [("malformed_json", 1)]

    names, rows = _panel_rows(store, "ETF daily")
    assert [(r[0].date().isoformat(), r[1], r[2]) for r in rows] == [("2025-08-13", "BTC", -2e8), ("2025-08-14", "BTC", -1.5e8)]

    names, rows = _panel_rows(store, "ETF streak")
    (etf,) = [dict(zip(names, r)) for r in rows]
    assert (etf["asset"], etf["outflow_streak_days"], etf["inflow_streak_days"], etf["sum_5d_usd"], etf["last_day_usd"]) == (
        "BTC", 2, 0, -3.5e8, -1.5e8)
