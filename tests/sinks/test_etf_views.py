"""The ETF views on chDB: every version stored, latest figure per fund and day, daily total per asset."""

from __future__ import annotations

from pipeline.sources.etf.formats import load_events
from tests.sources.etf.pages import cells, farside_page


def test_versions_are_kept_and_the_views_give_the_latest(store):
    rows = cells("farside_btc_raw_cells_2024.json")[:5]
    events, _ = load_events(farside_page(rows).encode(), None, "BTC")
    first = next(e for e in events if e["fund"] == "GBTC" and e["date"] == "2024-01-11")
    revision = {**first, "net_flow_usd": -100e6, "published_ts": first["published_ts"] + 86_400_000,
                "event_id": first["event_id"].rsplit(":", 1)[0] + f":{first['published_ts'] + 86_400_000}"}
    totals = [{"type": "etf_flow", "event_id": f"etf:ETH:TOTAL:2024-07-23:{t}", "date": "2024-07-23", "fund": fund,
               "asset": "ETH", "net_flow_usd": v, "published_ts": t, "source": "sosovalue"}
              for fund, v, t in (("TOTAL", 106.6e6, 1_721_800_000_000), ("ETHA", 266.5e6, 1_721_800_000_000))]
    totals[1]["event_id"] = "etf:ETH:ETHA:2024-07-23:1721800000000"
    assert store.insert_events(events + [revision] + events[:3] + totals)["etf_flows"] == len(events) + 6
    _, (n,) = store.query("SELECT count() FROM {db}.etf_flows FINAL")
    assert n[0] == len(events) + 3  # the re-delivered three collapse; the revision is a version of its own
    _, latest = store.query("SELECT net_flow_usd, versions, toUnixTimestamp64Milli(published_ts) FROM "
                            "{db}.etf_flows_latest WHERE fund = 'GBTC' AND date = '2024-01-11'")
    assert latest == [(-100e6, 2, revision["published_ts"])]
    _, daily = store.query("SELECT toString(date), round(net_flow_usd / 1e6, 1), funds FROM {db}.etf_flows_daily "
                           "WHERE asset = 'BTC' ORDER BY date")
    assert daily == [("2024-01-11", 650.4, 10),  # 655.3 with GBTC revised from -95.1 to -100,
                     ("2024-01-12", 203.0, 10), ("2024-01-16", -52.7, 10), ("2024-01-17", 453.8, 10)]
    _, eth = store.query("SELECT net_flow_usd, funds FROM {db}.etf_flows_daily WHERE asset = 'ETH'")
    assert eth == [(106.6e6, 1)]


def test_show_reads_every_stored_version_back(store):
    from pipeline.sources.etf.show import ledger_for, report, stored_events

    rows = cells("farside_btc_raw_cells_2024.json")[:8]
    events, _ = load_events(farside_page(rows).encode(), None, "BTC")
    store.insert_events(events)
    back = stored_events(store, "BTC")
    key = lambda e: e["event_id"]  # noqa: E731
    assert sorted(back, key=key) == sorted(events, key=key)
    at = max(e["published_ts"] for e in events) + 1
    assert report(ledger_for(back, "BTC"), "BTC", at, 5) == report(ledger_for(events, "BTC"), "BTC", at, 5)
