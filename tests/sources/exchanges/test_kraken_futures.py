"""Kraken Futures: the real cryptofeed session (fills, the trade_snapshot's recorded trades), the
documented trade and ticker messages, contract units by product id, liquidation trades, skipped
and refused messages, and the live subscription frames."""

from __future__ import annotations

import json

import orjson
import pytest

from pipeline.sources.archives import detect, normalize_file
from pipeline.sources.exchanges import get_venue
from pipeline.sources.exchanges.base import ParseError
from pipeline.sources.exchanges.kraken_futures import KrakenFutures
from pipeline.sources.exchanges.live import LiveConfig
from pipeline.sources.exchanges.normalize import NormalizeStats, normalize_lines

from ..archives.builders import TARDIS_HEADER, assert_same_bars
from .conftest import SESSIONS, session_messages, doc_example, validate_event
from .replay_server import FAST, Script, hold, local_server
from .run_until import run_feed_until

RECV = 1_700_000_000_000
SESSION = SESSIONS / "KRAKEN_FUTURES.ws.1.0"


def recorded() -> list[dict]:
    return session_messages(SESSION.name)


def parse(msg):
    r = get_venue("kraken-futures").parse(msg, RECV)
    assert not r.errors, r.errors
    return r


def test_recorded_fills_are_taker_trades_in_usd():
    """Every `fill` of the session, read with plain dict access: PI_/FI_ qty is USD, side the taker's."""
    msgs = recorded()
    fills = [m for m in msgs if m.get("feed") == "trade" and m.get("type") == "fill"]
    assert len(fills) == 3
    trades = [t for m in msgs for t in parse(m).trades]
    assert len(trades) == len(fills)
    for t, raw in zip(trades, fills):
        assert (t.symbol, t.ts, t.price, t.taker_side, t.trade_id) == (raw["product_id"], raw["time"], raw["price"],
                                                                       raw["side"], raw["uid"])
        assert t.notional_usd == raw["qty"] and t.qty_base == pytest.approx(raw["qty"] / raw["price"])
    assert [t.asset for t in trades] == ["LTC", "BCH", "ETH"]


def test_recorded_session_has_no_errors_and_skips_the_rest():
    stats = NormalizeStats()
    events = list(normalize_lines("kraken-futures", SESSION.read_bytes().splitlines(), stats=stats))
    assert stats.errors == 0 and stats.trades == 3 and stats.liquidations == 0
    for e in events:
        validate_event(e)
    assert {k: stats.skipped[k] for k in ("book", "book_snapshot", "ticker_lite", "trade_snapshot")} == {
        "book": 7014, "book_snapshot": 10, "ticker_lite": 107, "trade_snapshot": 10}
    assert stats.skipped["event:subscribed"] == 30 and stats.skipped["event:info"] == 1


def test_recorded_snapshot_trades_read_as_deltas():
    """The trade_snapshot rows are the venue's own trade messages (feed "trade"): skipped inside the
    snapshot, each one a trade when it arrives alone."""
    rows = [row for m in recorded() if m.get("feed") == "trade_snapshot" for row in m["trades"]]
    assert len(rows) > 500 and {r["type"] for r in rows} == {"fill"}
    kraken = get_venue("kraken-futures")
    for row in rows:
        [t] = parse(row).trades
        assert t.notional_usd == row["qty"] and t.taker_side == row["side"] and t.ts == row["time"]
        assert kraken.trade_rows(row) == [(row["product_id"], row["time"], row["price"], row["qty"],
                                           row["side"] == "sell")]


def test_documented_trade_message():
    msg = doc_example("kraken_futures_trade_docs_example.json")
    r = parse(msg)
    [t] = r.trades
    assert not r.liquidations
    assert (t.symbol, t.asset, t.taker_side, t.ts) == ("PI_XBTUSD", "BTC", "sell", 1612266317519)
    assert t.notional_usd == 15000.0 and t.qty_base == pytest.approx(15000 / 34969.5)
    assert t.trade_id == "05af78ac-a774-478c-a50c-8b9c234e071e"


@pytest.mark.parametrize("side,position", [("sell", "long"), ("buy", "short")])
def test_liquidation_trade_is_a_trade_and_a_liquidation_of_the_taker(side, position):
    """The documented trade message with "type" set to "liquidation" (Kraken documents the type but
    gives no example of it): the liquidated position is taken to be the taker's."""
    msg = dict(doc_example("kraken_futures_trade_docs_example.json"), type="liquidation", side=side)
    r = parse(msg)
    [t], [liq] = r.trades, r.liquidations
    validate_event(liq.model_dump(mode="json"))
    assert liq.side == position and t.taker_side == side
    assert liq.event_id == "kraken-futures:PI_XBTUSD:05af78ac-a774-478c-a50c-8b9c234e071e"
    assert liq.notional_usd == 15000.0 and liq.quantity == pytest.approx(15000 / 34969.5)
    assert liq.ts == 1612266317519 and liq.received_ts == RECV and liq.completeness == "full"
    assert get_venue("kraken-futures").trade_rows(msg) is None  # liquidations go through parse


