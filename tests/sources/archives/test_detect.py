"""Format, venue and symbol detection, and the clear refusals when a file cannot say."""

from __future__ import annotations

import io
import zipfile

import pytest

from pipeline.sources.archives import detect
from pipeline.sources.archives.files import ArchiveError

from .builders import binance_aggtrades_csv, tardis_trades_csv


def test_names_and_headers(tmp_path):
    cases = {
        "BTCUSD_PERP-aggTrades-2024-08-05.csv": (binance_aggtrades_csv("SUSHIUSDT", header=False),
                                                 ("binance-aggtrades", "binance-coinm", "BTCUSD_PERP")),
        "binance-futures_liquidations_2024-08-05_BTCUSDT.csv": (tardis_trades_csv(), ("tardis-liquidations", None, None)),
        "OKX.ws.1.0": (b'{"arg":{"channel":"trades"},"data":[]}\n', ("messages", "okx", None)),
        "BINANCE_DELIVERY.ws.1.0": (b'{"e":"aggTrade"}\n', ("messages", "binance-coinm", None)),
        "x.jsonl": (b'{"jsonrpc":"2.0","method":"subscription","params":{}}\n', ("messages", "deribit", None)),
        "kraken.txt": (b"wss://futures.kraken.com/ws/v1 <-> 1626994927.139662\n", ("messages", "kraken-futures", None)),
        "KRAKEN_FUTURES.ws.2.0": (b'{"event":"info","version":1}\n', ("messages", "kraken-futures", None)),
        "kf.jsonl": (b'{"event":"info","version":1}\n{"event":"subscribed","feed":"trade","product_ids":[]}\n',
                     ("messages", "kraken-futures", None)),
        "cb.txt": (b"wss://ws-feed.pro.coinbase.com <-> 1618677816.8434298\n", ("messages", "coinbase", None)),
        "COINBASE.ws.1.0": (b'{"type":"heartbeat"}\n', ("messages", "coinbase", None)),
        "cb.jsonl": (b'{"type":"match","trade_id":1,"side":"sell","size":"1","price":"1","product_id":"BTC-USD"}\n',
                     ("messages", "coinbase", None)),
        "session.txt": (b"wss://dstream.binance.com/stream?streams=btcusd_perp@aggTrade <-> 1626992740.5\n"
                        b'1626992741.5: {"stream":"btcusd_perp@aggTrade","data":{"e":"aggTrade","s":"BTCUSD_PERP"}}\n',
                        ("messages", "binance-coinm", None)),
    }
    for name, (data, want) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        src = detect(path)
        assert (src.fmt, src.venue, src.symbol) == want, name


@pytest.mark.parametrize("name,data,needle", [
    ("export.csv", b"exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n", "tardis-trades or"),
    ("notes.txt", b"hello world\n", "unknown format"),
    ("x.jsonl", b'{"hello": 1}\n', "give --venue"),
    ("BTCUSDT-aggTrades-2024-08-05.csv", b"1,2,3\n", "3 columns, not 7"),
    ("empty.csv", b"\n\n", "empty file"),
    ("BINANCE.ws.1.0", b"wss://stream.binance.com:9443/stream?streams=nknusdt@aggTrade <-> 1633998511.159679\n"
                       b'1633998513.3: {"stream":"nknusdt@aggTrade","data":{"e":"aggTrade","s":"NKNUSDT"}}\n',
     "Binance spot session"),
])
def test_refusals_say_why(tmp_path, name, data, needle):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ArchiveError, match=needle):
        detect(path)


def test_zip_with_two_members_is_refused(tmp_path):
    path = tmp_path / "BTCUSDT-aggTrades-2024-08-05.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.csv", "1")
        zf.writestr("b.csv", "2")
    path.write_bytes(buf.getvalue())
    with pytest.raises(ArchiveError, match="exactly one file"):
        detect(path)
