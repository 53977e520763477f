"""Archive-format files built from real recordings and the venues' documented examples, in the
layouts the providers publish (tardis.dev raw and CSV, Binance archive CSVs). Built at test time
from tests/data/exchange_samples, so every row traces back to a recorded or documented message."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import orjson
import pytest

from pipeline.contracts.models import Liquidation, TradeFlow

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "tests" / "data" / "exchange_samples"
SESSIONS = SAMPLES / "cryptofeed_sessions"
DOCS = SAMPLES / "docs_examples"
TARDIS_HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"


def doc_example(name: str) -> dict:
    return json.loads((DOCS / name).read_text())


def recorded(name: str) -> list[tuple[float, bytes]]:
    """(receive time in s, raw message) of a cryptofeed recording, connection lines left out."""
    out = []
    for line in (SESSIONS / name).read_bytes().splitlines():
        if line.startswith(b"wss://") or not line.strip():
            continue
        stamp, _, body = line.partition(b": ")
        out.append((float(stamp), body))
    return out


def iso(seconds: float) -> str:
    """tardis.dev's receipt-time spelling: UTC, 7 fractional digits, 'Z'."""
    whole = int(seconds)
    frac = round((seconds - whole) * 10**7)
    return datetime.fromtimestamp(whole, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:07d}Z"


def tardis_raw(messages: list[tuple[float, bytes]]) -> bytes:
    return b"".join(iso(t).encode() + b" " + body + b"\n" for t, body in messages)


def aggtrades(symbol: str | None = None) -> list[tuple[float, dict]]:
    """The aggTrade payloads of the Binance futures recording (2021-07-22)."""
    out = []
    for t, body in recorded("BINANCE_FUTURES.ws.1.0"):
        msg = orjson.loads(body)
        data = msg.get("data", {})
        if data.get("e") == "aggTrade" and (symbol is None or data["s"] == symbol):
            out.append((t, data))
    return out


def binance_aggtrades_csv(symbol: str, header: bool = True) -> bytes:
    rows = ["agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"] if header else []
    for _, d in aggtrades(symbol):
        rows.append(f"{d['a']},{d['p']},{d['q']},{d['f']},{d['l']},{d['T']},{str(d['m']).lower()}")
    return ("\n".join(rows) + "\n").encode()


def binance_trades_csv(symbol: str) -> bytes:
    rows = ["id,price,qty,quote_qty,time,is_buyer_maker"]
    for _, d in aggtrades(symbol):
        rows.append(f"{d['a']},{d['p']},{d['q']},{float(d['p']) * float(d['q']):.8f},{d['T']},{str(d['m']).lower()}")
    return ("\n".join(rows) + "\n").encode()


def kline_messages(symbol: str) -> dict[int, dict]:
    """The last kline payload per open time of the recording, as the archive keeps one row per kline."""
    last: dict[int, dict] = {}
    for _, body in recorded("BINANCE_FUTURES.ws.1.0"):
        data = orjson.loads(body).get("data", {})
        if data.get("e") == "kline" and data["s"] == symbol:
            last[data["k"]["t"]] = data["k"]
    return last


def binance_klines_csv(symbol: str, header: bool = True) -> bytes:
    rows = (["open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
             "taker_buy_quote_volume,ignore"] if header else [])
    for k in kline_messages(symbol).values():
        rows.append(f"{k['t']},{k['o']},{k['h']},{k['l']},{k['c']},{k['v']},{k['T']},{k['q']},{k['n']},"
                    f"{k['V']},{k['Q']},0")
    return ("\n".join(rows) + "\n").encode()


def binance_liquidation_snapshot_csv(orders: list[dict]) -> bytes:
    rows = ["time,side,order_type,time_in_force,original_quantity,price,average_price,order_status,"
            "last_fill_quantity,accumulated_fill_quantity"]
    for o in orders:
        rows.append(f"{o['T']},{o['S']},{o['o']},{o['f']},{o['q']},{o['p']},{o['ap']},{o['X']},{o['l']},{o['z']}")
    return ("\n".join(rows) + "\n").encode()


def tardis_trades_csv() -> bytes:
    rows = [TARDIS_HEADER]
    for t, d in aggtrades():
        side = "sell" if d["m"] else "buy"
        rows.append(f"binance-futures,{d['s']},{d['T'] * 1000},{round(t * 1e6)},{d['a']},{side},{d['p']},{d['q']}")
    return ("\n".join(rows) + "\n").encode()


def zipped(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return buf.getvalue()


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)


_VALIDATORS = {k: jsonschema.Draft202012Validator(json.loads((ROOT / "schemas" / f"{k}.schema.json").read_text()))
               for k in ("liquidation", "trade_flow")}
_MODELS = {"liquidation": Liquidation, "trade_flow": TradeFlow}


def validate_event(obj: dict) -> None:
    """An emitted event dict satisfies both the pydantic model and the JSON Schema."""
    _VALIDATORS[obj["type"]].validate(obj)
    _MODELS[obj["type"]].model_validate(obj)


def assert_same_bars(got: list[dict], want: list[dict]) -> None:
    """The same bars, in any order; USD sums equal up to float summation order."""
    key = lambda b: (b["ts"], b["venue"], b["symbol"])  # noqa: E731
    got, want = sorted(got, key=key), sorted(want, key=key)
    assert [key(b) for b in got] == [key(b) for b in want]
    for g, w in zip(got, want):
        for field, value in w.items():
            if field.endswith("_usd"):
                assert g[field] == pytest.approx(value, rel=1e-9, abs=1e-9), (key(w), field)
            else:
                assert g[field] == value, (key(w), field)
