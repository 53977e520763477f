"""Shared pieces of the exchange connectors: the Venue base class, the Trade record, instrument
metadata (contract sizes), the event_id rule and the recording line splitter (the bar aggregator
lives in bars.py and is re-exported here).

A venue parser takes one decoded websocket message (a dict) and returns a ParseResult:
normalized `Liquidation` models, `Trade` records, `Leverage` models (open interest, funding, mark
price), error strings, or a reason the message was skipped (a channel we know and do not use:
books, subscription acks). `Venue.parse`
never raises: any exception inside a venue's `_parse` becomes an error in the result.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import orjson

from pipeline.contracts.models import Leverage, Liquidation
from pipeline.contracts.models import Trade as TradeEvent

from .bars import BAR_INTERVAL_MS, BarAggregator  # noqa: F401  (part of this module's interface)

INSTRUMENTS_DIR = Path(__file__).resolve().parent / "instruments"
ASSET_RE = re.compile(r"^[A-Z0-9]{2,12}$")

# Quote currencies treated as US dollars 1:1 (stablecoin de-pegs are ignored).
USD_QUOTES = ("USDT", "USDC", "BUSD", "USD", "FDUSD", "USDE")
# Exchange tickers that differ from the asset name used as the Kafka key.
ASSET_ALIASES = {"XBT": "BTC"}


class ParseError(ValueError):
    """A message of a known kind that cannot be normalized (missing field, bad number, unknown instrument)."""


class UnsizedInstrument(ParseError):
    """An instrument whose contract size the bundled snapshot does not hold (`cascadewatch instruments refresh`)."""


@dataclass(frozen=True, slots=True)
class Trade:
    """One public trade, normalized. qty_base is in base-asset units; taker_side is the aggressor."""

    venue: str
    symbol: str
    asset: str
    ts: int
    price: float
    qty_base: float
    notional_usd: float
    taker_side: Literal["buy", "sell"]
    trade_id: str | None = None


@dataclass(slots=True)
class ParseResult:
    liquidations: list[Liquidation] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)
    leverage: list[Leverage] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: str | None = None  # set when the message is a known kind we deliberately do not use

    @property
    def events(self) -> list[Liquidation | Trade]:
        return [*self.liquidations, *self.trades]


# --------------------------------------------------------------------------------------------
# small parsing helpers


def num(value: Any, what: str = "number") -> float:
    """A finite float from a venue's string or number; ParseError otherwise (bools are rejected)."""
    if type(value) is str:  # the common case first: venues send numbers as strings
        try:
            out = float(value)
        except ValueError:
            raise ParseError(f"{what}: not a number: {value[:40]!r}") from None
        if not math.isfinite(out):
            raise ParseError(f"{what}: not finite: {value!r}")
        return out
    if isinstance(value, bool) or value is None:
        raise ParseError(f"{what}: expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        out = float(value)
    elif isinstance(value, str):
        try:
            out = float(value)
        except ValueError:
            raise ParseError(f"{what}: not a number: {value[:40]!r}") from None
    else:
        raise ParseError(f"{what}: expected a number, got {type(value).__name__}")
    if not math.isfinite(out):
        raise ParseError(f"{what}: not finite: {value!r}")
    return out


def pos(value: Any, what: str) -> float:
    out = num(value, what)
    if out <= 0:
        raise ParseError(f"{what}: must be > 0, got {value!r}")
    return out


def ms(value: Any, what: str = "timestamp") -> int:
    """Milliseconds since the epoch from an int or a numeric string."""
    if isinstance(value, bool):
        raise ParseError(f"{what}: expected ms, got {value!r}")
    if isinstance(value, int):
        out = value
    elif isinstance(value, str) and value.isdigit():
        out = int(value)
    elif isinstance(value, float) and value.is_integer():
        out = int(value)
    else:
        raise ParseError(f"{what}: expected integer ms, got {value!r}")
    if out < 0 or out > 10**14:
        raise ParseError(f"{what}: out of range: {value!r}")
    return out


_ISO_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:Z|\+00:?00)?$")


@lru_cache(maxsize=4096)
def _day_ms(day: str) -> int:
    return int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()) * 1000


