"""Hyperliquid node fills (both file layouts) built around the documented liquidation fill (the
ccxt userFills fixture): each liquidation counted once with its position side, taker flow from the
crossed fills, node receipt time as received_ts, bad lines reported."""

from __future__ import annotations

import copy

import orjson

from pipeline.sources.archives import detect, normalize_file
from pipeline.sources.exchanges.normalize import NormalizeStats

from .builders import doc_example, validate_event

LIQUIDATED = "0x193bd350ec838b1e22d6f302da5343b920aa1c2b"
MAKER = "0x2222222222222222222222222222222222222222"


def fills():
    hype, crcl = doc_example("hyperliquid_userFills_with_liquidation_ccxt_fixture.json")
    maker = dict(copy.deepcopy(hype), side="B", crossed=False, dir="Open Long", oid="1", startPosition="0")
    plain = {k: v for k, v in hype.items() if k != "liquidation"}
    plain.update(tid="345752513742026", time="1768931203100", side="B", px="21.2", sz="10", dir="Open Long")
    backstop = dict(copy.deepcopy(hype), tid="345752513742027", side="B", dir="Close Short", time="1768931203500",
                    liquidation={"liquidatedUser": "0x3333333333333333333333333333333333333333",
                                 "markPx": "21.5", "method": "backstop"})
    return [[LIQUIDATED, hype], [MAKER, maker], [MAKER, plain], [LIQUIDATED, crcl],
            ["0x3333333333333333333333333333333333333333", backstop]]


def run(path):
    st = NormalizeStats()
    out = list(normalize_file(detect(path), stats=st))
    for ev in out:
        if ev["type"] != "error":
            validate_event(ev)
    return out, st


def test_by_block_layout(tmp_path):
    block = {"local_time": "2026-01-20T17:46:43.251963021", "block_time": "2026-01-20T17:46:43.101",
             "block_number": 866000000, "events": fills()}
    path = tmp_path / "node_fills_by_block_20260120_17"
    path.write_bytes(orjson.dumps(block) + b"\n" + b"{broken\n")
    assert detect(path).fmt == "hyperliquid-node-fills"
    out, st = run(path)
    liqs = [e for e in out if e["type"] == "liquidation"]
    assert [(e["side"], e["event_id"]) for e in liqs] == [("long", "hyperliquid:HYPE:345752513742025"),
                                                          ("short", "hyperliquid:HYPE:345752513742027")]
    first = liqs[0]
    assert first["notional_usd"] == 21.147 * 5.2 and first["ts"] == 1768931202995
    assert first["received_ts"] == 1768931203251 and first["completeness"] == "full"
    first_s, next_s = [e for e in out if e["type"] == "trade_flow"]
    # taker fills only: the liquidation sold 5.2 at 21.147; next second the plain fill bought 10 at 21.2
    # and the backstop liquidation bought 5.2 at 21.147 (the maker fill is not counted)
    assert (first_s["ts"], first_s["sell_volume_usd"], first_s["buy_volume_usd"]) == (1768931202000, 21.147 * 5.2, 0)
    assert (next_s["buy_volume_usd"], next_s["sell_volume_usd"]) == (212.0 + 21.147 * 5.2, 0)
    assert next_s["trade_count"] == 2 and next_s["asset"] == "HYPE"
    assert st.errors == 1 and [e["line"] for e in out if e["type"] == "error"] == [2]


def test_per_fill_layout(tmp_path):
    path = tmp_path / "node_fills_20250601_3"
    path.write_bytes(b"".join(orjson.dumps(pair) + b"\n" for pair in fills()))
    out, st = run(path)
    liqs = [e for e in out if e["type"] == "liquidation"]
    assert len(liqs) == 2 and liqs[0]["received_ts"] == liqs[0]["ts"]
    assert st.errors == 0 and st.skipped["no perp taker fill"] == 2  # the maker fill and the builder-dex fill
