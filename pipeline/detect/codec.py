"""Compact snapshot encoding of the buffered liquidations and trade-flow bars.

The buffers hold up to an hour of rows, most of a state snapshot. Rows are written as columns:
times as differences from the row before, the strings that repeat (venue, side, completeness,
market) as indexes into a small table, and each liquidation id as the length of the prefix it
shares with the previous id of the same venue plus the rest ("17|1278:1#5"). Decoding gives back
the very same rows. Snapshots written as lists of rows (the earlier format) are still read.
"""

from __future__ import annotations

from itertools import accumulate

from pipeline.detect.buffers import Bar, Liq


def _deltas(values: list[int]) -> list[int]:
    out, prev = [], 0
    for v in values:
        out.append(v - prev)
        prev = v
    return out


def _shared(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def encode_liqs(rows: list) -> dict:
    kinds: dict[tuple, int] = {}
    kind_col, ids, last_id = [], [], {}
    for _, eid, side, venue, completeness, _ in rows:
        k = kinds.setdefault((side, venue, completeness), len(kinds))
        kind_col.append(k)
        prev = last_id.get(venue, "")
        n = _shared(prev, eid)
        ids.append(f"{n}|{eid[n:]}")
        last_id[venue] = eid
    return {"ts": _deltas([r[0] for r in rows]), "kind": kind_col, "kinds": [list(k) for k in kinds],
            "id": ids, "cents": [r[5] for r in rows]}


def decode_liqs(d: dict | list) -> list:
    if isinstance(d, list):  # rows [ts, event_id, side, usd, venue, completeness, cents]
        return [Liq(r[0], r[1], r[2], r[4], r[5], r[6]) for r in d]
    kinds = [tuple(k) for k in d["kinds"]]
    out, last_id = [], {}
    for ts, k, code, cents in zip(accumulate(d["ts"]), d["kind"], d["id"], d["cents"]):
        side, venue, completeness = kinds[k]
        n, _, rest = code.partition("|")
        eid = last_id.get(venue, "")[:int(n)] + rest
        last_id[venue] = eid
        out.append(Liq(ts, eid, side, venue, completeness, cents))
    return out


def encode_bars(rows: list) -> dict:
    markets: dict[str, int] = {}
    return {"ts": _deltas([r[0] for r in rows]), "market": [markets.setdefault(r[1], len(markets)) for r in rows],
            "markets": list(markets), "span": [r[2] - r[0] for r in rows], "buy": [r[3] for r in rows],
            "sell": [r[4] for r in rows], "open": [r[5] for r in rows], "low": [r[6] for r in rows],
            "close": [r[7] for r in rows]}


def decode_bars(d: dict | list) -> list:
    if isinstance(d, list):
        return [Bar(*r) for r in d]
    markets = d["markets"]
    return [Bar(ts, markets[m], ts + span, buy, sell, open_, low, close)
            for ts, m, span, buy, sell, open_, low, close in zip(accumulate(d["ts"]), d["market"], d["span"], d["buy"],
                                                                 d["sell"], d["open"], d["low"], d["close"])]