@pytest.mark.parametrize("kind", ["termination", "block"])
def test_termination_and_block_trades_are_not_taker_flow(kind):
    r = parse(dict(doc_example("kraken_futures_trade_docs_example.json"), type=kind))
    assert not r.trades and not r.liquidations and r.skipped == f"trade:{kind}"


@pytest.mark.parametrize("product_id,asset,unit", [
    ("PI_XBTUSD", "BTC", "usd"), ("FI_ETHUSD_211231", "ETH", "usd"), ("PF_SOLUSD", "SOL", "base"),
    ("FI_XBTUSD_210924", "BTC", "usd"), ("PF_XBTUSD", "BTC", "base"),
])
def test_units_by_product_id(product_id, asset, unit):
    inst = KrakenFutures().instrument(product_id)
    assert (inst.asset, inst.unit, inst.contract_size) == (asset, unit, 1.0)


def test_linear_perpetual_qty_is_base_units():
    """The documented trade with the product id of a linear perpetual and a base-unit qty substituted."""
    msg = dict(doc_example("kraken_futures_trade_docs_example.json"), product_id="PF_XBTUSD", qty=0.25)
    [t] = parse(msg).trades
    assert t.qty_base == 0.25 and t.notional_usd == pytest.approx(0.25 * 34969.5) and t.asset == "BTC"


@pytest.mark.parametrize("product_id,needle", [
    ("PF_XBTEUR", "not quoted in USD"), ("FF_XBTUSD_230331", "units of FF_"), ("BTCUSDT", "not a Kraken Futures"),
])
def test_unknown_or_non_usd_products_are_refused(product_id, needle):
    with pytest.raises(ParseError, match=needle):
        KrakenFutures().check_symbol(product_id)
    r = get_venue("kraken-futures").parse(dict(doc_example("kraken_futures_trade_docs_example.json"),
                                                product_id=product_id), RECV)
    assert r.errors and needle in r.errors[0] and not r.trades


def test_documented_ticker_is_a_leverage_event():
    [ev] = parse(doc_example("kraken_futures_ticker_docs_example.json")).leverage
    assert (ev.venue, ev.symbol, ev.asset, ev.ts, ev.source) == ("kraken-futures", "PI_XBTUSD", "BTC", 1676393235406,
                                                                 "ticker")
    assert ev.open_interest == 30072580.0 and ev.open_interest_usd == 30072580.0  # 1 USD per contract
    assert ev.mark_price == 21979.68641534714
    assert ev.funding_rate == -1.380384722222e-6 and ev.funding_interval_ms is None
    assert ev.next_funding_ts == 1676394000000 and ev.event_id == "kraken-futures:PI_XBTUSD:ticker:1676393235406"


def test_ticker_of_a_linear_perpetual_and_a_zero_funding_rate():
    """The documented ticker with a linear perpetual's product id substituted, and its funding rate
    left out, as Kraken does when the rate is zero."""
    msg = doc_example("kraken_futures_ticker_docs_example.json")
    msg["product_id"] = "PF_XBTUSD"
    del msg["relative_funding_rate"], msg["funding_rate"]
    [ev] = parse(msg).leverage
    assert ev.open_interest_usd == pytest.approx(30072580.0 * 21979.68641534714) and ev.funding_rate == 0.0


def test_futures_ticker_has_no_funding_and_option_tickers_are_skipped():
    msg = doc_example("kraken_futures_ticker_docs_example.json")
    msg["product_id"] = "FI_XBTUSD_230331"
    [ev] = parse(msg).leverage
    assert ev.funding_rate is None and ev.next_funding_ts is None and ev.open_interest_usd == 30072580.0
    r = parse(dict(msg, product_id="OF_ETHUSD_240101_1000_C"))
    assert r.skipped == "option_ticker" and not r.leverage


