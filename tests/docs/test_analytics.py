"""Every SQL block of docs/analytics.md runs on the replayed aug2025 scenario and gives the answer
computed here, in Python, from the same events: the page and the schema cannot drift apart."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from pathlib import Path

import pytest

from tests.analytics_scenario import GAP_MS, GAP_START_MS, GAP_VENUE

DOC = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"
UTC = dt.timezone.utc
HOUR, MINUTE = 3_600_000, 60_000


def doc_queries() -> dict[str, str]:
    text = DOC.read_text()
    named = re.findall(r"<!-- query: (\w+) -->\n```sql\n(.*?)```", text, re.S)
    assert len(named) == text.count("<!-- query:"), "a query marker is not followed by a ```sql block"
    return dict(named)


QUERIES = doc_queries()
CHECKED = {"most_intense_hour", "long_share_of_crash", "venue_bore_most", "whale_inflows_before_crash",
           "etf_outflow_streaks", "alert_timeline", "feed_gaps_during_crash", "missing_bars", "open_interest_flushed"}


def run(store, name: str) -> list[dict]:
    names, rows = store.query(QUERIES[name])
    assert rows, f"{name}: no rows"
    return [dict(zip(names, r)) for r in rows]


def ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def of(events, kind):
    return [e for e in events if e["type"] == kind]


def crash_at(alerts) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in alerts:
        if a["stage"] == "cascade":
            out[a["asset"]] = min(out.get(a["asset"], a["ts"]), a["ts"])
    return out


def crash_liquidations(events, alerts):
    at = crash_at(alerts)
    return [e for e in of(events, "liquidation")
            if e["asset"] in at and at[e["asset"]] - 5 * MINUTE <= e["ts"] < at[e["asset"]] + HOUR]


def test_every_query_on_the_page_is_checked():
    assert set(QUERIES) == CHECKED


def test_most_intense_hour(scenario):
    store, events, _ = scenario
    per_hour = defaultdict(list)
    for e in of(events, "liquidation"):
        per_hour[e["ts"] // HOUR * HOUR].append(e)
    hour, rows = max(per_hour.items(), key=lambda kv: sum(e["notional_usd"] for e in kv[1]))
    (got,) = run(store, "most_intense_hour")
    total = sum(e["notional_usd"] for e in rows)
    longs = sum(e["notional_usd"] for e in rows if e["side"] == "long")
    assert ms(got["hour"]) == hour and got["liquidations"] == len(rows)
    assert got["liquidated_usd_m"] == pytest.approx(total / 1e6, abs=0.006)
    assert got["long_share"] == pytest.approx(longs / total, abs=0.0006)
    assert got["lower_bound"] == any(e["completeness"] == "sampled" for e in rows)


def test_long_share_of_crash(scenario):
    store, events, alerts = scenario
    got = run(store, "long_share_of_crash")
    crash = crash_liquidations(events, alerts)
    assert [r["asset"] for r in got] == sorted(crash_at(alerts)) == ["BTC", "ETH"]
    for row in got:
        mine = [e for e in crash if e["asset"] == row["asset"]]
        longs = sum(e["notional_usd"] for e in mine if e["side"] == "long")
        assert row["liquidations"] == len(mine)
        assert row["long_share"] == pytest.approx(longs / sum(e["notional_usd"] for e in mine), abs=0.0006)
        assert row["long_share"] > 0.7  # a long-liquidation cascade, as the alert says


def test_venue_bore_most(scenario):
    store, events, alerts = scenario
    got = run(store, "venue_bore_most")
    by = defaultdict(float)
    for e in crash_liquidations(events, alerts):
        if e["side"] == "long":
            by[(e["asset"], e["venue"])] += e["notional_usd"]
    for asset in ("BTC", "ETH"):
        rows = [r for r in got if r["asset"] == asset]
        expected = sorted(((v, k[1]) for k, v in by.items() if k[0] == asset), reverse=True)
        assert [r["venue"] for r in rows] == [venue for _, venue in expected]
        assert rows[0]["long_usd_m"] == pytest.approx(expected[0][0] / 1e6, abs=0.006)
    assert all((r["sampled_rows"] > 0) == (r["venue"] == "binance-usdm") for r in got)


def test_whale_inflows_before_crash(scenario):
    store, events, alerts = scenario
    at = crash_at(alerts)
    sums = defaultdict(float)
    for e in of(events, "whale_transfer"):
        if (e["direction"] == "exchange_inflow" and not e.get("retracted") and e["asset"] in at
                and at[e["asset"]] - 6 * HOUR <= e["block_time"] <= at[e["asset"]]):
            sums[(e["asset"], e["to_entity"])] += e["usd_value"]
    got = run(store, "whale_inflows_before_crash")
    assert {(r["asset"], r["exchange"]): pytest.approx(r["inflow_usd_m"]) for r in got} == {
        k: pytest.approx(round(v / 1e6, 2)) for k, v in sums.items()}
    btc = next(r for r in got if r["asset"] == "BTC")
    assert (btc["exchange"], btc["largest_usd_m"]) == ("binance", 2755.2)  # the 24,000 BTC deposit


def test_etf_outflow_streaks(scenario):
    store, events, _ = scenario
    daily = defaultdict(float)
    for e in of(events, "etf_flow"):
        daily[(e["asset"], e["date"])] += e["net_flow_usd"]
    streaks, current = [], []
    for (asset, day), net in sorted(daily.items()):
        if net < 0 and current and current[-1][0] == asset:
            current.append((asset, day, net))
        elif net < 0:
            current = [(asset, day, net)]
            streaks.append(current)
        else:
            current = []
    got = run(store, "etf_outflow_streaks")
    assert [(r["asset"], r["first_day"].date().isoformat() if hasattr(r["first_day"], "date") else str(r["first_day"]),
             r["trading_days"]) for r in got] == [(s[0][0], s[0][1], len(s)) for s in streaks]
    longest = max(got, key=lambda r: r["trading_days"])
    assert longest["trading_days"] == 6  # the streak the BTC alert's ETF context reports
    assert next(a for a in scenario[2] if a["etf_context"])["etf_context"]["outflow_streak_days"] == 6


def test_alert_timeline(scenario):
    store, _, alerts = scenario
    got = run(store, "alert_timeline")
    cascade = max((a for a in alerts if a["kind"] == "whale_cascade" and a["stage"] == "cascade"), key=lambda a: a["ts"])
    stages = [a for a in alerts if a["alert_id"] == cascade["alert_id"]]
    # In time order: the deposit, the stages, and the feed's gap wherever it fell among them.
    feed = [r["event"] for r in got if r["event"].startswith("feed")]
    # The OKX gap's reports from the deposit to the last stage (the cascade falls inside the gap).
    reports = [("gap_start", GAP_START_MS), ("disconnected", GAP_START_MS + 10_000), ("gap_end", GAP_START_MS + GAP_MS)]
    last = max(a["ts"] for a in stages)
    assert feed == [f"feed {status}" for status, ts in reports if cascade["deposit"]["ts"] <= ts <= last]
    assert feed[0] == "feed gap_start"
    assert [ms(r["ts"]) for r in got] == sorted(ms(r["ts"]) for r in got)
    assert [r["event"] for r in got if not r["event"].startswith("feed")] == ["deposit", "watch", "sell", "cascade"]
    assert [ms(r["ts"]) for r in got if r["event"] in ("watch", "sell", "cascade")] == [a["ts"] for a in stages]
    assert ms(got[0]["ts"]) == cascade["deposit"]["ts"] and "binance" in got[0]["detail"]
    row = next(r for r in got if r["event"] == "cascade")
    assert f"sampled: {', '.join(cascade['evidence']['sampled_venues'])}" in row["detail"]
    assert GAP_VENUE in next(r for r in got if r["event"] == "feed gap_start")["detail"]


def test_feed_gaps_during_crash(scenario):
    store, _, alerts = scenario
    got = run(store, "feed_gaps_during_crash")
    assert [(r["asset"], r["venue"], ms(r["gap_start"]), r["gap_s"]) for r in got] == [
        (asset, GAP_VENUE, GAP_START_MS, GAP_MS / 1000) for asset in sorted(crash_at(alerts))]


def test_missing_bars_find_the_same_gap(scenario):
    store, _, _ = scenario
    got = run(store, "missing_bars")
    assert [(r["asset"], r["venue"], ms(r["gap_start"]), ms(r["gap_end"])) for r in got] == [
        (asset, GAP_VENUE, GAP_START_MS, GAP_START_MS + GAP_MS) for asset in ("BTC", "ETH")]


def test_open_interest_flushed(scenario):
    store, events, alerts = scenario
    at = crash_at(alerts)
    last = {}  # (asset, minute, venue) -> last open interest of the minute
    for e in sorted(of(events, "leverage"), key=lambda e: e["ts"]):
        last[(e["asset"], e["ts"] // MINUTE * MINUTE, e["venue"])] = e["open_interest_usd"]
    totals = defaultdict(float)
    for (asset, minute, _), oi in last.items():
        totals[(asset, minute)] += oi
    got = run(store, "open_interest_flushed")
    assert [r["asset"] for r in got] == ["BTC", "ETH"]
    for row in got:
        a, t = row["asset"], at[row["asset"]]
        window = {m: v for (asset, m), v in totals.items() if asset == a and t - HOUR <= m < t + HOUR}
        before = window[max(m for m in window if m <= t - 10 * MINUTE)]
        low = min(v for m, v in window.items() if m > t - 10 * MINUTE)
        assert row["before_usd_b"] == pytest.approx(before / 1e9, abs=0.0006)
        assert row["low_usd_b"] == pytest.approx(low / 1e9, abs=0.0006)
        assert row["flushed_pct"] > 5  # the scenario flushes 8% (BTC) and 7% (ETH) in the cascade
        assert row["funding_8h_before"] > 0.0003  # crowded longs paid up going in
