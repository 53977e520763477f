"""`cascadewatch etf import|poll|show` end to end: files, the real embedded broker, a local page server."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import Settings
from tests.sources.etf.pages import PageServer, cells, farside_page, read_records

BTC = cells("farside_btc_raw_cells_2024.json")
runner = CliRunner()


def invoke(args, **env):
    return runner.invoke(app, ["etf", *args], env={"CASCADEWATCH_DATA_DIR": env.pop("data_dir", "var"), **env},
                         catch_exceptions=False)


@pytest.fixture
def btc_page(tmp_path):
    path = tmp_path / "btc.html"
    path.write_text(farside_page(BTC))
    return path


@pytest.fixture
def btc_events(tmp_path, btc_page):
    out = tmp_path / "btc.jsonl"
    res = invoke(["import", str(btc_page), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def test_import_real_history_to_a_file_with_a_summary(tmp_path, btc_page):
    out = tmp_path / "events.jsonl"
    res = invoke(["import", str(btc_page), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    s = orjson.loads(res.stdout.strip().splitlines()[-1])
    events = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    # 1 Nov 2024 was scraped before it was filled (every cell 0.0): not a day of no flows
    assert s["events"] == len(events) == 2106 and s["days"] == 204 and s["funds"] == 11
    assert s["format"] == "farside-html" and s["first_day"] == "2024-01-11" and s["last_day"] == "2024-10-31"
    assert s["skipped"] == ["table row 215 (01 Nov 2024): every cell 0.0: the row is not filled yet",
                            "table row 216 (Total): footer row, not a day", "table row 217 (Average): footer row, not a day",
                            "table row 218 (Maximum): footer row, not a day", "table row 219 (Minimum): footer row, not a day"]
    assert len(s["warnings"]) == 1 and "29 Oct 2024" in s["warnings"][0]


def test_import_prints_a_readable_summary(tmp_path):
    csv = tmp_path / "flows.csv"
    csv.write_text("Date,IBIT,GBTC,Total\n11 Jan 2024,111.7,(95.1),16.6\n12 Jan 2024,386.0,oops,-98.1\n")
    res = invoke(["import", str(csv), "--out", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 0
    assert "2 events (wide-csv, BTC)" in res.stderr and "1 days" in res.stderr
    assert "line 3 (12 Jan 2024), column GBTC: not a figure: 'oops'" in res.stderr


def test_import_errors_are_clear(tmp_path):
    res = invoke(["import", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "no such file" in res.stderr
    bad = tmp_path / "page.html"
    bad.write_text("<html><body>Forbidden</body></html>")
    res = invoke(["import", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "no flow table" in res.stderr
    res = invoke(["import", str(bad), "--format", "xml"])
    assert res.exit_code == 1 and "--format must be one of" in res.stderr
    res = invoke(["import", str(bad), "--format", "wide-csv", "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "no fund columns in the header" in res.stderr


def test_import_publishes_to_the_topic_keyed_by_asset(broker, tmp_path):
    eth = tmp_path / "eth.html"
    eth.write_text(farside_page(cells("eth_structure_cells.json")))
    res = invoke(["import", str(eth), "--asset", "ETH"], KAFKA_BOOTSTRAP=broker.bootstrap)
    assert res.exit_code == 0, res.output
    recs = read_records(broker.bootstrap, Settings().topics.etf_flows, 38)
    assert len(recs) == 38
    assert {r.key for r in recs} == {b"ETH"}
    values = [orjson.loads(r.value) for r in recs]
    assert {v["type"] for v in values} == {"etf_flow"} and sum(v["net_flow_usd"] for v in values) == pytest.approx(
        sum(float(r["Total"].strip("()").replace(",", "")) * (-1 if "(" in r["Total"] else 1) * 1e6
            for r in cells("eth_structure_cells.json")), abs=1.0)


def test_import_without_a_broker_or_out_says_what_to_do(btc_page):
    res = invoke(["import", str(btc_page)], KAFKA_BOOTSTRAP="")
    assert res.exit_code == 1 and "KAFKA_BOOTSTRAP is not set" in res.stderr


def test_poll_once_publishes_new_figures_then_nothing(broker, tmp_path):
    rows = BTC[-5:]
    filled = rows[:-1]  # the last, 1 Nov 2024, was scraped before it was filled: every cell 0.0
    with PageServer(farside_page(rows).encode()) as srv:
        args = ["poll", "--url", srv.url, "--once", "--state", str(tmp_path / "st.json")]
        first = invoke(args, KAFKA_BOOTSTRAP=broker.bootstrap)
        assert first.exit_code == 0, first.output
        n = sum(1 for r in filled for k, v in r.items() if k not in ("Date", "Total") and v != "-")
        assert f"{n} new or revised figures" in first.stderr and "not filled yet" in first.stderr
        second = invoke(args, KAFKA_BOOTSTRAP=broker.bootstrap)
        assert "not modified" in second.stderr
        revised = [dict(r) for r in rows]
        revised[-2]["GBTC"] = "(44.4)"  # 31 Oct: (31.1) as first published
        srv.set(farside_page(revised).encode())
        third = invoke(args, KAFKA_BOOTSTRAP=broker.bootstrap)
        assert "1 new or revised figures" in third.stderr
    recs = read_records(broker.bootstrap, Settings().topics.etf_flows, n + 1)
    values = [orjson.loads(r.value) for r in recs]
    assert len(values) == n + 1
    gbtc = sorted((v["published_ts"], v["net_flow_usd"]) for v in values if v["fund"] == "GBTC" and v["date"] == "2024-10-31")
    assert [net for _, net in gbtc] == [-31.1e6, -44.4e6] and not any(v["date"] == "2024-11-01" for v in values)


def test_poll_failure_is_reported(tmp_path):
    res = invoke(["poll", "--url", "http://127.0.0.1:9/none", "--once", "--state", str(tmp_path / "s.json"),
                  "--out", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 1 and "poll failed" in res.stderr and "ConnectError" in res.stderr


def test_show_prints_the_whole_table_and_the_context(btc_events):
    res = invoke(["show", "--file", str(btc_events), "--days", "5"])
    assert res.exit_code == 0, res.output
    out = res.stdout
    for fund in ("IBIT", "FBTC", "GBTC", "BTCW", "Total"):
        assert fund in out
    # 1 Nov 2024 was not filled when the page was scraped: the latest day is 31 Oct, a 7-day inflow streak
    assert "2024-11-01" not in out and "2024-10-31" in out and "2024-10-25" in out and "2024-10-24" not in out
    assert "(75.2)" in out and "…" not in out  # whole cells when piped
    assert "latest day 2024-10-31" in out and "5-day sum" in out and "streak 7 inflow days" in out


def test_show_json_as_of_a_date_uses_only_what_was_published(btc_events):
    res = invoke(["show", "--file", str(btc_events), "--json", "--as-of", "2024-01-19", "--days", "3"])
    rep = orjson.loads(res.stdout)
    # 19 Jan's figures are published 20 Jan (US close + 14 h): the latest known day is 18 Jan
    assert [d["date"] for d in rep["days"]] == ["2024-01-18", "2024-01-17", "2024-01-16"]
    assert rep["days"][0]["total_usd"] == pytest.approx(-126.6e6, abs=0.6e6)
    ctx = rep["context"]
    assert ctx["as_of_date"] == "2024-01-18" and ctx["outflow_streak_days"] == 1
    assert ctx["sum_5d_usd"] == pytest.approx((655.3 + 203.0 - 52.7 + 453.8 - 126.6) * 1e6, abs=1e6)
    assert ctx["days_known"] == 5 and ctx["zscore"] is None


def test_show_bad_as_of(btc_events):
    res = invoke(["show", "--file", str(btc_events), "--as-of", "yesterday"])
    assert res.exit_code == 1 and "--as-of" in res.stderr


def test_poll_that_cannot_publish_keeps_no_state_and_says_so(tmp_path):
    state = tmp_path / "st.json"
    with PageServer(farside_page(BTC[-3:]).encode()) as srv:
        res = invoke(["poll", "--url", srv.url, "--once", "--state", str(state)], KAFKA_BOOTSTRAP="127.0.0.1:9")
    assert res.exit_code == 1 and "poll failed" in res.stderr
    assert not state.exists()  # the next poll publishes the same figures again
