"""Compact snapshot encoding of the buffered liquidations and trade-flow bars, and the market rows.

The buffers hold up to an hour of rows, most of a state snapshot. Rows are written as columns
(times as differences from the row before, the strings that repeat, venue, side, completeness and
market, as indexes into a small table), and the columns as one deflated JSON document in base64:
ids and prices share most of their text, and zlib finds that at C speed. Decoding gives back the
very same rows. Snapshots written as lists of rows (the earlier format) are still read.
"""

from __future__ import annotations

import base64
import zlib
from itertools import accumulate

import orjson

from pipeline.detect.buffers import Bar, Liq


def _deltas(values: list[int]) -> list[int]:
    out, prev = [], 0
    for v in values:
        out.append(v - prev)
        prev = v
    return out


def pack(obj) -> dict:
    """A JSON-ready value as {"z": base64 of its deflated JSON}."""
    return {"z": base64.b64encode(zlib.compress(orjson.dumps(obj), 1)).decode("ascii")}


def unpack(d):
    """The value `pack` was given; anything else (an earlier, plain snapshot) as it is."""
    if isinstance(d, dict) and set(d) == {"z"}:
        return orjson.loads(zlib.decompress(base64.b64decode(d["z"])))
    return d


def encode_liqs(rows: list) -> dict:
    kinds: dict[tuple, int] = {}
    kind = [kinds.setdefault((r[2], r[3], r[4]), len(kinds)) for r in rows]
    return pack({"ts": _deltas([r[0] for r in rows]), "kind": kind, "kinds": [list(k) for k in kinds],
                 "id": [r[1] for r in rows], "cents": [r[5] for r in rows]})


def decode_liqs(d: dict | list) -> list:
    d = unpack(d)
    if isinstance(d, list):  # rows [ts, event_id, side, usd, venue, completeness, cents]
        return [Liq(r[0], r[1], r[2], r[4], r[5], r[6]) for r in d]
    kinds = [tuple(k) for k in d["kinds"]]
    return [Liq(ts, eid, *kinds[k], cents) for ts, eid, k, cents in zip(accumulate(d["ts"]), d["id"], d["kind"], d["cents"])]


def encode_bars(rows: list) -> dict:
    markets: dict[str, int] = {}
    return pack({"ts": _deltas([r[0] for r in rows]), "market": [markets.setdefault(r[1], len(markets)) for r in rows],
                 "markets": list(markets), "span": [r[2] - r[0] for r in rows], "buy": [r[3] for r in rows],
                 "sell": [r[4] for r in rows], "open": [r[5] for r in rows], "low": [r[6] for r in rows],
                 "close": [r[7] for r in rows]})


def decode_bars(d: dict | list) -> list:
    d = unpack(d)
    if isinstance(d, list):
        return [Bar(*r) for r in d]
    markets = d["markets"]
    return [Bar(ts, markets[m], ts + span, buy, sell, open_, low, close)
            for ts, m, span, buy, sell, open_, low, close in zip(accumulate(d["ts"]), d["market"], d["span"], d["buy"],
                                                                 d["sell"], d["open"], d["low"], d["close"])]
