"""Internal ETH transfers: ether a contract sends in a call of its own (a multisig or smart wallet paying
out, a router forwarding), which no transaction's value shows. Read from the node's call traces, one
`debug_traceBlockByHash` with the built-in `callTracer` per block (Geth, Erigon, Reth, Nethermind and
Anvil serve it; hosted providers mostly on paid plans).

A call frame moves its value only if neither it nor any frame above it reverted (`error` set: a revert
undoes everything under it), and only a CALL (or a SELFDESTRUCT, which hands the contract's balance to
its beneficiary) moves value to its `to`: DELEGATECALL and STATICCALL carry none of their own, and a
CREATE's value goes to a new contract. The transaction's own value (the top frame) is the watcher's
native transfer, not an internal one.

A frame is named by its path among its parent's calls ("0", "0.2", ...), stable for a transaction as
long as its block stands: the transfer's id is `ethereum:<tx_hash>:internal:<path>`. A transaction the
node could not trace (an entry with an `error` and no `result`) fails the poll, which is tried again:
its transfers are never skipped unsaid.

The result, as Geth documents it (one entry per transaction, in block order; `txHash` since Geth 1.11):

    [{"txHash": "0x3811...", "result": {"type": "CALL", "from": "0x90f7...", "to": "0x057e...",
      "value": "0x4563918244f40000", "gas": "0x1b403", "gasUsed": "0x7671", "input": "0x",
      "calls": [{"type": "CALL", "from": "0x057e...", "to": "0x7099...", "value": "0x4563918244f40000",
                 "gas": "0x18982", "gasUsed": "0x0", "input": "0x"}]}}]
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from web3 import Web3

MOVES_VALUE = ("CALL", "SELFDESTRUCT")
TRACE_TIMEOUT = "60s"

log = logging.getLogger("pipeline.sources.chain.ethereum")


class TracesUnavailable(RuntimeError):
    """The node does not serve call traces (`debug_traceBlockByHash` with `callTracer`)."""


class Internal(NamedTuple):
    tx_hash: str
    path: str
    from_address: str
    to_address: str
    wei: int


class InternalReader:
    def __init__(self, w3: Web3):
        self.w3 = w3
        self.requests = 0
        self.too_deep = 0  # blocks whose traces nest deeper than JSON is read here (their internal transfers unread)

    def transfers(self, bhash: str, tx_hashes: list[str]) -> list[Internal]:
        """Every internal transfer of ether in the block `bhash`, in block order; `tx_hashes`: the block's
        transactions in order (older nodes give no `txHash` in the trace)."""
        self.requests += 1
        try:
            # Geth stops tracing a transaction after 5 s unless told otherwise: a heavy one would fail.
            answer = self.w3.provider.make_request(
                "debug_traceBlockByHash", [bhash, {"tracer": "callTracer", "timeout": TRACE_TIMEOUT}])
        except RecursionError:
            # Calls nest up to 1,024 deep, their JSON twice that, past what the JSON parser reads. Asking
            # again would fail again and hold the watcher on this block for good: it goes on without them.
            self.too_deep += 1
            log.error("ethereum: the call traces of block %s nest too deep to read: its internal transfers are "
                      "not published", bhash)
            return []
        return transfers_in(answer, bhash, tx_hashes)


def transfers_in(answer: dict, bhash: str, tx_hashes: list[str]) -> list[Internal]:
    """The internal transfers in a node's JSON-RPC answer to debug_traceBlockByHash (callTracer)."""
    if "error" in answer or not isinstance(answer.get("result"), list):
        raise TracesUnavailable(f"debug_traceBlockByHash (callTracer) of block {bhash}: "
                                f"{answer.get('error', 'no list of traces')}")
    traces = answer["result"]
    if len(traces) != len(tx_hashes):
        raise TracesUnavailable(f"block {bhash}: {len(traces)} traces for {len(tx_hashes)} transactions")
    out: list[Internal] = []
    for txh, item in zip(tx_hashes, traces):
        if not isinstance(item, dict):
            raise TracesUnavailable(f"block {bhash}: a trace that is not an object: {item!r:.200}")
        if item.get("txHash") and item["txHash"].lower() != txh.lower():
            raise TracesUnavailable(f"block {bhash}: trace of {item['txHash']} where {txh} was expected")
        frame = item.get("result")
        if not isinstance(frame, dict):
            # The node could not trace it (its tracer timed out): asked again with the next poll.
            raise TracesUnavailable(f"block {bhash}: no trace of {txh}: {item.get('error', item)!r:.300}")
        if not frame.get("error"):  # else the transaction reverted: nothing it called moved anything
            _walk(frame.get("calls") or (), txh, out)
    return out


def _walk(calls, txh: str, out: list[Internal]) -> None:
    """The value-moving calls under the top frame, depth first in call order (a stack, not recursion: calls
    nest up to 1,024 deep)."""
    stack = [(call, str(i)) for i, call in reversed(list(enumerate(calls)))]
    while stack:
        call, path = stack.pop()
        if not isinstance(call, dict) or call.get("error"):
            continue  # reverted: it and every call under it moved nothing
        wei = int(call.get("value") or "0x0", 16)
        frm, to = str(call.get("from", "")).lower(), str(call.get("to") or "").lower()
        # A contract destroying itself in favour of itself moves nothing (and after Cancun keeps its balance).
        if wei > 0 and call.get("type") in MOVES_VALUE and to and to != frm:
            out.append(Internal(txh, path, frm, to, wei))
        stack.extend((sub, f"{path}.{i}") for i, sub in reversed(list(enumerate(call.get("calls") or ()))))
