"""Benchmark of the analytics: every Grafana panel and cookbook query over 24 hours and 30 days of data.

Loads --days (default 30) of generated market data into embedded chDB with the shipped schema:
  trade_flow       one-second bars for 20 markets (BTC, ETH, SOL, XRP x binance-usdm, bybit, okx,
                   bitmex, deribit): 30 days = 51.8M rows
  liquidations     --liq-per-s per market (default 0.2): 30 days = 10.4M rows; Binance rows 'sampled'
  whale_transfers  200 a day (inflows, outflows, internal) over 8 exchanges
  feed_health      a `rates` event per venue and minute, a gap on one venue each day
  alerts           one whale cascade (watch, sell, cascade) per asset and day, shaped as the detector's
  etf_flows        five BTC and three ETH funds per weekday; and a few dead letters
Bulk rows are generated inside ClickHouse (INSERT ... SELECT FROM numbers(), one insert per table
and day); the few hundred alerts and ETF rows go through the sink's row code (Store.insert_events).
`raw` is left empty in the generated bulk rows: no panel reads it, so it changes storage, not timings.

Then every query is timed, best of --repeat runs (the first run of each also counts as cold):
  dashboards  every panel and annotation of deploy/grafana/dashboards/*.json, with the datasource
              macros and template variables expanded as Grafana does (variables = All), over the last
              24 hours (interval 60 s) and over all --days (interval 3600 s), as Grafana would pick;
  cookbook    every SQL block of docs/analytics.md (they take no time range: they read everything).
Goal: under 1 s for 24 h and under 3 s for 30 days. The machine's cores are shared with whatever
else runs: run it on an otherwise idle machine.

Run: python bench/analytics.py [--days 30] [--liq-per-s 0.2] [--repeat 2] [--path DIR] [--optimize]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402

from pipeline.sinks.clickhouse import open_store  # noqa: E402
from pipeline.sinks.output import write_rows  # noqa: E402
from tests.deploy.grafana_macros import ALL, dashboard_queries, panel_sql  # noqa: E402

ASSETS = {"BTC": 110_000.0, "ETH": 4_300.0, "SOL": 190.0, "XRP": 2.9}
VENUES = ["binance-usdm", "bybit", "okx", "bitmex", "deribit"]
EXCHANGES = ["binance", "coinbase", "okx", "bybit", "kraken", "bitfinex", "gemini", "htx"]
END = dt.datetime(2025, 9, 1, tzinfo=dt.timezone.utc)
DAY = 86_400

console = Console()


def arr(values) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def market_columns() -> str:
    """m = market index 0..19 -> asset, venue, symbol, base price."""
    return (f"{arr(ASSETS)}[1 + intDiv(m, 5)] AS asset, {arr(VENUES)}[1 + (m % 5)] AS venue, "
            f"concat(asset, 'USDT') AS symbol, [{', '.join(str(p) for p in ASSETS.values())}][1 + intDiv(m, 5)] AS base")


def bulk_statements(db: str, day_start: int, liq_per_day: int) -> dict[str, str]:
    # Price: a slow wave plus noise around each asset's base, so OHLC panels have something to draw.
    price = "base * (1 + 0.03 * sin(sec / 20000.0) + (rand(7) % 1000) / 1e6)"
    return {
        "trade_flow": f"""
            INSERT INTO {db}.trade_flow (venue, symbol, asset, ts, interval_ms, buy_volume_usd, sell_volume_usd,
                                         open, high, low, close, trade_count, raw)
            SELECT venue, symbol, asset, toDateTime64(sec, 3, 'UTC'), 1000, rand(1) % 200000, rand(2) % 200000,
                   p, p * 1.0004, p * 0.9996, p * (1 + (rand(3) % 100 - 50) / 1e5), rand(4) % 60, ''
            FROM (SELECT number % 20 AS m, {day_start} + intDiv(number, 20) AS sec, {market_columns()}, {price} AS p
                  FROM numbers({20 * DAY}))
            SETTINGS async_insert = 0, max_insert_threads = 2""",
        "liquidations": f"""
            INSERT INTO {db}.liquidations (event_id, venue, symbol, asset, side, price, quantity, notional_usd, ts,
                                           received_ts, completeness, raw)
            SELECT concat('bench:', toString({day_start}), ':', toString(number)), venue, symbol, asset,
                   if(rand(5) % 10 < 7, 'long', 'short'), p, usd / p, usd, t, t + toIntervalMillisecond(250),
                   if(venue = 'binance-usdm', 'sampled', 'full'), ''
            FROM (SELECT number, number % 20 AS m, {day_start} + (rand(6) % {DAY * 1000}) / 1000 AS sec,
                         toDateTime64(sec, 3, 'UTC') AS t, {market_columns()}, {price} AS p,
                         100 + (rand(8) % 100000) * (1 + rand(9) % 3) AS usd
                  FROM numbers({liq_per_day}))
            SETTINGS async_insert = 0, max_insert_threads = 2""",
        "whale_transfers": f"""
            INSERT INTO {db}.whale_transfers (event_id, chain, asset, amount, usd_value, from_address, to_address,
                from_entity, to_entity, direction, tx_hash, block_number, block_time, confirmations, observed_ts, raw)
            SELECT concat('bench:', hex(cityHash64({day_start}, number)), ':0'), if(a = 'BTC', 'bitcoin', 'ethereum'),
                   a, usd / base, usd, 'from', 'to',
                   if(dir = 'exchange_inflow', NULL, ex), if(dir = 'exchange_outflow', NULL, ex), dir,
                   hex(cityHash64({day_start}, number)), NULL, t, 2, t + toIntervalSecond(30), ''
            FROM (SELECT number, if(number % 3 = 0, 'ETH', 'BTC') AS a, if(a = 'BTC', 110000.0, 4300.0) AS base,
                         {arr(EXCHANGES)}[1 + rand(1) % {len(EXCHANGES)}] AS ex,
                         ['exchange_inflow', 'exchange_inflow', 'exchange_outflow', 'exchange_internal'][1 + rand(2) % 4] AS dir,
                         5e6 + (rand(3) % 1000) * 1e6 AS usd,
                         toDateTime64({day_start} + rand(4) % {DAY}, 3, 'UTC') AS t
                  FROM numbers(200))
            SETTINGS async_insert = 0""",
        "feed_health": f"""
            INSERT INTO {db}.feed_health (event_id, venue, status, ts, detail, messages_per_s, liquidations_per_s,
                trades_per_s, errors, reconnects, gap_ms, window_s, raw)
            SELECT concat(venue, ':', status, ':', toString(sec)), venue, status, toDateTime64(sec, 3, 'UTC'),
                   if(status = 'gap_end', 'liquidations during the gap are lost', ''),
                   if(status = 'rates', 50 + rand(1) % 50, 0), if(status = 'rates', (rand(2) % 100) / 100, 0),
                   if(status = 'rates', 40 + rand(3) % 40, 0), 0, intDiv(sec - {day_start}, {DAY}),
                   if(status = 'gap_end', 40000, 0), if(status = 'rates', 60, 0), ''
            FROM (SELECT {arr(VENUES)}[1 + number % 5] AS venue, {day_start} + intDiv(number, 5) * 60 + 59 AS sec,
                         if(number = 1000, 'gap_end', 'rates') AS status
                  FROM numbers({5 * 1440}))
            SETTINGS async_insert = 0""",
    }


def scenario_shaped_alerts(days: int) -> list[dict]:
    """One whale cascade per asset and day, cut from the detector's alerts on the bundled scenario."""
    from pipeline.contracts.models import dump_event
    from pipeline.replay import replay_files
    from pipeline.scenarios import bundled

    import orjson

    template = [orjson.loads(dump_event(a)) for a in replay_files([bundled("aug2025")]).alerts
                if a.kind == "whale_cascade" and a.asset == "BTC"]
    first = template[0]["ts"]
    out = []
    for d in range(days):
        for i, asset in enumerate(ASSETS):
            base = int((END.timestamp() - (days - d) * DAY + 3_600 * (3 + 5 * i)) * 1000)
            for a in template:
                a = json.loads(json.dumps(a))
                a.update(alert_id=f"bench-{asset}-{d}", asset=asset, ts=base + a["ts"] - first)
                if a.get("deposit"):
                    a["deposit"]["ts"] = base
                out.append(a)
    return out


