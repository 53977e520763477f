"""The Bitcoin watcher against real Bitcoin Core 0.17 answers for mainnet blocks 50000-50002, served locally.

Block 50001 (2010-04-10) holds two payments to 1HaHTfmvoUW6i6nhJf8jJs6tU4cHNmBQHQ: 100 BTC in tx 7940cdde...
and 50 BTC in tx f8476145...; each block also has a 50 BTC coinbase. The node is old: it has no getblock
verbosity 3 (it answers with verbosity-2 data), prints `addresses` arrays, and its inputs carry no prevout.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import closing, contextmanager

import orjson
import pytest
from typer.testing import CliRunner

from pipeline.contracts.models import parse_event
from pipeline.labels import load_labels
from pipeline.sources.chain.bitcoin import BitcoinCoreRPC, BitcoinWatcher
from pipeline.sources.chain.cli import watch_app
from pipeline.sources.chain.common import fixed_prices

from .core_recordings import MAINNET_50000_50002, RecordedCore
from .fixture_server import serve_recorded

PAYEE = "1HaHTfmvoUW6i6nhJf8jJs6tU4cHNmBQHQ"  # labelled as an exchange deposit address in these tests
PAID_100 = "7940cdde4d713e171849efc6bd89939185be270266c94e92369e3877ad89455a"
PAID_50 = "f84761459a00c6df3176ae5d94c99e69f25100d09548e5686bd0c354bb8cc60a"
FUNDS_PAID_50 = "18dxbN6m8zxieN8F9BchXmhbeXUdFLr8fD"  # the output tx f847... spends (0d37522b...:0)
BLOCK_50001_MS = 1270917100 * 1000
TIP = 551929  # the recording node's tip: height + confirmations - 1 of every recorded block
BTC_USD = 100_000.0


def _labels(tmp_path, rows=((PAYEE, "examplex", "deposit"),)):
    csv = tmp_path / "labels.csv"
    csv.write_text("chain,address,entity,kind\n" + "".join(f"bitcoin,{a},{e},{k}\n" for a, e, k in rows))
    return load_labels([csv], user_dir=tmp_path / "no-user-labels")


def _watcher(rpc, labels, **kw):
    kw.setdefault("min_usd", 5_000_000)  # 50 BTC at BTC_USD: every output of the three blocks
    return BitcoinWatcher(rpc, labels, price=fixed_prices({"BTC": BTC_USD}), clock=lambda: 1_700_000_000_000, **kw)


@contextmanager
def _recorded_node(faults=(), **rpc_kw):
    """The real RPC client talking on loopback to the recorded node, and the calls the node saw."""
    with serve_recorded(core=RecordedCore(), faults=list(faults)) as (url, seen), \
            closing(BitcoinCoreRPC(url, **rpc_kw)) as rpc:
        yield rpc, seen


def _getblock_verbosities(seen):
    return [s["params"][1] for s in seen if s.get("rpc") == "getblock"]


def test_inflows_from_the_recorded_old_node_with_its_explicit_fallback_to_verbosity2(tmp_path, caplog):
    with _recorded_node(sleep=lambda s: pytest.fail("nothing to retry")) as (rpc, seen), \
            caplog.at_level("WARNING", "pipeline.sources.chain.bitcoin"):
        events = list(_watcher(rpc, _labels(tmp_path)).scan(50000, 50002))

    inflows = [e for e in events if e.direction == "exchange_inflow"]
    assert [(e.tx_hash, e.amount, e.usd_value) for e in inflows] == [(PAID_100, 100.0, 10_000_000.0),
                                                                    (PAID_50, 50.0, 5_000_000.0)]
    for e in inflows:
        assert e.event_id == f"bitcoin:{e.tx_hash}:0" and e.chain == "bitcoin" and e.asset == "BTC"
        assert (e.to_address, e.to_entity) == (PAYEE, "examplex")  # read from the old `addresses` array
        assert (e.block_number, e.block_time) == (50001, BLOCK_50001_MS)
        assert e.confirmations == TIP - 50001  # blocks on top of it, as the Ethereum watcher counts
        # No prevouts on this path: the sender is unknown (see the test below for what that costs).
        assert (e.from_address, e.from_entity) == ("unknown", None)
        assert parse_event(orjson.dumps(e.model_dump(mode="json"))) == e

    # The three coinbase outputs are payments too (to unlabelled addresses): "other", sent by "coinbase".
    others = [(e.block_number, e.from_address, e.to_address, e.amount) for e in events if e.direction == "other"]
    assert others == [(50000, "coinbase", "1ND5TQ2AnQatxqmHrdMT8utb3aWgLKsc9w", 50.0),
                      (50001, "coinbase", "1PkqKGbNLDdDJGveCcNUMV9CEFH77ADrPQ", 50.0),
                      (50002, "coinbase", "1CvMvWyKJvfg6wQSGdHraoJ7NFu8KaTL1u", 50.0)]

    # Block 50000 (coinbase only) cannot show whether verbosity 3 worked; 50001's answer lacks prevouts, so
    # the watcher says so once and asks for verbosity 2 from then on; no call was retried.
    assert _getblock_verbosities(seen) == [3, 3, 2]
    assert rpc.verbosity == 2 and rpc.retried == 0
    [warning] = [r.getMessage() for r in caplog.records if "verbosity 2 from now on" in r.getMessage()]
    assert "ignored verbosity 3" in warning and "outflows are not seen" in warning
    assert rpc.url in warning


def test_failed_calls_are_retried_and_only_the_nodes_own_answer_lowers_the_verbosity(tmp_path):
    waits = []
    with _recorded_node(faults=["503", "drop", "warmup"], sleep=waits.append) as (rpc, seen):
        events = list(_watcher(rpc, _labels(tmp_path), include_other=False).scan(50000, 50002))
    assert [(e.tx_hash, e.amount) for e in events] == [(PAID_100, 100.0), (PAID_50, 50.0)]
    # block 50000 asked four times at verbosity 3 (three failures), 50001 once (its answer lacks prevouts)
    assert _getblock_verbosities(seen) == [3, 3, 3, 3, 3, 2]
    assert rpc.retried == 3 and waits == [0.5, 1.0, 2.0]


def test_a_watcher_set_to_verbosity2_reads_the_same_without_a_warning(tmp_path, caplog):
    with _recorded_node(verbosity=2) as (rpc, seen), caplog.at_level("WARNING", "pipeline.sources.chain.bitcoin"):
        events = list(_watcher(rpc, _labels(tmp_path), include_other=False, min_btc=100).scan(50000, 50002))
    assert [(e.tx_hash, e.amount, e.direction) for e in events] == [(PAID_100, 100.0, "exchange_inflow")]
    assert _getblock_verbosities(seen) == [2, 2, 2]
    assert not caplog.records


def test_what_verbosity2_cannot_know_about_the_sender(tmp_path):
    # The output f847... spends paid FUNDS_PAID_50 (the recorded getrawtransaction of 0d37522b... says so).
    # Labelled as the same exchange, the payment is a move inside it; verbosity-2 data names no input
    # address, so the watcher sees only the receiver and reports an inflow.
    spent = json.loads((MAINNET_50000_50002 / ("rpc_response_getrawtransaction_0d37522b89f991f8433b80f709ad"
                                               "31862a54435cd003f25732fe405e9db93216.json")).read_text())
    assert spent["vout"][0]["scriptPubKey"]["addresses"] == [FUNDS_PAID_50]
    labels = _labels(tmp_path, [(PAYEE, "examplex", "deposit"), (FUNDS_PAID_50, "examplex", "hot")])
    with _recorded_node(verbosity=2) as (rpc, _):
        events = list(_watcher(rpc, labels, include_other=False).scan(50001, 50001))
    [paid_50] = [e for e in events if e.tx_hash == PAID_50]
    assert (paid_50.direction, paid_50.from_address, paid_50.from_entity) == ("exchange_inflow", "unknown", None)


def test_watch_bitcoin_cli_on_the_recorded_node(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text(f"chain,address,entity,kind\nbitcoin,{PAYEE},examplex,deposit\n")
    out = tmp_path / "btc.jsonl"
    with serve_recorded(core=RecordedCore()) as (url, _):
        r = CliRunner().invoke(watch_app, ["bitcoin", "--rpc", url, "--from-height", "50000", "--to-height", "50002",
                                           "--min-usd", "5000000", "--btc-usd", str(BTC_USD), "--labels", str(labels),
                                           "--label-dir", str(tmp_path / "none"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    events = [parse_event(line) for line in out.read_bytes().splitlines()]
    assert [(e.block_number, e.amount, e.direction) for e in events] == [
        (50000, 50.0, "other"), (50001, 50.0, "other"), (50001, 100.0, "exchange_inflow"),
        (50001, 50.0, "exchange_inflow"), (50002, 50.0, "other")]
    assert "5 events" in r.output


# --------------------------------------------------------------------------- the recordings are real

def _dsha(b: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


def _merkle_root(txids: list[str]) -> str:
    level = [bytes.fromhex(t)[::-1] for t in txids]
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [_dsha(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0][::-1].hex()


def _base58check(payload: bytes) -> str:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    raw = payload + _dsha(payload)[:4]
    n, out = int.from_bytes(raw, "big"), ""
    while n:
        n, r = divmod(n, 58)
        out = alphabet[r] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


def _check_tx(tx: dict) -> None:
    assert _dsha(bytes.fromhex(tx["hex"]))[::-1].hex() == tx["txid"]
    for o in tx["vout"]:
        spk = o["scriptPubKey"]
        if spk["type"] == "pubkeyhash":  # OP_DUP OP_HASH160 <20 bytes> OP_EQUALVERIFY OP_CHECKSIG
            assert spk["addresses"] == [_base58check(b"\0" + bytes.fromhex(spk["hex"])[3:23])]


def test_the_recordings_are_real_mainnet_data():
    """Hashes, proof of work, merkle roots and addresses all check out: nothing here was made up to fit."""
    node = RecordedCore()
    blocks = sorted(map(json.loads, node.blocks.values()), key=lambda b: b["height"])
    assert [b["height"] for b in blocks] == [50000, 50001, 50002]
    for b in blocks:
        header = (b["version"].to_bytes(4, "little") + bytes.fromhex(b["previousblockhash"])[::-1]
                  + bytes.fromhex(b["merkleroot"])[::-1] + b["time"].to_bytes(4, "little")
                  + int(b["bits"], 16).to_bytes(4, "little") + b["nonce"].to_bytes(4, "little"))
        assert _dsha(header)[::-1].hex() == b["hash"] == json.loads(node.hashes[b["height"]])
        bits = int(b["bits"], 16)
        assert int(b["hash"], 16) <= (bits & 0xFFFFFF) << (8 * ((bits >> 24) - 3))  # mainnet difficulty 6.09
        assert _merkle_root([t["txid"] for t in b["tx"]]) == b["merkleroot"]
        for t in b["tx"]:
            _check_tx(t)
    assert [b["previousblockhash"] for b in blocks[1:]] == [b["hash"] for b in blocks[:-1]]
    # the recorded getrawtransaction answers are the transactions block 50001 spends
    spent = {(i["txid"], i["vout"]) for t in blocks[1]["tx"] for i in t["vin"] if "txid" in i}
    assert {t for t, _ in spent} == set(node.txs)
    for raw in node.txs.values():
        _check_tx(json.loads(raw))
