"""The Farside page parser on real table cells (BTC, 2024) and on an ETH table of the same structure."""

from __future__ import annotations

from collections import defaultdict

import pytest

from pipeline.sources.etf.events import parse_day, parse_millions
from pipeline.sources.etf.farside import read_farside_html
from pipeline.sources.etf.wide import TableError
from tests.sources.etf.pages import cells, farside_page, unfilled

BTC = cells("farside_btc_raw_cells_2024.json")
ETH = cells("eth_structure_cells.json")


@pytest.fixture(scope="module")
def btc():
    return read_farside_html(farside_page(BTC), "BTC")


def _by_day(figures):
    days = defaultdict(dict)
    for f in figures:
        days[f.date][f.fund] = f.usd
    return days


def test_every_day_adds_up_to_its_total_cell_but_the_one_the_page_left_unfinished(btc):
    days = _by_day(btc.figures)
    mismatched = []
    for row in BTC:
        total = parse_millions(row["Total"])
        funds = days.get(parse_day(row["Date"]), {})
        if abs(sum(funds.values()) / 1e6 - total) > 0.05 * (len(funds) + 1):
            mismatched.append(row["Date"])
    assert mismatched == ["29 Oct 2024"]
    assert [str(w) for w in btc.warnings] == [
        "table row 212 (29 Oct 2024), column Total: Total cell 0.0 differs from the funds' sum 870.1; kept the fund cells"]


def test_cells_become_usd_with_outflows_negative_and_blanks_absent(btc):
    days = _by_day(btc.figures)
    jan11 = days["2024-01-11"]
    assert jan11["GBTC"] == -95.1e6 and jan11["IBIT"] == 111.7e6
    assert "BTC" not in jan11  # "-": the fund had not launched
    assert "2024-01-15" not in days  # every cell "-" (a US holiday): not a day with figures
    assert all(f.asset == "BTC" for f in btc.figures)
    non_blank = sum(1 for r in BTC if not unfilled(r) for k, v in r.items() if k not in ("Date", "Total") and v.strip() != "-")
    assert len(btc.figures) == non_blank
    outflows = [f for f in btc.figures if f.usd < 0]
    assert len(outflows) == sum(1 for r in BTC for k, v in r.items() if k not in ("Date", "Total") and "(" in v)


def test_footer_rows_are_not_days(btc):
    dates = {f.date for f in btc.figures}
    with_figures = {parse_day(r["Date"]) for r in BTC if not unfilled(r)
                    and any(v.strip() != "-" for k, v in r.items() if k not in ("Date", "Total"))}
    # seven US market holidays, all "-", and 1 Nov, scraped before it was filled (all "0.0")
    assert dates == with_figures and len(BTC) - len(dates) == 8
    assert min(dates) == "2024-01-11" and max(dates) == "2024-10-31"
    assert [s.reason for s in btc.skipped] == ["every cell 0.0: the row is not filled yet"] + ["footer row, not a day"] * 4
    assert [s.where for s in btc.skipped] == ["table row 215 (01 Nov 2024)", "table row 216 (Total)",
                                              "table row 217 (Average)", "table row 218 (Maximum)",
                                              "table row 219 (Minimum)"]


def test_columns_come_from_the_ticker_row(btc):
    assert btc.columns == ["IBIT", "FBTC", "BITB", "ARKB", "BTCO", "EZBC", "BRRR", "HODL", "BTCW", "GBTC", "BTC"]


def test_a_table_of_another_assets_funds_is_refused():
    """The ETH table read with the default asset BTC would add ETHA, ETHE... to BTC's days."""
    with pytest.raises(TableError, match="'ETHA' is one of the ETH funds.*--asset ETH"):
        read_farside_html(farside_page(ETH, "Ethereum ETF Flow (US$m)"), "BTC")
    with pytest.raises(TableError, match="'IBIT' is one of the BTC funds"):
        read_farside_html(farside_page(BTC[:3]), "ETH")


def test_eth_table_same_parser():
    res = read_farside_html(farside_page(ETH, "Ethereum ETF Flow (US$m)"), "ETH")
    days = _by_day(res.figures)
    assert days["2024-07-26"]["ETHA"] == 1_045.0e6  # thousands separator
    assert days["2024-07-23"]["ETHE"] == -484.1e6
    assert "QETH" not in days["2024-07-23"]
    assert res.warnings == [] and len(days) == 5
    for row in ETH:
        assert sum(days[parse_day(row["Date"])].values()) / 1e6 == pytest.approx(parse_millions(row["Total"]), abs=0.5)


def test_a_fund_that_launches_adds_a_column():
    rows = [dict(r) for r in BTC[-3:]]
    rows[-1] = {**{k: v for k, v in rows[-1].items() if k != "Total"}, "NEWF": "12.5", "Total": "12.5"}
    for r in rows[:-1]:
        r["NEWF"] = "-"
    res = read_farside_html(farside_page(rows), "BTC")
    assert "NEWF" in res.columns
    assert [f.usd for f in res.figures if f.fund == "NEWF"] == [12.5e6]


def test_a_malformed_cell_skips_its_row_naming_row_and_column_and_the_rest_imports():
    rows = [dict(r) for r in BTC[:5]]
    rows[1]["FBTC"] = "19S.3"
    res = read_farside_html(farside_page(rows), "BTC")
    bad = [s for s in res.skipped if s.reason != "footer row, not a day"]
    assert [str(s) for s in bad] == ["table row 5 (12 Jan 2024), column FBTC: not a figure: '19S.3'"]
    assert {f.date for f in res.figures} == {"2024-01-11", "2024-01-16", "2024-01-17"}


def test_a_page_without_the_table_is_a_clear_error():
    with pytest.raises(TableError, match="no flow table"):
        read_farside_html("<html><body><p>Access denied</p></body></html>", "BTC")


@pytest.mark.parametrize("cell,value", [("(95.1)", -95.1), ("1,045.0", 1045.0), ("-", None), ("", None),
                                        ("0.0", 0.0), ("(1,234.5)", -1234.5), ("-12.3", -12.3), ("\xa07.0 ", 7.0)])
def test_cells(cell, value):
    assert parse_millions(cell) == value


@pytest.mark.parametrize("cell", ["abc", "1.2.3", "(5", "12,34.0", "--"])
def test_bad_cells(cell):
    with pytest.raises(ValueError, match="not a figure"):
        parse_millions(cell)
