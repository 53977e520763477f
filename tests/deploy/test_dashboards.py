"""Every query of every Grafana dashboard (panels, annotations, variables) runs on the shipped schema
over the replayed aug2025 scenario, with the datasource's macros and the template variables
expanded as Grafana does (tests/deploy/grafana_macros.py): it must not error, must find rows in the
scenario's range, none outside it, and the figures it shows must be the scenario's."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from tests.deploy.grafana_macros import ALL, dashboard_queries, expand_macros, expand_variables, panel_sql

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
DATASOURCE = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "clickhouse.yml"
UTC = dt.timezone.utc

# The ETF history starts ten days before the crash (2025-08-24 21:00 UTC): one range holds it all.
RANGE = (dt.datetime(2025, 8, 14, tzinfo=UTC), dt.datetime(2025, 8, 25, tzinfo=UTC))
CRASH = (dt.datetime(2025, 8, 24, 21, tzinfo=UTC), dt.datetime(2025, 8, 24, 22, tzinfo=UTC))
EMPTY_RANGE = (dt.datetime(2025, 7, 1, tzinfo=UTC), dt.datetime(2025, 7, 2, tzinfo=UTC))
INTERVAL_S = 60
EVERYTHING = {"asset": [ALL], "venue": [ALL]}
ONE_MARKET = {"asset": ["BTC"], "venue": ["okx"]}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def all_queries() -> list[tuple[str, str, dict]]:
    return [(p.stem, title, target) for p in DASHBOARDS for title, target in dashboard_queries(load(p))]


QUERIES = all_queries()


@pytest.fixture(scope="module")
def store(scenario):
    return scenario[0]


@pytest.fixture(scope="module")
def options(store) -> dict[str, list[str]]:
    """What All stands for: the values the variables' own queries offer."""
    return {"asset": [r[0] for r in store.query("SELECT DISTINCT asset FROM liquidations ORDER BY asset")[1]],
            "venue": [r[0] for r in store.query("SELECT DISTINCT venue FROM liquidations ORDER BY venue")[1]]}


def rows_of(store, target, rng, variables, options, interval_s=INTERVAL_S) -> list[dict]:
    names, rows = store.query(panel_sql(target["rawSql"], *rng, interval_s, variables, options))
    return [dict(zip(names, r)) for r in rows]


def test_the_five_dashboards_and_their_variables():
    titles = {load(p)["title"] for p in DASHBOARDS}
    assert titles == {"cascadewatch: market overview", "cascadewatch: whale flows", "cascadewatch: spot ETF flows",
                      "cascadewatch: alerts", "cascadewatch: feed health"}
    uids = [load(p)["uid"] for p in DASHBOARDS]
    assert len(set(uids)) == len(uids)
    market = load(ROOT / "deploy/grafana/dashboards/market_overview.json")
    assert [v["name"] for v in market["templating"]["list"]] == ["asset", "venue"]
    alerts = load(ROOT / "deploy/grafana/dashboards/alerts.json")
    assert any("alert_stages" in a.get("target", {}).get("rawSql", "") for a in alerts["annotations"]["list"])


def test_every_target_uses_the_provisioned_clickhouse_datasource():
    uid = re.search(r"^\s*uid:\s*(\S+)", DATASOURCE.read_text(), re.M).group(1)
    assert len(QUERIES) >= 20
    for board, title, target in QUERIES:
        assert target["datasource"] == {"type": "grafana-clickhouse-datasource", "uid": uid}, (board, title)
        assert target["editorType"] == "sql" and target["rawSql"].strip(), (board, title)


def test_variable_queries_offer_the_scenario_values(store):
    for path in DASHBOARDS:
        for var in load(path)["templating"]["list"]:
            sql = expand_variables(var["query"], {"asset": [ALL]})
            values = [r[0] for r in store.query(sql)[1]]
            assert values == (["BTC", "ETH"] if var["name"] == "asset" else ["binance-usdm", "bybit", "okx"]), path.stem
    venue = next(v for v in load(ROOT / "deploy/grafana/dashboards/market_overview.json")["templating"]["list"]
                 if v["name"] == "venue")
    assert store.query(expand_variables(venue["query"], {"asset": ["SOL"]}))[1] == []


@pytest.mark.parametrize("board,title,target", QUERIES, ids=[f"{b}: {t}" for b, t, _ in QUERIES])
def test_query_runs_finds_rows_and_respects_the_range(store, options, board, title, target):
    for variables in (EVERYTHING, ONE_MARKET):
        rows = rows_of(store, target, RANGE, variables, options)
        assert rows, f"{board}: {title}: no rows with {variables}"
        if target.get("queryType") == "timeSeries":
            times = [r["time"] for r in rows]
            assert list(rows[0])[0] == "time", f"{title}: a time series query must return its time column first"
            assert times == sorted(times), f"{title}: not ordered by time"
    assert rows_of(store, target, EMPTY_RANGE, EVERYTHING, options) == [], f"{title}: rows outside the range"


def query(board: str, title: str) -> dict:
    (target,) = [t for b, ti, t in QUERIES if b == board and ti == title]
    return target