def etf_flows(days: int) -> list[dict]:
    funds = {"BTC": ["IBIT", "FBTC", "GBTC", "ARKB", "BITB"], "ETH": ["ETHA", "FETH", "ETHE"]}
    out = []
    for d in range(days):
        day = (END - dt.timedelta(days=days - d)).date()
        if day.weekday() >= 5:
            continue
        for asset, names in funds.items():
            for j, fund in enumerate(names):
                net = ((d * 7 + j * 13) % 11 - 6) * 2.5e7
                out.append({"type": "etf_flow", "schema_version": 1, "event_id": f"etf:{fund}:{day}", "date": day.isoformat(),
                            "fund": fund, "asset": asset, "net_flow_usd": net,
                            "published_ts": int(dt.datetime.combine(day, dt.time(23), dt.timezone.utc).timestamp() * 1000),
                            "source": "bench"})
    return out


def dead_letters(days: int) -> list[dict]:
    import base64

    value = b'{"type": "liquidation", "ts": 17'
    return [{"type": "deadletter", "schema_version": 1, "reason": "malformed_json", "error": "unexpected end",
             "source_topic": "exchange.liquidations", "partition": 0, "offset": d,
             "original_b64": base64.b64encode(value).decode() + str(d), "original_size": len(value),
             "received_ts": int((END.timestamp() - (days - d) * DAY + 600) * 1000)} for d in range(days)]


