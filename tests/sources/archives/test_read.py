"""Archive files through `detect` + `normalize_file`: each format gives the events its messages give,
receipt times become received_ts (and BitMEX liquidation times), packing does not matter, and bad
rows are reported without losing the good ones."""

from __future__ import annotations

import orjson
import pytest

from pipeline.sources.archives import detect, normalize_file
from pipeline.sources.exchanges.base import iso_ms
from pipeline.sources.exchanges.normalize import NormalizeStats, normalize_lines

from .builders import (
    assert_same_bars,
    aggtrades,
    binance_aggtrades_csv,
    binance_klines_csv,
    binance_liquidation_snapshot_csv,
    binance_trades_csv,
    doc_example,
    gzipped,
    kline_messages,
    recorded,
    tardis_raw,
    tardis_trades_csv,
    validate_event,
    zipped,
)

SYMBOL = "SUSHIUSDT"


def events(path, **kw):
    st = NormalizeStats()
    out = list(normalize_file(detect(path, **kw), stats=st))
    for ev in out:
        if ev["type"] != "error":
            validate_event(ev)
    return out, st


def message_bars(symbol=None):
    lines = (b"%.6f: " % t + body for t, body in recorded("BINANCE_FUTURES.ws.1.0"))
    return [e for e in normalize_lines("binance-usdm", lines)
            if e["type"] == "trade_flow" and (symbol is None or e["symbol"] == symbol)]


def test_tardis_raw_bitmex_receipt_time_is_event_time(tmp_path):
    msgs = recorded("BITMEX.ws.1.0")
    t_liq = msgs[-1][0] + 0.25
    liq = orjson.dumps({"table": "liquidation", "action": "insert", "data": [
        {"orderID": "a1b2", "symbol": "XBTUSD", "side": "Sell", "price": 32000, "leavesQty": 6000}]})
    path = tmp_path / "bitmex_2021-07-22.log"
    path.write_bytes(tardis_raw(msgs + [(t_liq, liq)]))
    out, st = events(path)
    [lq] = [e for e in out if e["type"] == "liquidation"]
    assert lq["ts"] == lq["received_ts"] == int(t_liq * 1000)
    assert lq["side"] == "long" and lq["notional_usd"] == 6000.0
    # the same trades read from the cryptofeed spelling of the recording give the same bars
    plain = (b"%.6f: " % t + body for t, body in msgs)
    bars = [e for e in normalize_lines("bitmex", plain) if e["type"] == "trade_flow"]
    assert bars and [e for e in out if e["type"] == "trade_flow"] == bars
    assert st.errors == 0
    gz = tmp_path / "bitmex_2021-07-22.log.gz"
    gz.write_bytes(gzipped(path.read_bytes()))
    assert events(gz)[0] == out


def test_tardis_raw_venue_from_messages_and_bad_receipt_time(tmp_path):
    msgs = recorded("BYBIT.ws.26.0")
    data = tardis_raw(msgs).splitlines()
    data.insert(40, b"2021-13-45T99:00:00.0000000Z {\"topic\":\"trade.BTCUSD\",\"data\":[]}")
    path = tmp_path / "capture.txt"
    path.write_bytes(b"\n".join(data) + b"\n")
    src = detect(path)
    assert (src.fmt, src.venue) == ("messages", "bybit")
    out, st = events(path)
    assert st.errors == 1 and [e for e in out if e["type"] == "error"][0]["line"] == 41
    assert st.trades > 100 and all(e["type"] in ("trade_flow", "error") for e in out)


@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("pack", ["csv", "zip"])
def test_binance_aggtrades_archive_gives_the_message_bars(tmp_path, header, pack):
    data = binance_aggtrades_csv(SYMBOL, header=header)
    name = f"{SYMBOL}-aggTrades-2021-07-22"
    path = tmp_path / f"{name}.{pack}"
    path.write_bytes(zipped(f"{name}.csv", data) if pack == "zip" else data)
    src = detect(path)
    assert (src.fmt, src.venue, src.symbol) == ("binance-aggtrades", "binance-usdm", SYMBOL)
    out, st = events(path)
    assert out
    assert_same_bars(out, message_bars(SYMBOL))
    assert st.trades == len(aggtrades(SYMBOL)) and st.errors == 0


def test_binance_trades_archive(tmp_path):
    path = tmp_path / f"{SYMBOL}-trades-2021-07-22.csv"
    path.write_bytes(binance_trades_csv(SYMBOL))
    out, _ = events(path)
    assert_same_bars(out, message_bars(SYMBOL))


def test_binance_klines_one_minute_bars_with_taker_buy(tmp_path):
    sym = "CTKUSDT"
    path = tmp_path / f"{sym}-1m-2021-07-22.csv"
    path.write_bytes(binance_klines_csv(sym))
    out, st = events(path)
    assert (detect(path).fmt, st.errors) == ("binance-klines", 0)
    ks = kline_messages(sym)
    assert len(out) == len(ks) > 0
    for bar in out:
        k = ks[bar["ts"]]
        assert bar["interval_ms"] == 60_000
        assert bar["buy_volume_usd"] == pytest.approx(float(k["Q"]))
        assert bar["sell_volume_usd"] == pytest.approx(float(k["q"]) - float(k["Q"]))
        assert bar["close"] == float(k["c"]) and bar["trade_count"] == k["n"]


