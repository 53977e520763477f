"""Wide CSV, long CSV and JSON lines of the same real table import to the same events as the page."""

from __future__ import annotations

import csv
import io

import orjson
import pytest

from pipeline.sources.etf.events import history_published_ts
from pipeline.sources.etf.formats import FormatError, detect_format, load_events
from pipeline.sources.etf.wide import TableError
from tests.sources.etf.pages import cells, farside_page

BTC = cells("farside_btc_raw_cells_2024.json")


def wide_csv(rows) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(list(rows[0]))
    for r in rows:
        w.writerow(list(r.values()))
    return buf.getvalue().encode()


def long_csv(rows) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["date", "fund", "flow"])
    for r in rows:
        for k, v in r.items():
            if k not in ("Date", "Total"):
                w.writerow([r["Date"], k, v])
    return buf.getvalue().encode()


def comparable(events):
    return sorted((e["event_id"], e["date"], e["fund"], e["asset"], e["net_flow_usd"], e["published_ts"]) for e in events)


@pytest.fixture(scope="module")
def page_events():
    events, _ = load_events(farside_page(BTC).encode(), None, "BTC")
    return events


def test_formats_are_detected():
    assert detect_format(farside_page(BTC[:2]).encode()) == "farside-html"
    assert detect_format(wide_csv(BTC[:2])) == "wide-csv"
    assert detect_format(long_csv(BTC[:2])) == "long-csv"
    assert detect_format(b'{"type":"etf_flow","event_id":"x"}\n') == "jsonl"
    assert detect_format(b'{"code":0,"data":[]}') == "sosovalue"
    with pytest.raises(FormatError, match="--format"):
        detect_format(b"just one line of text")


def test_wide_long_and_jsonl_give_the_page_events(page_events):
    wide, wres = load_events(wide_csv(BTC), None, "BTC")
    long, lres = load_events(long_csv(BTC), None, "BTC")
    jsonl = b"".join(orjson.dumps(e) + b"\n" for e in page_events)
    again, jres = load_events(jsonl, None, "BTC")
    assert comparable(wide) == comparable(page_events)
    assert comparable(long) == comparable(page_events)
    assert again == page_events
    assert {e["source"] for e in wide} == {"wide-csv"} and {e["source"] for e in long} == {"long-csv"}
    assert {e["source"] for e in page_events} == {"farside"}
    assert [str(w) for w in wres.warnings] == [
        "line 210 (29 Oct 2024), column Total: Total cell 0.0 differs from the funds' sum 870.1; kept the fund cells"]
    # 1 Nov 2024, scraped before it was filled, is no day in any of them
    assert [str(s) for s in lres.skipped] == ["BTC 2024-11-01: every cell 0.0: the row is not filled yet"]
    assert jres.skipped == [] and not any(e["date"] == "2024-11-01" for e in page_events)


def test_units_and_the_history_rule(page_events):
    e = next(e for e in page_events if e["fund"] == "GBTC" and e["date"] == "2024-01-11")
    assert e["net_flow_usd"] == -95.1e6
    # 11 Jan 2024, 16:00 New York (EST, UTC-5) = 21:00 UTC, plus 14 h = 12 Jan 11:00 UTC
    assert e["published_ts"] == history_published_ts("2024-01-11") == 1_705_057_200_000
    # in summer (EDT, UTC-4) the close is 20:00 UTC
    assert history_published_ts("2024-07-01", 0) == 1_719_864_000_000
    assert e["event_id"] == "etf:BTC:GBTC:2024-01-11:1705057200000"


def test_wide_csv_with_a_bad_row_names_line_and_column_and_keeps_the_others():
    rows = [dict(r) for r in BTC[:4]]
    rows[2]["ARKB"] = "n.a."
    events, res = load_events(wide_csv(rows), "wide-csv", "BTC")
    assert [str(s) for s in res.skipped] == ["line 4 (15 Jan 2024), column ARKB: not a figure: 'n.a.'"]
    assert {e["date"] for e in events} == {"2024-01-11", "2024-01-12", "2024-01-16"}


def test_wide_csv_with_iso_dates_and_signed_numbers():
    text = b"date,IBIT,GBTC,Total\n2024-01-11,111.7,-95.1,16.6\n2024-01-12,\"1,045.0\",(484.1),560.9\nTotal,1156.7,-579.2,577.5\n"
    events, res = load_events(text, None, "BTC")
    assert sorted((e["date"], e["fund"], e["net_flow_usd"]) for e in events) == [
        ("2024-01-11", "GBTC", -95.1e6), ("2024-01-11", "IBIT", 111.7e6),
        ("2024-01-12", "GBTC", -484.1e6), ("2024-01-12", "IBIT", 1045e6)]
    assert [s.reason for s in res.skipped] == ["footer row, not a day"] and res.warnings == []


def test_long_csv_in_usd_with_asset_and_published_ts():
    text = (b"date,fund,asset,net_flow_usd,published_ts\n2024-07-23,ETHA,ETH,266500000,2024-07-24T08:00:00Z\n"
            b"2024-07-23,ETHE,ETH,-484100000,\nbad-date,ETHE,ETH,1,\n2024-07-24,ETHE,ETH,x,\n")
    events, res = load_events(text, None, "BTC")
    assert [(e["asset"], e["fund"], e["net_flow_usd"], e["published_ts"]) for e in events] == [
        ("ETH", "ETHA", 266.5e6, 1_721_808_000_000), ("ETH", "ETHE", -484.1e6, history_published_ts("2024-07-23"))]
    assert [str(s) for s in res.skipped] == ["line 4, column date: not a date: 'bad-date'",
                                             "line 5, column net_flow_usd: not a figure: 'x'"]


def test_long_csv_without_its_columns_is_a_clear_error():
    with pytest.raises(TableError, match="missing flow"):
        load_events(b"date,fund,amount\n2024-01-11,IBIT,1\n", "long-csv", "BTC")


def test_jsonl_keeps_good_lines_and_says_why_others_were_skipped(page_events):
    lines = [orjson.dumps(page_events[0]), b"{not json", orjson.dumps({**page_events[1], "net_flow_usd": "lots"}),
             orjson.dumps({"type": "liquidation"}), orjson.dumps(page_events[2])]
    events, res = load_events(b"\n".join(lines) + b"\n", "jsonl", "BTC")
    assert events == page_events[:1] + page_events[2:3]
    assert [s.where for s in res.skipped] == ["line 2", "line 3", "line 4"]
    assert "malformed JSON" in res.skipped[0].reason and "net_flow_usd" in res.skipped[1].reason
    assert "etf_flow" in res.skipped[2].reason