def iso_ms(value: Any, what: str = "timestamp") -> int:
    """Milliseconds since the epoch from an ISO-8601 UTC time ("2019-05-01T00:00:09.1234567Z"); any
    number of fractional digits (tardis.dev writes 7), truncated to the millisecond."""
    m = _ISO_RE.match(value) if isinstance(value, str) else None
    if m is None:
        raise ParseError(f"{what}: expected an ISO-8601 UTC time, got {str(value)[:40]!r}")
    try:
        day = _day_ms(m.group(1))
    except ValueError:
        raise ParseError(f"{what}: not a date: {value[:40]!r}") from None
    hh, mm, ss = int(m.group(2)), int(m.group(3)), int(m.group(4))
    if hh > 23 or mm > 59 or ss > 60:
        raise ParseError(f"{what}: not a time: {value[:40]!r}")
    frac = m.group(5) or ""
    return day + hh * 3_600_000 + mm * 60_000 + ss * 1000 + int((frac + "000")[:3])


def position_side(value: Any, what: str, sides: dict[str, str]) -> str:
    """The liquidated position ("long"/"short") from a venue's side field, by its own convention."""
    side = sides.get(value) if isinstance(value, str) else None
    if side is None:
        raise ParseError(f"{what}: {value!r}")
    return side


def text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ParseError(f"{what}: expected a non-empty string, got {value!r}")
    return value


def asset_of(root: str) -> str:
    """Normalize a base-currency ticker to the contract's asset form, or ParseError."""
    a = root.upper()
    a = ASSET_ALIASES.get(a, a)
    if not ASSET_RE.match(a):
        raise ParseError(f"asset {root!r} does not fit ^[A-Z0-9]{{2,12}}$")
    return a


def strip_quote(symbol: str) -> tuple[str, str]:
    """'BTCUSDT' -> ('BTC', 'USDT'); ParseError if no known USD-like quote suffix."""
    for q in ("FDUSD", "USDT", "USDC", "BUSD", "USD"):
        if symbol.endswith(q) and len(symbol) > len(q):
            return symbol[: -len(q)], q
    raise ParseError(f"symbol {symbol!r}: no USD-like quote currency")


# --------------------------------------------------------------------------------------------
# event ids


def event_id(venue: str, symbol: str, native_id: str | None = None, *, ts: int | None = None,
             parts: tuple[Any, ...] = ()) -> str:
    """The stable id rule.

    - The venue gives an id for the liquidation (BitMEX orderID, Deribit trade_id):
      ``{venue}:{symbol}:{native_id}``.
    - It does not (Binance, Bybit, OKX): ``{venue}:{symbol}:{ts}:{h}`` where h is the first 16 hex
      digits of sha1 over the raw field values exactly as the venue sent them (strings, not floats),
      so the same message always gives the same id, and a re-delivery deduplicates downstream.
      Two liquidations identical in symbol, ms, side, size and price cannot be told apart.
    """
    if native_id is not None:
        return f"{venue}:{symbol}:{native_id}"
    h = hashlib.sha1(orjson.dumps([str(p) for p in parts])).hexdigest()[:16]
    return f"{venue}:{symbol}:{ts}:{h}"


def trade_event(t: Trade, received_ts: int) -> dict:
    """The `trade` contract (schemas/trade.schema.json) of one trade, as the raw trades topic carries it."""
    eid = event_id(t.venue, t.symbol, t.trade_id, ts=t.ts, parts=(t.price, t.qty_base, t.taker_side))
    return TradeEvent(event_id=eid, venue=t.venue, symbol=t.symbol, asset=t.asset, ts=t.ts, price=t.price,
                      quantity=t.qty_base, notional_usd=t.notional_usd, taker_side=t.taker_side, trade_id=t.trade_id,
                      received_ts=int(received_ts)).model_dump(mode="json")


# --------------------------------------------------------------------------------------------
# instrument metadata


