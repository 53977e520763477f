"""Reverted transactions move nothing: the watcher reads receipts and drops native transfers whose
status is 0, on a real Anvil node, with block receipts in one call and, on a node without
eth_getBlockReceipts (Anvil behind a proxy that refuses that one method), per transaction."""

from __future__ import annotations

import pytest
from web3 import Web3

from pipeline.sources.chain.ethereum import EthereumWatcher

from .anvil_node import PRICES, node_without, send

ALWAYS_REVERTS = "0x60006000fd"  # PUSH1 0 PUSH1 0 REVERT: runtime code that refuses every call and payment


def tx_hash(h) -> str:
    return "0x" + bytes(h).hex().removeprefix("0x")


def one_block(w3, txs: list[dict]) -> list[str]:
    """Send the transactions with mining paused, then mine them together in one block."""
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        hashes = [tx_hash(w3.eth.send_transaction(tx)) for tx in txs]
    finally:
        w3.provider.make_request("evm_mine", [])
        w3.provider.make_request("evm_setAutomine", [True])
    return hashes


@pytest.fixture(scope="module")
def reverting_exchange(world):
    """Binance's labelled cold wallet, turned into a contract that reverts on every payment."""
    w3 = world["w3"]
    w3.provider.make_request("anvil_setCode", [world["ex_cold"], ALWAYS_REVERTS])
    return world["ex_cold"]


def make_watcher(world, w3, start):
    return EthereumWatcher(w3, world["labels"], tokens={world["token"].address: ("TUSD", 6)}, min_usd=1_000_000,
                           price=PRICES, finality=50, start_block=start, clock=lambda: 1_700_000_000_000)


def blocks_with_a_failed_deposit(world, cold):
    """Block 1: a reverted 800 ETH deposit, a good 700 ETH deposit and a small payment; block 2: only a
    small payment (no receipts needed); block 3: a reverted deposit alone. Returns (good, reverted...)."""
    w3, W = world["w3"], world
    eth = lambda n: w3.to_wei(n, "ether")  # noqa: E731
    failed, good, _ = one_block(w3, [
        {"from": W["whale"], "to": cold, "value": eth(800), "gas": 100_000},  # gas given: estimation would refuse
        {"from": W["whale"], "to": W["ex_hot"], "value": eth(700)},
        {"from": W["alice"], "to": W["bob"], "value": eth(1)}])
    send(w3, W["alice"], W["bob"], 2)
    [failed2] = one_block(w3, [{"from": W["bob"], "to": cold, "value": eth(900), "gas": 100_000}])
    statuses = [w3.eth.get_transaction_receipt(h)["status"] for h in (failed, good, failed2)]
    assert statuses == [0, 1, 0]  # what the node says: the test's premise
    return good, failed, failed2


def test_reverted_deposits_are_dropped_with_block_receipts(world, reverting_exchange):
    w3 = world["w3"]
    start = w3.eth.block_number + 1
    good, failed, failed2 = blocks_with_a_failed_deposit(world, reverting_exchange)
    w = make_watcher(world, w3, start)
    evs = w.poll()
    assert [(e.tx_hash, e.amount, e.direction) for e in evs] == [(good, 700.0, "exchange_inflow")]
    assert w.reverted_dropped == 2 and w.receipts.block_receipts is True
    assert w.receipts.requests == 2  # one call for each block with a candidate, none for the small payment's


def test_reverted_deposits_are_dropped_with_per_transaction_receipts(world, reverting_exchange):
    start = world["w3"].eth.block_number + 1
    good, failed, failed2 = blocks_with_a_failed_deposit(world, reverting_exchange)
    with node_without(world["url"], lambda method: method == "eth_getBlockReceipts") as (url, asked):
        w = make_watcher(world, Web3(Web3.HTTPProvider(url)), start)
        evs = w.poll()
    assert [(e.tx_hash, e.amount, e.direction) for e in evs] == [(good, 700.0, "exchange_inflow")]
    assert w.reverted_dropped == 2 and w.receipts.block_receipts is False
    assert asked.count("eth_getBlockReceipts") == 1  # asked once, then never again
    assert asked.count("eth_getTransactionReceipt") == 3  # the three candidates over the threshold, nothing else
