"""Bars from the real cryptofeed recordings: counts, OHLC consistency, volume conservation."""

from __future__ import annotations

import calendar
import math
from collections import defaultdict
from datetime import datetime

import pytest
from typer.testing import CliRunner

from pipeline.sources.exchanges.base import MetaLine, split_line
from pipeline.sources.exchanges.cli import normalize, normalize_app
from pipeline.sources.exchanges.normalize import NormalizeStats, normalize_lines

from .conftest import SESSIONS, validate_event

# venue, file, trades expected (counted independently of the parsers below), symbols
CASES = [
    ("binance-usdm", "BINANCE_FUTURES.ws.1.0", 91, {"SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT"}),
    ("bybit", "BYBIT.ws.26.0", None, {"BTCUSD", "EOSUSD"}),
    ("okx", "OKX.ws.1.0", None, {"BTC-USD-220527", "UNI-USD-SWAP", "BTC-USDT"}),
    ("bitmex", "BITMEX.ws.1.0", None, None),
    ("deribit", "DERIBIT.ws.1.0", 0, set()),
    ("kraken-futures", "KRAKEN_FUTURES.ws.1.0", 3, {"PI_LTCUSD", "FI_BCHUSD_210730", "PI_ETHUSD"}),
    ("coinbase", "COINBASE.ws.28.0", 52, {"SKL-USD"}),
]


