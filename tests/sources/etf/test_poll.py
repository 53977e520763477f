"""`etf poll` against a local HTTP server: conditional requests, revisions, changed columns, bad rows, API key."""

from __future__ import annotations

import logging

import orjson
import pytest

from pipeline.sources.etf.events import history_published_ts
from pipeline.sources.etf.poll import EtfPoller, PollError, next_wait
from tests.sources.etf.pages import PageServer, cells, farside_page, unfilled

BTC = cells("farside_btc_raw_cells_2024.json")[-10:]
NOW = 1_730_600_000.0  # 2024-11-03 02:13 UTC, after every day in the table


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def page(rows) -> bytes:
    return farside_page(rows).encode()


@pytest.fixture
def server():
    with PageServer(page(BTC)) as s:
        yield s


def poller(server, tmp_path, clock, fmt="farside-html", **kw):
    return EtfPoller(server.url, "BTC", fmt, tmp_path / "state.json", clock=clock, **kw)


def test_first_poll_publishes_history_then_304_publishes_nothing(server, tmp_path):
    clock = Clock(NOW)
    p = poller(server, tmp_path, clock)
    first = p.poll_once()
    p.commit()
    assert first.status == 200
    n_cells = sum(1 for r in BTC if not unfilled(r) for k, v in r.items() if k not in ("Date", "Total") and v != "-")
    assert len(first.events) == n_cells
    assert all(e["published_ts"] == history_published_ts(e["date"]) for e in first.events)
    assert "If-None-Match" not in server.requests[0]["headers"]
    assert server.requests[0]["headers"]["User-Agent"].startswith("cascadewatch")

    again = poller(server, tmp_path, clock)  # a restarted poller reads its state file
    second = again.poll_once()
    assert second.status == 304 and second.events == []
    assert server.requests[1]["headers"]["If-None-Match"] == server.etag
    assert server.requests[1]["headers"]["If-Modified-Since"] == server.last_modified


def test_a_revised_cell_publishes_one_new_event_stamped_with_the_poll_time(server, tmp_path):
    clock = Clock(NOW)
    p = poller(server, tmp_path, clock)
    first = p.poll_once()
    p.commit()
    rows = [dict(r) for r in BTC]
    rows[-2]["IBIT"] = "(12.3)"  # the last filled day's IBIT cell is revised
    server.set(page(rows))
    clock.t = NOW + 900
    second = p.poll_once()
    p.commit()
    assert len(second.events) == 1
    ev = second.events[0]
    old = next(e for e in first.events if e["fund"] == "IBIT" and e["date"] == "2024-10-31")
    assert (ev["fund"], ev["date"], ev["net_flow_usd"]) == ("IBIT", "2024-10-31", -12.3e6)
    assert ev["published_ts"] == int((NOW + 900) * 1000) > old["published_ts"]
    assert ev["event_id"] != old["event_id"]
    # the same page again with a new validator: nothing new
    server.set(page(rows))
    assert p.poll_once().events == []


def test_a_new_day_is_stamped_with_the_poll_time_not_the_history_rule(server, tmp_path):
    clock = Clock(NOW)
    p = poller(server, tmp_path, clock)
    p.poll_once()
    p.commit()
    server.set(page(BTC + [{**{k: "-" for k in BTC[0]}, "Date": "04 Nov 2024", "IBIT": "38.4", "Total": "38.4"}]))
    clock.t = NOW + 86_400
    res = p.poll_once()
    assert [(e["date"], e["published_ts"]) for e in res.events] == [("2024-11-04", int(clock.t * 1000))]


def test_changed_columns_and_a_malformed_row_are_reported_and_the_other_rows_import(server, tmp_path):
    clock = Clock(NOW)
    p = poller(server, tmp_path, clock)
    p.poll_once()
    p.commit()
    rows = [{**{k: v for k, v in r.items() if k not in ("BTCW", "Total")}, "NEWF": "0.0", "Total": r["Total"]}
            for r in BTC]
    rows[3]["FBTC"] = "12..0"
    rows[-2]["IBIT"] = "99.9"
    server.set(page(rows))
    res = p.poll_once()
    assert res.columns_changed == "the column set changed: added NEWF; removed BTCW"
    bad = [str(s) for s in res.read.skipped if "footer" not in s.reason and not s.reason.endswith("not filled yet")]
    assert bad == [f"table row 7 ({BTC[3]['Date']}), column FBTC: not a figure: '12..0'"]
    new = {(e["fund"], e["date"]) for e in res.events}
    assert ("IBIT", "2024-10-31") in new  # the revised cell of another row still imports
    assert {f for f, _ in new} <= {"IBIT", "NEWF"}