@dataclass(frozen=True, slots=True)
class Instrument:
    """How to turn a venue quantity into base units and USD.

    unit "base": one contract is `contract_size` base-asset units (linear / spot).
    unit "usd":  one contract is `contract_size` US dollars (inverse).
    """

    symbol: str
    asset: str
    unit: Literal["base", "usd"]
    contract_size: float

    def convert(self, qty: float, price: float) -> tuple[float, float]:
        """(qty_base, notional_usd) for `qty` contracts traded at `price` (USD per base unit)."""
        if self.unit == "base":
            base = qty * self.contract_size
            return base, base * price
        usd = qty * self.contract_size
        return usd / price, usd


@lru_cache(maxsize=None)
def load_instruments(venue_file: str) -> dict[str, Any]:
    """The bundled snapshot instruments/<venue_file>.json (see its "_source" key)."""
    return json.loads((INSTRUMENTS_DIR / f"{venue_file}.json").read_text())


_INSTRUMENT_CACHES: list = []


def instrument_cache(fn):
    """Memoize a symbol -> Instrument function (instrument rules run once per symbol, not per
    message); `reload_instruments()` forgets the results with the files."""
    cached = lru_cache(maxsize=4096)(fn)
    _INSTRUMENT_CACHES.append(cached)
    return cached


def reload_instruments() -> None:
    """Read the instrument files again on next use (after `instruments refresh`)."""
    load_instruments.cache_clear()
    for cached in _INSTRUMENT_CACHES:
        cached.cache_clear()


def instrument_from_table(venue_file: str, symbol: str) -> Instrument | None:
    row = load_instruments(venue_file).get("symbols", {}).get(symbol)
    if row is None:
        return None
    return Instrument(symbol, row["asset"], row["unit"], float(row["contract_size"]))


# --------------------------------------------------------------------------------------------
# the venue base class


class Venue:
    """One venue's message parser. Subclasses set `name` and implement `_parse`."""

    name: str = ""
    #: completeness of this venue's liquidation feed (see docs/venues.md): "sampled" throttled,
    #: "partial" only one kind of liquidation is seen at all
    completeness: Literal["full", "sampled", "partial"] = "full"
    #: whether the venue has a public market-wide liquidation feed at all
    has_liquidations: bool = True
    #: how `cascadewatch feed` connects to it (spec.VenueSpec); None: no live connector
    live: Any = None

    def parse(self, msg: Any, received_ts: int) -> ParseResult:
        """Normalize one decoded message. Never raises; problems come back in `errors`."""
        if not isinstance(msg, dict):
            return ParseResult(errors=[f"expected a JSON object, got {type(msg).__name__}"])
        try:
            out = self._parse(msg, received_ts)
        except ParseError as exc:
            return ParseResult(errors=[str(exc)])
        except Exception as exc:  # malformed input of any shape must not stop a feed
            return ParseResult(errors=[f"{type(exc).__name__}: {str(exc)[:200]}"])
        if not (out.liquidations or out.trades or out.leverage or out.errors or out.skipped):
            out.skipped = "empty"
        return out

    def _parse(self, msg: dict, received_ts: int) -> ParseResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def trade_rows(self, msg: dict) -> list[tuple] | None:
        """The fast path for the hot message type (see trade_block.py): for a plain trade message,
        its trades as raw `(symbol, ts_ms: int, price, size, taker_sold: bool)` rows, price and size
        as the venue sent them (str or number, never bool); None for anything else, or any field of
        an unexpected type, which `parse` then judges. Must give the trades `parse` gives, once
        converted with `trade_instrument(symbol)`."""
        return None

    def trade_instrument(self, symbol: str) -> Instrument:
        """How `trade_rows` sizes convert to base units and USD (ParseError: unknown instrument)."""
        return self.instrument(symbol)  # type: ignore[attr-defined]

    def check_symbol(self, symbol: str) -> None:
        """ParseError when `symbol` cannot be subscribed and normalized (used before a live feed connects)."""
        inst = getattr(self, "instrument", None)
        if inst is not None:
            inst(symbol)

    # helpers for subclasses
    def leverage_event(self, *, symbol: str, asset: str, ts: int, source: str, received_ts: int,
                       open_interest: float | None = None, open_interest_usd: float | None = None,
                       funding_rate: float | None = None, funding_interval_ms: int | None = None,
                       next_funding_ts: int | None = None, mark_price: float | None = None) -> Leverage:
        """One `leverage` event; figures the message does not carry stay None."""
        if mark_price is not None and mark_price <= 0:
            raise ParseError(f"{symbol}: mark price {mark_price!r}")
        for what, v in (("open interest", open_interest), ("open interest USD", open_interest_usd)):
            if v is not None and v < 0:
                raise ParseError(f"{symbol}: {what} {v!r} < 0")
        return Leverage(event_id=f"{self.name}:{symbol}:{source}:{int(ts)}", venue=self.name, symbol=symbol,
                        asset=asset, ts=int(ts), open_interest=open_interest, open_interest_usd=open_interest_usd,
                        funding_rate=funding_rate, funding_interval_ms=funding_interval_ms,
                        next_funding_ts=next_funding_ts or None, mark_price=mark_price, source=source,
                        received_ts=int(received_ts))

    def liquidation(self, *, eid: str, symbol: str, asset: str, side: str, price: float, qty_base: float,
                    notional_usd: float, ts: int, received_ts: int) -> Liquidation:
        return Liquidation(event_id=eid, venue=self.name, symbol=symbol, asset=asset, side=side,
                           price=float(price), quantity=float(qty_base), notional_usd=float(notional_usd),
                           ts=int(ts), received_ts=int(received_ts), completeness=self.completeness)

    def trade(self, *, symbol: str, asset: str, ts: int, price: float, qty_base: float, notional_usd: float,
              taker_side: str, trade_id: Any = None) -> Trade:
        if taker_side not in ("buy", "sell"):
            raise ParseError(f"taker side {taker_side!r}")
        if not (0 < qty_base < math.inf and 0 < notional_usd < math.inf and 0 < price < math.inf):
            raise ParseError(f"{symbol}: price/size not a positive finite number")
        return Trade(self.name, symbol, asset, int(ts), float(price), float(qty_base), float(notional_usd),
                     taker_side, None if trade_id is None else str(trade_id))


