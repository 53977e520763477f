"""Which format a data file is in, and which venue and symbol it is for.

Told from the file's first lines (CSV header or message shape) and, where the content cannot say,
from the name the provider gives its files:
tardis.dev datasets `{exchange}_{trades|liquidations}_{date}_{symbol}.csv.gz`, Binance archives
`{SYMBOL}-{aggTrades|trades|liquidationSnapshot|1m}-{date}.zip`, cryptofeed `BYBIT.ws.26.0`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from pipeline.contracts.models import INPUT_TYPES
from pipeline.sources.exchanges import VENUES
from pipeline.sources.exchanges.base import MetaLine, split_line

from .files import ArchiveError, first_lines

FORMATS = {
    "interchange": "cascadewatch events, one JSON object per line with an event `type` "
                   "(whale transfers, ETF flows, already normalized events)",
    "messages": "venue websocket messages, one per line: bare JSON, cryptofeed '<epoch>: <json>' or "
                "tardis.dev raw '<ISO time> <json>' (needs the venue)",
    "tardis-trades": "tardis.dev normalized trades CSV (exchange,symbol,timestamp,local_timestamp,id,side,price,amount)",
    "tardis-liquidations": "tardis.dev normalized liquidations CSV (same columns; side = liquidation order side)",
    "binance-aggtrades": "Binance futures archive aggTrades CSV -> 1 s taker-flow bars",
    "binance-trades": "Binance futures archive trades CSV -> 1 s taker-flow bars",
    "binance-klines": "Binance futures archive klines CSV with taker-buy columns -> bars of the kline interval",
    "binance-liquidations": "Binance COIN-M archive liquidationSnapshot CSV",
    "hyperliquid-node-fills": "a Hyperliquid node's fills (node_fills or node_fills_by_block lines): "
                              "liquidations of the liquidated users and 1 s taker-flow bars",
}

TARDIS_HEADER = b"exchange,symbol,timestamp,local_timestamp,id,side,price,amount"
_BINANCE_HEADERS = {
    b"agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker": "binance-aggtrades",
    b"id,price,qty,quote_qty,time,is_buyer_maker": "binance-trades",
    b"open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    b"taker_buy_quote_volume,ignore": "binance-klines",
    b"time,side,order_type,time_in_force,original_quantity,price,average_price,order_status,"
    b"last_fill_quantity,accumulated_fill_quantity": "binance-liquidations",
}
# Binance files written before the archives had headers: told by the name and the column count.
_BINANCE_NAME = re.compile(r"^([A-Z0-9]+(?:_[A-Z0-9]+)?)-(aggTrades|trades|liquidationSnapshot|\d+[smhdwM])-\d{4}-\d{2}")
_BINANCE_KIND = {"aggTrades": ("binance-aggtrades", 7), "trades": ("binance-trades", 6),
                 "liquidationSnapshot": ("binance-liquidations", 10)}
# Venue names as providers and recorders spell them.
VENUE_ALIASES = {
    "binance-futures": "binance-usdm", "binance_futures": "binance-usdm", "binance-usdm": "binance-usdm",
    "binance-delivery": "binance-coinm", "binance_delivery": "binance-coinm", "binance-coinm": "binance-coinm",
    "bybit": "bybit", "okex-swap": "okx", "okex-futures": "okx", "okex": "okx", "okx": "okx",
    "bitmex": "bitmex", "deribit": "deribit", "hyperliquid": "hyperliquid",
    "cryptofacilities": "kraken-futures", "kraken-futures": "kraken-futures", "kraken_futures": "kraken-futures",
    "coinbase": "coinbase",
}


@dataclass(frozen=True)
class ArchiveSource:
    path: Path
    fmt: str
    venue: str | None = None  # None: given per row (tardis CSV)
    symbol: str | None = None  # Binance archives: the file's symbol


def venue_from_name(name: str) -> str | None:
    low = name.lower()
    for alias in sorted(VENUE_ALIASES, key=len, reverse=True):
        if low.startswith(alias):
            return VENUE_ALIASES[alias]
    return None


def binance_venue(symbol: str) -> str:
    """COIN-M symbols are USD-quoted with a contract suffix (BTCUSD_PERP, BTCUSD_200925)."""
    root = symbol.split("_", 1)[0]
    return "binance-coinm" if "_" in symbol and root.endswith("USD") else "binance-usdm"


# A recorder's connection line (cryptofeed's 'wss://host/... <->') names the host, which tells the market apart
# where the messages cannot: a Binance spot session is shaped like USDⓈ-M futures messages.
_HOST_VENUES = {"fstream.binance.com": "binance-usdm", "dstream.binance.com": "binance-coinm",
                "futures.kraken.com": "kraken-futures", "www.cryptofacilities.com": "kraken-futures",
                "ws-feed.exchange.coinbase.com": "coinbase", "ws-feed.pro.coinbase.com": "coinbase"}
_SPOT_HOSTS = {"stream.binance.com": "Binance spot", "stream.binance.us": "Binance.US spot",
               "data-stream.binance.vision": "Binance spot"}


def connection_host(lines: list[bytes]) -> str | None:
    """The host of the first connection line among `lines`, if any."""
    for line in lines:
        if line.startswith((b"wss://", b"ws://")):
            return urlsplit(line.split()[0].decode("ascii", "replace")).hostname
    return None


def venue_from_connection(path: Path, lines: list[bytes]) -> str | None:
    """The venue a session's connection line names; ArchiveError for a spot market's session."""
    host = connection_host(lines)
    if host in _SPOT_HOSTS:
        raise ArchiveError(f"{path.name}: a {_SPOT_HOSTS[host]} session ({host}): cascadewatch reads Binance futures "
                           "(fstream.binance.com, dstream.binance.com); spot trades are not a futures venue's taker flow "
                           "and spot has no liquidations. Give --venue to read it anyway")
    return _HOST_VENUES.get(host) if host else None


_COINBASE_TYPES = {"match", "last_match", "subscriptions", "snapshot", "l2update", "ticker", "heartbeat"}


def venue_from_message(line: bytes) -> str | None:
    """A venue guessed from one message's shape, for files whose name does not say."""
    try:
        _, msg = split_line(line)
    except (MetaLine, ValueError):
        return None
    if not isinstance(msg, dict):
        return None
    if "stream" in msg and isinstance(msg.get("data"), dict):
        msg = msg["data"]
    if "e" in msg:
        sym = msg.get("s") or (msg.get("o") or {}).get("s") or ""
        return binance_venue(sym) if isinstance(sym, str) else "binance-usdm"
    if "topic" in msg:
        return "bybit"
    if "arg" in msg or (isinstance(msg.get("table"), str) and "/" in msg["table"]):
        return "okx"
    if "table" in msg:
        return "bitmex"
    if msg.get("method") == "subscription" or msg.get("jsonrpc"):
        return "deribit"
    if "feed" in msg:
        return "kraken-futures"
    if msg.get("type") in _COINBASE_TYPES and ("product_id" in msg or "channels" in msg):
        return "coinbase"
    if "channel" in msg:
        return "hyperliquid"
    return None


