"""Receipt status of Ethereum transactions: which of a block's transactions reverted (status 0).

The whole block's receipts in one `eth_getBlockReceipts` call where the node has it; on a node that
answers "method not found" (asked once, then remembered), one `eth_getTransactionReceipt` per
transaction asked about. Receipts are checked to belong to the block read (by hash), so a block
replaced between the two reads is an error the next poll's reorg check resolves."""

from __future__ import annotations

import logging

from web3 import Web3

log = logging.getLogger("pipeline.sources.chain.ethereum")


def _hex(v) -> str:
    if isinstance(v, (bytes, bytearray)):
        return "0x" + bytes(v).hex()
    s = str(v)
    return s if s.startswith("0x") else "0x" + s


class ReceiptReader:
    def __init__(self, w3: Web3):
        self.w3 = w3
        self.block_receipts: bool | None = None  # does the node answer eth_getBlockReceipts? None: not asked yet
        self.requests = 0  # receipt calls made (one per block, or one per transaction asked about)

    def reverted(self, number: int, bhash: str, tx_hashes: list[str]) -> set[str]:
        """The (lower-case) hashes among `tx_hashes` whose receipt says status 0."""
        receipts = None
        if self.block_receipts is not False:
            try:
                receipts = self.w3.eth.get_block_receipts(number)  # by number: every node takes that
                self.requests += 1
                self.block_receipts = True
            except Exception as exc:  # noqa: BLE001 - sorted below: an unsupported method, or a real error
                if self.block_receipts is None and _method_missing(exc):
                    self.block_receipts = False
                    self.requests += 1
                    log.info("ethereum: the node has no eth_getBlockReceipts (%s); reading receipts per transaction",
                             exc)
                else:
                    raise
        if receipts is None:
            receipts = []
            for h in tx_hashes:
                receipts.append(self.w3.eth.get_transaction_receipt(h))
                self.requests += 1
        moved = [r for r in receipts if _hex(r["blockHash"]).lower() != bhash.lower()]
        if moved:  # the block was replaced between the two reads: the next poll's reorg check sorts it out
            raise RuntimeError(f"ethereum: block {number} changed while its receipts were read; poll again")
        wanted = {h.lower() for h in tx_hashes}
        failed = {_hex(r["transactionHash"]).lower() for r in receipts
                  if r.get("status") is not None and int(r["status"]) == 0}  # pre-Byzantium receipts have none
        seen = {_hex(r["transactionHash"]).lower() for r in receipts}
        if wanted - seen:
            raise RuntimeError(f"ethereum: block {number} ({bhash}): no receipt for {sorted(wanted - seen)}")
        return failed & wanted


def _method_missing(exc: Exception) -> bool:
    """A JSON-RPC answer meaning "this node has no such method" (code -32601, or the wording nodes use)."""
    err = getattr(exc, "rpc_response", None)
    err = err.get("error") if isinstance(err, dict) else None
    if isinstance(err, dict) and err.get("code") == -32601:
        return True
    text = str(exc).lower()
    return "-32601" in text or ("method" in text and any(
        w in text for w in ("not found", "does not exist", "not supported", "unsupported")))