def test_market_overview_figures(scenario, options):
    store, events, _ = scenario
    # $__timeFilter(minute) holds both ends: the minute starting at the range's end is in.
    liqs = [e for e in events if e["type"] == "liquidation" and e["asset"] == "BTC" and e["venue"] == "okx"
            and int(CRASH[0].timestamp() * 1000) <= e["ts"] // 60_000 * 60_000 <= int(CRASH[1].timestamp() * 1000)]
    got = rows_of(store, query("market_overview", "Liquidated in range"), CRASH, ONE_MARKET, options)
    by_side = {r["side"]: r for r in got}
    for side in ("long", "short"):
        mine = [e for e in liqs if e["side"] == side]
        assert by_side[side]["liquidations"] == len(mine)
        assert by_side[side]["notional_usd"] == pytest.approx(sum(e["notional_usd"] for e in mine))
        assert by_side[side]["lower_bound"] == 0  # okx's feed is not throttled
    largest = rows_of(store, query("market_overview", "Largest liquidations"), RANGE, EVERYTHING, options)
    top = sorted((e for e in events if e["type"] == "liquidation"), key=lambda e: -e["notional_usd"])[:50]
    # The largest ones were delivered twice (tests/analytics_scenario.py): each is shown once.
    assert [(r["venue"], r["notional_usd"]) for r in largest] == [(e["venue"], e["notional_usd"]) for e in top]
    series = rows_of(store, query("market_overview", "Liquidations by venue and side"), CRASH, EVERYTHING, options)
    assert {r["venue_side"] for r in series} == {f"{v} {s}" for v in options["venue"] for s in ("long", "short")}
    assert all((r["notional_usd"] < 0) == r["venue_side"].endswith("short") for r in series if r["notional_usd"])


def test_taker_flow_net_matches_the_bars(scenario, options):
    store, events, alerts = scenario
    sell = next(a for a in alerts if a["stage"] == "sell")
    minute = sell["ts"] // 60_000 * 60_000
    bars = [e for e in events if e["type"] == "trade_flow" and e["asset"] == "BTC" and e["venue"] == "okx"
            and minute <= e["ts"] < minute + 60_000]
    got = rows_of(store, query("market_overview", "Taker flow"), CRASH, ONE_MARKET, options)
    (row,) = [r for r in got if int(r["time"].timestamp() * 1000) == minute]
    assert row["net_usd"] == pytest.approx(sum(b["buy_volume_usd"] - b["sell_volume_usd"] for b in bars))
    assert row["net_usd"] < 0  # the selling stage


def test_alert_annotations_mark_every_stage(scenario, options):
    store, _, alerts = scenario
    board = load(ROOT / "deploy/grafana/dashboards/alerts.json")
    (annotation,) = [a for a in board["annotations"]["list"] if "target" in a]
    got = rows_of(store, annotation["target"], RANGE, EVERYTHING, options)
    assert sorted((int(r["time"].timestamp() * 1000), r["tags"].split(",")[1]) for r in got) == sorted(
        (a["ts"], a["stage"]) for a in alerts)
    cascade = next(r for r in got if r["text"].startswith("CASCADE BTC"))
    assert "[critical]" in cascade["text"] and "long liquidations $" in cascade["text"]


def test_whale_and_etf_figures(scenario, options):
    store, events, alerts = scenario
    largest = rows_of(store, query("whale_flows", "Largest deposits"), RANGE, {"asset": ["BTC"]}, options)[0]
    assert (largest["exchange"], largest["usd_value"]) == ("binance", 2_755_200_000.0)
    streak = rows_of(store, query("etf_flows", "Outflow streak"), RANGE, {"asset": [ALL]}, options)
    expected = next(a for a in alerts if a["etf_context"])["etf_context"]
    assert [(r["asset"], r["outflow_streak_days"]) for r in streak] == [("BTC", expected["outflow_streak_days"])]


def test_feed_health_shows_the_gap(scenario, options):
    store, _, _ = scenario
    gaps = rows_of(store, query("feed_health", "Feed gaps"), CRASH, EVERYTHING, options)
    assert [(r["venue"], r["gap_s"]) for r in gaps] == [("okx", 40)]
    missing = rows_of(store, query("feed_health", "Incomplete minutes"), CRASH, EVERYTHING, options)
    assert sorted((r["asset"], r["venue"], r["time"].strftime("%H:%M"), r["missing_s"]) for r in missing) == [
        ("BTC", "okx", "21:22", 40), ("ETH", "okx", "21:22", 40)]
    assert rows_of(store, query("feed_health", "Feed gaps"), CRASH, {"asset": [ALL], "venue": ["bybit"]}, options) == []


def test_expand_macros_matches_the_datasource():
    start, end = dt.datetime.fromtimestamp(1000, UTC), dt.datetime.fromtimestamp(2000, UTC)
    sql = "SELECT $__timeInterval(ts), $__interval_s FROM t WHERE $__timeFilter( ts ) AND x < $__toTime OR $__fromTime_ms"
    assert expand_macros(sql, start, end, 0.2) == (
        "SELECT toStartOfInterval(toDateTime(ts), INTERVAL 1 second), 1 FROM t "
        "WHERE ts >= toDateTime(1000) AND ts <= toDateTime(2000) AND x < toDateTime(2000) OR fromUnixTimestamp64Milli(1000000)")
    with pytest.raises(AssertionError):
        expand_macros("SELECT $asset", start, end, 60)


def test_expand_variables_as_the_browser_does():
    sql = "WHERE $__conditionalAll(asset IN (${asset:singlequote}), $asset) AND venue = '$venue'"
    assert expand_variables(sql, {"asset": ["BTC", "ETH"], "venue": ["okx"]}) == \
        "WHERE asset IN ('BTC','ETH') AND venue = 'okx'"
    assert expand_variables(sql, {"asset": [ALL], "venue": ["okx"]}) == "WHERE 1=1 AND venue = 'okx'"
    with pytest.raises(AssertionError):
        expand_variables("WHERE x = $missing", {})