def test_binance_coinm_liquidation_snapshot_is_the_force_order_event(tmp_path):
    msg = doc_example("binance_coinm_forceOrder_docs_example.json")
    path = tmp_path / "BTCUSD_200925-liquidationSnapshot-2020-06-03.csv"
    path.write_bytes(binance_liquidation_snapshot_csv([msg["o"]]))
    src = detect(path)
    assert (src.fmt, src.venue) == ("binance-liquidations", "binance-coinm")
    [liq], _ = events(path)
    [from_msg] = [e for e in normalize_lines("binance-coinm", [orjson.dumps(msg)], now_ms=1)
                  if e["type"] == "liquidation"]
    assert liq["event_id"] == from_msg["event_id"]
    for key in ("side", "notional_usd", "price", "quantity", "ts", "asset"):
        assert liq[key] == from_msg[key], key
    assert liq["side"] == "long" and liq["notional_usd"] == 100.0


def test_tardis_trades_csv_gives_the_message_bars(tmp_path):
    path = tmp_path / "binance-futures_trades_2021-07-22_ALL.csv.gz"
    path.write_bytes(gzipped(tardis_trades_csv()))
    src = detect(path)
    assert (src.fmt, src.venue) == ("tardis-trades", None)
    out, st = events(path)
    assert_same_bars(out, message_bars())
    assert st.trades == len(aggtrades())


def test_tardis_liquidations_csv_order_side_units_and_bad_rows(tmp_path):
    usdm = doc_example("binance_usdm_forceOrder_docs_example.json")["o"]
    rows = [
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount",
        f"binance-futures,BTCUSDT,{usdm['T'] * 1000},{usdm['T'] * 1000 + 5123},,sell,{usdm['ap']},{usdm['z']}",
        # Bybit's docs example (allLiquidation, S "Sell" = a short liquidated) as its order side: buy
        "bybit,ROSEUSDT,1739502302929000,1739502303204000,,buy,0.04499,20000",
        "bitmex,XBTUSD,1626993370014000,1626993370014000,a1b2,sell,32000,6000",
        "bitmex,XBTUSD,1626993370014000,1626993370014000,a1b3,long,32000,6000",
        "kraken,PI_XBTUSD,1626993370014000,1626993370014000,x,sell,32000,6000",
        "okex-swap,BTC-USD-SWAP,1626993370014000,1626993370014000,,buy,32000,-3",
        "okex-swap,BTC-USD-SWAP,1626993370014000,1626993370014000,,buy,32000,3",
    ]
    path = tmp_path / "mixed_liquidations_2021-07-22.csv"
    path.write_bytes(("\n".join(rows) + "\n").encode())
    out, st = events(path)
    good = [e for e in out if e["type"] == "liquidation"]
    bad = [e for e in out if e["type"] == "error"]
    assert [b["line"] for b in bad] == [5, 6, 7] and st.errors == 3 and len(good) == 4
    b, y, x, o = good
    assert b["side"] == "long" and b["ts"] == usdm["T"] and b["received_ts"] == usdm["T"] + 5
    assert b["notional_usd"] == pytest.approx(0.014 * 9910) and b["venue"] == "binance-usdm"
    assert y["side"] == "short" and y["notional_usd"] == pytest.approx(20000 * 0.04499) and y["completeness"] == "full"
    assert x["event_id"] == "bitmex:XBTUSD:a1b2" and x["notional_usd"] == 6000.0
    assert o["venue"] == "okx" and o["notional_usd"] == 300.0  # 3 contracts of 100 USD


def test_iso_receipt_times():
    assert iso_ms("2021-07-22T22:36:07.8652671Z") == 1626993367865
    assert iso_ms("2020-03-12T10:15:21Z") == 1584008121000


def test_bad_rows_in_small_blocks_lose_nothing(tmp_path, monkeypatch):
    from pipeline.sources.archives import trade_blocks

    monkeypatch.setattr(trade_blocks, "BLOCK_LINES", 7)
    good = binance_aggtrades_csv(SYMBOL).splitlines()
    bad = list(good)
    bad.insert(10, b"123,notaprice,1,1,1,1626992745000,true")
    bad.insert(20, b"124,7.6,1,1,1,1626992745000")
    path = tmp_path / f"{SYMBOL}-aggTrades-2021-07-22.csv"
    path.write_bytes(b"\n".join(bad) + b"\n")
    out, st = events(path)
    errors = [e for e in out if e["type"] == "error"]
    assert [e["line"] for e in errors] == [11, 21] and st.errors == 2
    assert "7 columns" in errors[1]["detail"]
    assert st.trades == len(good) - 1
    assert_same_bars([e for e in out if e["type"] == "trade_flow"], message_bars(SYMBOL))