def test_a_state_is_only_saved_on_commit(server, tmp_path):
    p = poller(server, tmp_path, Clock(NOW))
    assert p.poll_once().events
    # not committed (publishing failed): a new poller fetches and publishes the same figures again
    p2 = poller(server, tmp_path, Clock(NOW))
    assert len(p2.poll_once().events) == len(p.poll_once().events)


def test_server_errors_and_backoff(server, tmp_path):
    server.status_override = 503
    res = poller(server, tmp_path, Clock(NOW)).poll_once()
    assert res.status == 503 and res.retry_after_s == 120 and res.events == []
    assert next_wait(900, 0) == 900 and next_wait(900, 2) == 3600 and next_wait(900, 9) == 3600
    assert next_wait(10, 0) == 60  # never faster than once a minute
    assert next_wait(900, 1, retry_after_s=1800) == 1800
    server.status_override = 500
    with pytest.raises(PollError, match="HTTP 500"):
        poller(server, tmp_path, Clock(NOW)).poll_once()


SOSO_HIST = {"code": 0, "msg": None, "data": [
    {"date": "2024-10-30", "totalNetInflow": 893300000, "totalValueTraded": 3.1e9, "totalNetAssets": 7.2e10,
     "cumNetInflow": 2.4e10},
    {"date": "2024-10-31", "totalNetInflow": 32300000, "totalValueTraded": 2.9e9, "totalNetAssets": 7.1e10,
     "cumNetInflow": 2.4e10}]}
SOSO_METRICS = {"code": 0, "msg": None, "data": {"list": [
    {"ticker": "IBIT", "dailyNetInflow": {"value": 318800000, "lastUpdateDate": "2024-10-31", "status": 3}},
    {"ticker": "FBTC", "dailyNetInflow": {"value": "-75200000", "lastUpdateDate": "2024-10-31", "status": 3}},
    {"ticker": "XXXX", "dailyNetInflow": {"value": "n/a", "lastUpdateDate": "2024-10-31", "status": 3}}]}}


def test_sosovalue_source_sends_the_key_and_never_logs_it(tmp_path, caplog, capsys):
    key = "sk-test-7f3e9a0b1c2d"
    caplog.set_level(logging.DEBUG)
    with PageServer(orjson.dumps(SOSO_HIST), "application/json") as srv:
        p = EtfPoller(srv.url, "BTC", "sosovalue", tmp_path / "s.json", clock=Clock(NOW), api_key=key)
        res = p.poll_once()
        req = srv.requests[0]
        assert req["method"] == "POST" and orjson.loads(req["body"]) == {"type": "us-btc-spot"}
        assert req["headers"]["x-soso-api-key"] == key
        assert [(e["fund"], e["date"], e["net_flow_usd"], e["source"]) for e in res.events] == [
            ("TOTAL", "2024-10-30", 893.3e6, "sosovalue"), ("TOTAL", "2024-10-31", 32.3e6, "sosovalue")]
        srv.set(orjson.dumps(SOSO_METRICS))
        res = p.poll_once()
        assert [(e["fund"], e["net_flow_usd"]) for e in res.events] == [("IBIT", 318.8e6), ("FBTC", -75.2e6)]
        assert [str(s) for s in res.read.skipped] == ["data item 3 (2024-10-31), column dailyNetInflow: not a figure: 'n/a'"]
        srv.status_override = 500
        with pytest.raises(PollError) as exc:
            p.poll_once()
        srv.set(b'{"code": 40001, "msg": "invalid api key"}')
        srv.status_override = None
        with pytest.raises(PollError, match="code=40001") as exc2:
            p.poll_once()
    out = capsys.readouterr()
    assert key not in caplog.text and key not in out.out + out.err
    assert key not in str(exc.value) and key not in str(exc2.value)
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)  # httpx did log its requests