def detect(path: str | Path, *, fmt: str | None = None, venue: str | None = None) -> ArchiveSource:
    """The format (unless given) and venue of one file; ArchiveError with the reason when unknown."""
    path = Path(path)
    if fmt is not None and fmt not in FORMATS:
        raise ArchiveError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if venue is not None and venue not in VENUES:
        raise ArchiveError(f"unknown venue {venue!r}; known: {', '.join(VENUES)}")
    lines = first_lines(path, 5)
    if not lines:
        raise ArchiveError(f"{path.name}: empty file")
    head = lines[0].lstrip(b"\xef\xbb\xbf")
    name_match = _BINANCE_NAME.match(path.name)
    symbol = name_match.group(1) if name_match else None
    if fmt is None:
        fmt = _detect_format(path, head, name_match)
    if fmt.startswith("tardis-") or fmt == "interchange":
        return ArchiveSource(path, fmt, venue)
    if fmt == "hyperliquid-node-fills":
        return ArchiveSource(path, fmt, "hyperliquid")
    if fmt.startswith("binance-"):
        if symbol is None:
            raise ArchiveError(f"{path.name}: a Binance archive file keeps its name ({{SYMBOL}}-{{kind}}-{{date}}.csv|zip), "
                               "which is where the symbol comes from")
        return ArchiveSource(path, fmt, venue or binance_venue(symbol), symbol)
    venue = (venue or venue_from_connection(path, lines) or venue_from_name(path.name)
             or next(filter(None, map(venue_from_message, lines)), None))
    if venue is None:
        raise ArchiveError(f"{path.name}: venue messages of an unknown venue; give --venue")
    return ArchiveSource(path, "messages", venue)


def _detect_format(path: Path, head: bytes, name_match: re.Match | None) -> str:
    if head.startswith(TARDIS_HEADER):
        low = path.name.lower()
        if "_liquidations_" in low or low.startswith("liquidations"):
            return "tardis-liquidations"
        if "_trades_" in low or low.startswith("trades"):
            return "tardis-trades"
        raise ArchiveError(f"{path.name}: tardis.dev CSV of trades or of liquidations (same columns)? The file name "
                           "does not say; give --format tardis-trades or tardis-liquidations")
    for header, fmt in _BINANCE_HEADERS.items():
        if head.startswith(header):
            return fmt
    if name_match is not None and head[:1].isdigit():
        kind = name_match.group(2)
        ncols = head.count(b",") + 1
        fmt, want = _BINANCE_KIND.get(kind, ("binance-klines", 12))
        if ncols != want:
            raise ArchiveError(f"{path.name}: looks like a Binance {kind} archive but has {ncols} columns, not {want}")
        return fmt
    if (head.startswith(b'["0x') or (head[:1] == b"{" and b'"block_number"' in head)) and b'"coin"' in head:
        return "hyperliquid-node-fills"
    if head[:1] == b"{" and b'"type"' in head:
        try:
            obj = orjson.loads(head)
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and obj.get("type") in INPUT_TYPES:
            return "interchange"
    try:
        split_line(head)
        return "messages"
    except MetaLine:
        return "messages"
    except (ValueError, orjson.JSONDecodeError):
        pass
    raise ArchiveError(f"{path.name}: unknown format (first line {head[:80]!r}); known: {', '.join(FORMATS)}")
