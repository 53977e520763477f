"""The bundled Aug 2025 scenario written out in the archive formats people own, so a backtest over
those files can be compared with a replay of the scenario itself:
- whale transfers, ETF flows, Bybit and OKX bars: a cascadewatch interchange file;
- Binance USDⓈ-M bars: Binance klines CSVs with taker-buy columns (10 s klines, one file per symbol);
- Binance USDⓈ-M liquidations: a tardis.dev liquidations CSV (gzip; side = the order side);
- Bybit liquidations: tardis.dev raw lines of the retired v5 `liquidation.{symbol}` topic;
- OKX liquidations: cryptofeed lines of v5 `liquidation-orders` messages (sizes in contracts)."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson

from pipeline.scenarios import bundled

OKX_CTVAL = {"BTC-USDT-SWAP": 0.01, "ETH-USDT-SWAP": 0.1}


def scenario_events() -> list[dict]:
    return [orjson.loads(x) for x in bundled("aug2025").read_bytes().splitlines() if x.strip()]


def _iso(ms: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ms // 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}0000Z"


def write_scenario_files(root: Path) -> list[Path]:
    events = scenario_events()
    paths: list[Path] = []
    inter = [e for e in events if e["type"] in ("whale_transfer", "etf_flow")
             or (e["type"] == "trade_flow" and e["venue"] != "binance-usdm")]
    p = root / "chain_etf_and_other_bars.jsonl"
    p.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in inter))
    paths.append(p)
    for sym in ("BTCUSDT", "ETHUSDT"):
        rows = ["open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
                "taker_buy_quote_volume,ignore"]
        for b in events:
            if b["type"] == "trade_flow" and b["venue"] == "binance-usdm" and b["symbol"] == sym:
                total = b["buy_volume_usd"] + b["sell_volume_usd"]
                rows.append(f"{b['ts']},{b['open']},{b['high']},{b['low']},{b['close']},{total / b['close']:.6f},"
                            f"{b['ts'] + b['interval_ms'] - 1},{total!r},{b['trade_count']},"
                            f"{b['buy_volume_usd'] / b['close']:.6f},{b['buy_volume_usd']!r},0")
        p = root / f"{sym}-10s-2025-08-24.csv"
        p.write_text("\n".join(rows) + "\n")
        paths.append(p)
    liqs = [e for e in events if e["type"] == "liquidation"]
    rows = ["exchange,symbol,timestamp,local_timestamp,id,side,price,amount"]
    for e in liqs:
        if e["venue"] == "binance-usdm":
            side = "sell" if e["side"] == "long" else "buy"
            rows.append(f"binance-futures,{e['symbol']},{e['ts'] * 1000},{e['received_ts'] * 1000},,{side},"
                        f"{e['price']!r},{e['quantity']!r}")
    p = root / "binance-futures_liquidations_2025-08-24_ALL.csv.gz"
    p.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    paths.append(p)
    lines = []
    for e in liqs:
        if e["venue"] == "bybit":
            msg = {"data": {"price": str(e["price"]), "side": "Buy" if e["side"] == "long" else "Sell",
                            "size": str(e["quantity"]), "symbol": e["symbol"], "updatedTime": e["ts"]},
                   "topic": f"liquidation.{e['symbol']}", "ts": e["ts"], "type": "snapshot"}
            lines.append(_iso(e["received_ts"]).encode() + b" " + orjson.dumps(msg))
    p = root / "bybit_2025-08-24.log"
    p.write_bytes(b"\n".join(lines) + b"\n")
    paths.append(p)
    lines = []
    for e in liqs:
        if e["venue"] == "okx":
            sz = e["quantity"] / OKX_CTVAL[e["symbol"]]
            msg = {"arg": {"channel": "liquidation-orders", "instType": "SWAP"},
                   "data": [{"details": [{"bkLoss": "0", "bkPx": str(e["price"]), "ccy": "", "posSide": e["side"],
                                          "side": "sell" if e["side"] == "long" else "buy", "sz": repr(sz),
                                          "ts": str(e["ts"])}],
                             "instFamily": e["symbol"][:-5], "instId": e["symbol"], "instType": "SWAP"}]}
            lines.append(b"%.3f: " % (e["received_ts"] / 1000) + orjson.dumps(msg))
    p = root / "OKX.ws.liquidations"
    p.write_bytes(b"\n".join(lines) + b"\n")
    paths.append(p)
    return paths