@pytest.mark.parametrize("msg,needle", [
    ({"event": "error", "message": "Invalid product id"}, "Invalid product id"),
    ({"event": "alert", "message": "Bad websocket message"}, "alert"),
    ({"feed": "trades"}, "unknown feed"),
    ({"foo": 1}, "unknown feed"),
    (dict(doc_example("kraken_futures_trade_docs_example.json"), type="auction"), "trade type"),
    (dict(doc_example("kraken_futures_trade_docs_example.json"), side="Sell"), "side"),
    (dict(doc_example("kraken_futures_trade_docs_example.json"), qty=0), "qty"),
    (dict(doc_example("kraken_futures_ticker_docs_example.json"), markPrice=0), "markPrice"),
    (dict(doc_example("kraken_futures_ticker_docs_example.json"), openInterest=-5.0), "open interest"),
    (dict(doc_example("kraken_futures_ticker_docs_example.json"), time="now"), "time"),
])
def test_errors_say_why(msg, needle):
    r = get_venue("kraken-futures").parse(msg, RECV)
    assert r.errors and needle in r.errors[0]


def test_live_subscriptions_and_refusals():
    spec = KrakenFutures.live
    assert spec.url(["PI_XBTUSD"]) == "wss://futures.kraken.com/ws/v1" and spec.app_ping is None
    assert [json.loads(f) for f in spec.subscribe(["PI_XBTUSD", "PF_ETHUSD"])] == [
        {"event": "subscribe", "feed": "trade", "product_ids": ["PI_XBTUSD", "PF_ETHUSD"]}]
    assert [json.loads(f) for f in spec.leverage_subscribe(["PI_XBTUSD"])] == [
        {"event": "subscribe", "feed": "ticker", "product_ids": ["PI_XBTUSD"]}]
    assert spec.refused({"event": "error", "message": "Invalid product id"}, []) == "Invalid product id"
    assert spec.refused({"event": "subscribed", "feed": "trade", "product_ids": ["PI_XBTUSD"]}, []) is None
    assert spec.refused(doc_example("kraken_futures_trade_docs_example.json"), []) is None


def test_tardis_csv_of_the_recorded_trades_gives_the_message_bars(tmp_path):
    """tardis.dev calls Kraken Futures `cryptofacilities`; `amount` is the venue's qty (USD on PI_/FI_)."""
    rows = sorted((r for m in recorded() if m.get("feed") == "trade_snapshot" for r in m["trades"]),
                  key=lambda r: r["time"])
    csv = [TARDIS_HEADER] + [f"cryptofacilities,{r['product_id']},{r['time'] * 1000},{r['time'] * 1000},{r['uid']},"
                             f"{r['side']},{r['price']},{r['qty']}" for r in rows]
    path = tmp_path / "cryptofacilities_trades_2021-07-22_ALL.csv"
    path.write_text("\n".join(csv) + "\n")
    stats = NormalizeStats()
    got = [e for e in normalize_file(detect(path), stats=stats) if e["type"] == "trade_flow"]
    want = [e for e in normalize_lines("kraken-futures", [orjson.dumps(r) for r in rows]) if e["type"] == "trade_flow"]
    assert stats.errors == 0 and stats.trades == len(rows)
    assert_same_bars(got, want)
    liq = dict(doc_example("kraken_futures_trade_docs_example.json"), type="liquidation")
    [from_message] = parse(liq).liquidations
    path = tmp_path / "cryptofacilities_liquidations_2021-02-02_PI_XBTUSD.csv"
    path.write_text(f"{TARDIS_HEADER}\ncryptofacilities,PI_XBTUSD,{liq['time'] * 1000},{liq['time'] * 1000},"
                    f"{liq['uid']},sell,{liq['price']},{liq['qty']}\n")
    [from_csv] = [e for e in normalize_file(detect(path)) if e["type"] == "liquidation"]
    assert from_csv["event_id"] == from_message.event_id and from_csv["side"] == "long"
    assert from_csv["notional_usd"] == 15000.0


def test_ticker_through_a_live_feed():
    """With leverage on, the feed subscribes `ticker` after `trade` on the same connection."""
    ticker = doc_example("kraken_futures_ticker_docs_example.json")

    def serve(ws, script):
        for _ in range(2):
            sub = json.loads(script.recv(ws))
            for p in sub["product_ids"]:
                ws.send(json.dumps({"event": "subscribed", "feed": sub["feed"], "product_ids": [p]}))
        ws.send(json.dumps(ticker))
        hold(ws, 120)

    script = Script(serve)
    with local_server(script) as url:
        cfg = LiveConfig(venue="kraken-futures", symbols=["PI_XBTUSD"], url=url,
                         **{**FAST, "leverage": True, "leverage_every_s": 0.0})
        _, stats, events, _, _ = run_feed_until(cfg, lambda f, ev: any(e["type"] == "leverage" for e in ev),
                                                "the ticker's leverage event")
    assert [json.loads(m)["feed"] for m in script.received] == ["trade", "ticker"]
    [ev] = [e for e in events if e["type"] == "leverage"]
    assert ev["open_interest_usd"] == 30072580.0 and ev["funding_rate"] == -1.380384722222e-6
    assert stats.errors == 0