def load(store, days: int, liq_per_s: float) -> dict[str, int]:
    db = store.database
    with Progress(console=console) as bar:
        task = bar.add_task(f"generating {days} days", total=days)
        for d in range(days):
            day_start = int(END.timestamp()) - (days - d) * DAY
            for sql in bulk_statements(db, day_start, int(liq_per_s * DAY * 20)).values():
                store._execute(sql)
            for source in ("liquidations", "trade_flow"):  # what the sink does after each batch
                store.refresh_rollup(source, None, day_start * 1000, (day_start + DAY) * 1000)
            bar.advance(task)
    store.insert_events(scenario_shaped_alerts(days) + etf_flows(days) + dead_letters(days))
    tables = ["trade_flow", "liquidations", "whale_transfers", "feed_health", "alerts", "etf_flows", "deadletter",
              "trade_flow_1m_rollup", "liquidations_1m_rollup"]
    return {t: store.query(f"SELECT count() FROM {db}.{t}")[1][0][0] for t in tables}


def queries() -> list[tuple[str, str, str, bool]]:
    """(source, title, sql, ranged): every dashboard target and annotation, then every cookbook block."""
    out = []
    for path in sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for title, target in dashboard_queries(board):
            out.append((path.stem, title, target["rawSql"], True))
    doc = (ROOT / "docs" / "analytics.md").read_text()
    out += [("cookbook", name, sql, False) for name, sql in re.findall(r"<!-- query: (\w+) -->\n```sql\n(.*?)```", doc, re.S)]
    return out


def timed(store, sql: str, repeat: int) -> tuple[float, float, int]:
    """(cold, best, rows)."""
    times, rows = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        _, result = store.query(sql)
        times.append(time.perf_counter() - t0)
        rows = len(result)
    return times[0], min(times), rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--liq-per-s", type=float, default=0.2, help="liquidations per second per market")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per query; the best is reported")
    ap.add_argument("--path", help="chDB data directory (default: a temporary one, removed at the end)")
    ap.add_argument("--optimize", action="store_true", help="OPTIMIZE ... FINAL every table before timing")
    args = ap.parse_args()

    path = args.path or tempfile.mkdtemp(prefix="cascadewatch-bench-")
    store = open_store(f"chdb://{path}?database=bench")
    try:
        store._execute("DROP DATABASE IF EXISTS bench")
        store.apply_schema()
        t0 = time.perf_counter()
        counts = load(store, args.days, args.liq_per_s)
        console.print(f"loaded in {time.perf_counter() - t0:.0f} s: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
        if args.optimize:
            with console.status("OPTIMIZE ... FINAL"):
                for table in counts:
                    store._execute(f"OPTIMIZE TABLE bench.{table} FINAL")
        _, parts = store.query("SELECT table, count() FROM system.parts WHERE database = 'bench' AND active GROUP BY table ORDER BY table")
        console.print("active parts: " + ", ".join(f"{t} {n}" for t, n in parts))

        end = END
        ranges = {"24 h": (end - dt.timedelta(days=1), end, 60), f"{args.days} d": (end - dt.timedelta(days=args.days), end, 3600)}
        variables = {"asset": [ALL], "venue": [ALL]}
        header = ["source", "query", "24 h (s)", f"{args.days} d (s)", "rows 24 h / all", "cold max (s)", "goal"]
        results: list[list[str]] = []
        slow = 0
        work = queries()
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("timing", total=len(work))
            for source, title, sql, ranged in work:
                if ranged:
                    day = timed(store, panel_sql(sql, *ranges["24 h"], variables), args.repeat)
                    month = timed(store, panel_sql(sql, *ranges[f"{args.days} d"], variables), args.repeat)
                    ok = day[1] < 1 and month[1] < 3
                    results.append([source, title, f"{day[1]:.3f}", f"{month[1]:.3f}", f"{day[2]} / {month[2]}",
                                    f"{max(day[0], month[0]):.2f}", "ok" if ok else "SLOW"])
                else:
                    month = timed(store, sql, args.repeat)
                    ok = month[1] < 3
                    results.append([source, title, "-", f"{month[1]:.3f}", f"- / {month[2]}", f"{month[0]:.2f}",
                                    "ok" if ok else "SLOW"])
                slow += not ok
                bar.advance(task)
        console.print(f"{sum(counts.values()):,} rows; best of {args.repeat} runs per query")
        write_rows(header, results, "table", console=console)
        console.print(f"{len(work) - slow} of {len(work)} queries within the goal (< 1 s over 24 h, < 3 s over {args.days} d)")
    finally:
        store.close()
        if not args.path:
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