def unwrap_items(data: Any, what: str = "data") -> list[dict]:
    """A venue 'data' field: a list of objects (or a single object) -> list of dicts."""
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise ParseError(f"{what}: expected a list of objects")
    return data


# --------------------------------------------------------------------------------------------
# cryptofeed recording lines

_RECV_RE = re.compile(rb"^\d{9,11}(?:\.\d+)?$")


class MetaLine(ValueError):
    """A recording line that is not a received message (connection header, our own outbound request)."""


def split_line(line: str | bytes) -> tuple[int | None, Any]:
    """Split one input line into (received_ts_ms | None, decoded JSON).

    Accepts cryptofeed's ``<receive_time>: <raw json>`` (seconds, float), tardis.dev's raw
    ``<ISO-8601 receipt time> <raw json>`` (UTC, up to 100 ns digits) or a bare JSON message.
    Raises MetaLine for cryptofeed's connection lines (``wss://... <-> ts``, ``wss://... <- ts: {...}``)
    and ValueError (orjson.JSONDecodeError) for anything that is not JSON.
    """
    raw = (line if type(line) is bytes else line.encode() if isinstance(line, str) else bytes(line)).strip()
    if not raw:
        raise MetaLine("empty line")
    if raw.startswith((b"wss://", b"ws://", b"https://", b"http://")):
        raise MetaLine("connection/outbound line")
    if raw[:1] in b"{[":
        return None, orjson.loads(raw)
    if raw[4:5] == b"-" and raw[10:11] == b"T":  # tardis.dev raw: '<ISO-8601 receipt time> <message>'
        stamp, _, body = raw.partition(b" ")
        try:
            received = iso_ms(stamp.decode("ascii"), "receipt time")
        except (ParseError, UnicodeDecodeError) as exc:
            raise ValueError(str(exc)) from None
        return received, orjson.loads(body)
    i = raw.find(b": ", 0, 24)  # cryptofeed: '<epoch seconds>: <message>'
    if i >= 9 and _RECV_RE.match(raw[:i]):
        return round(float(raw[:i]) * 1000), orjson.loads(memoryview(raw)[i + 2:])
    return None, orjson.loads(raw)