def raw_trades(venue: str, path) -> list[dict]:
    """The trades in a recording, read with plain dict access (independent of the parser code)."""
    out = []
    for line in path.read_bytes().splitlines():
        try:
            _, msg = split_line(line)
        except MetaLine:
            continue
        if venue == "binance-usdm" and msg.get("data", {}).get("e") == "aggTrade":
            d = msg["data"]
            out.append({"symbol": d["s"], "usd": float(d["p"]) * float(d["q"]), "price": float(d["p"]),
                        "buy": not d["m"], "ts": d["T"]})
        elif venue == "bybit" and str(msg.get("topic", "")).startswith("trade."):
            for d in msg["data"]:
                out.append({"symbol": d["symbol"], "usd": float(d["size"]), "price": float(d["price"]),
                            "buy": d["side"] == "Buy", "ts": d["trade_time_ms"]})
        elif venue == "okx" and msg.get("arg", {}).get("channel") == "trades" and "data" in msg:
            for d in msg["data"]:
                face = {"BTC-USD-220527": 100.0, "UNI-USD-SWAP": 10.0}.get(d["instId"])
                usd = float(d["sz"]) * face if face else float(d["sz"]) * float(d["px"])
                out.append({"symbol": d["instId"], "usd": usd, "price": float(d["px"]), "buy": d["side"] == "buy",
                            "ts": int(d["ts"])})
        elif venue == "kraken-futures" and msg.get("feed") == "trade" and msg.get("type") == "fill":
            # PI_ and FI_ contracts are 1 USD each; `side` is the taker side
            out.append({"symbol": msg["product_id"], "usd": float(msg["qty"]), "price": float(msg["price"]),
                        "buy": msg["side"] == "buy", "ts": msg["time"]})
        elif venue == "coinbase" and msg.get("type") == "match" and msg["product_id"].endswith("-USD"):
            # `side` is the maker's: a maker sell is a taker buy
            t = datetime.strptime(msg["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
            out.append({"symbol": msg["product_id"], "usd": float(msg["size"]) * float(msg["price"]),
                        "price": float(msg["price"]), "buy": msg["side"] == "sell",
                        "ts": calendar.timegm(t.timetuple()) * 1000 + t.microsecond // 1000})
        elif venue == "bitmex" and msg.get("table") == "trade" and msg.get("action") == "insert":
            for d in msg["data"]:
                if d["symbol"] in ("XRPU21", "TRXU21"):
                    continue  # quoted in XBT
                out.append({"symbol": d["symbol"], "usd": float(d["foreignNotional"]), "price": float(d["price"]),
                            "buy": d["side"] == "Buy", "ts": None})
    return out


@pytest.mark.parametrize("venue,fname,n_trades,symbols", CASES)
def test_recorded_session_bars(venue, fname, n_trades, symbols):
    path = SESSIONS / fname
    stats = NormalizeStats()
    events = list(normalize_lines(venue, path.read_bytes().splitlines(), stats=stats))
    assert stats.errors == 0, [e for e in events if e["type"] == "error"][:3]
    assert stats.liquidations == 0  # the recordings hold no liquidations
    bars = [e for e in events if e["type"] == "trade_flow"]
    assert len(bars) == stats.bars
    for b in bars:
        validate_event(b)
        assert b["low"] <= min(b["open"], b["close"]) <= max(b["open"], b["close"]) <= b["high"]
        assert b["trade_count"] >= 1 and b["ts"] % 1000 == 0 and b["venue"] == venue
    # one bar per (symbol, second), never twice
    assert len({(b["symbol"], b["ts"]) for b in bars}) == len(bars)
    expected = raw_trades(venue, path)
    if n_trades is not None:
        assert len(expected) == n_trades
    assert stats.trades == len(expected) == sum(b["trade_count"] for b in bars)
    assert stats.late_trades == 0
    # buy + sell volume equals the summed trade notionals, per symbol and side
    want = defaultdict(float)
    for t in expected:
        want[(t["symbol"], t["buy"])] += t["usd"]
    got = defaultdict(float)
    for b in bars:
        got[(b["symbol"], True)] += b["buy_volume_usd"]
        got[(b["symbol"], False)] += b["sell_volume_usd"]
    for key in set(want) | set(got):
        assert math.isclose(got[key], want[key], rel_tol=1e-9, abs_tol=1e-9), key
    if symbols is not None:
        assert {b["symbol"] for b in bars} == symbols
    # per-bar OHLC against the raw trades where the trade time is known
    by_bar = defaultdict(list)
    for t in expected:
        if t["ts"] is not None:
            by_bar[(t["symbol"], t["ts"] - t["ts"] % 1000)].append(t)
    for b in bars:
        ts = by_bar.get((b["symbol"], b["ts"]))
        if ts:
            assert b["open"] == ts[0]["price"] and b["close"] == ts[-1]["price"]
            assert b["high"] == max(t["price"] for t in ts) and b["low"] == min(t["price"] for t in ts)
            assert b["trade_count"] == len(ts)


def test_bitmex_xbtusd_real_trades_in_usd():
    events = list(normalize_lines("bitmex", (SESSIONS / "BITMEX.ws.1.0").read_bytes().splitlines()))
    xbt = [e for e in events if e.get("symbol") == "XBTUSD"]
    assert xbt and all(e["asset"] == "BTC" for e in xbt)


def test_normalize_is_deterministic_for_recordings():
    lines = (SESSIONS / "OKX.ws.1.0").read_bytes().splitlines()
    assert list(normalize_lines("okx", lines)) == list(normalize_lines("okx", lines))


def test_cli_recorded_file_with_garbage(tmp_path):
    src = (SESSIONS / "BINANCE_FUTURES.ws.1.0").read_bytes().splitlines()
    garbage = [b"not json at all", b"1626992741.5: {broken", b'{"e": "somethingNew"}', b"[1, 2, 3]",
               b'1626992742.0: {"stream":"x@forceOrder","data":{"e":"forceOrder","o":{"s":"BTCUSDT"}}}']
    path = tmp_path / "rec.txt"
    path.write_bytes(b"\n".join(src[:200] + garbage + src[200:]) + b"\n")
    runner = CliRunner()
    result = runner.invoke(normalize_app, ["normalize", "--venue", "binance-usdm", str(path)])
    assert result.exit_code == 0, result.output
    out_lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert out_lines and all('"type":"trade_flow"' in ln for ln in out_lines)
    assert "errors: 5" in result.stderr
    assert result.stderr.count("line ") >= 5


def test_cli_stdin_and_mountable_function():
    import typer

    app = typer.Typer()
    app.command("normalize")(normalize)

    @app.callback()
    def _root() -> None: ...

    doc = (SESSIONS.parent / "docs_examples" / "bybit_v5_allLiquidation_docs_example.json").read_text()
    result = CliRunner().invoke(app, ["normalize", "--venue", "bybit"], input=doc + "\ngarbage\n")
    assert result.exit_code == 0
    [line] = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert '"type":"liquidation"' in line and '"side":"short"' in line
    assert "errors: 1" in result.stderr
    bad = CliRunner().invoke(app, ["normalize", "--venue", "nope"], input="")
    assert bad.exit_code == 2


def test_a_binance_spot_recording_is_refused_unless_the_venue_is_given():
    """Spot messages are shaped like USDⓈ-M ones; the session's connection line names the spot host. Read as
    binance-usdm on purpose, its bookTickers (no "e" on spot) are skipped, not errors."""
    path = SESSIONS / "BINANCE.ws.1.0"
    refused = CliRunner().invoke(normalize_app, ["normalize", str(path)])
    assert refused.exit_code != 0 and "Binance spot session (stream.binance.com)" in refused.output
    stats = NormalizeStats()
    list(normalize_lines("binance-usdm", path.read_bytes().splitlines(), stats=stats))
    assert stats.skipped.get("bookTicker", 0) >= 80
    assert stats.errors == 1  # LRCBTC: no USD-like quote
