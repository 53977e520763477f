"""An old Bitcoin Core node (0.17, late 2018) played back from real recorded JSON-RPC results.

The recordings in tests/data/chain/core_mainnet_50000_50002/ are the `result` parts of real answers for
mainnet blocks 50000-50002 (`getblockhash`, `getblock <hash> 2`, and `getrawtransaction <txid> true` for
the outputs block 50001 spends). `RecordedCore.answer` replies to a call as that node did: the recorded
bytes unchanged inside Core's JSON-RPC envelope, or the error Core 0.17 gives for the call.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data" / "chain"
MAINNET_50000_50002 = DATA / "core_mainnet_50000_50002"

_NAME = re.compile(r"rpc_response_(getblockhash|getblock|getrawtransaction)_([0-9a-f]+?)(?:_(\d+))?\.json")

# Bitcoin Core's error codes (src/rpc/protocol.h)
RPC_MISC_ERROR, RPC_INVALID_ADDRESS_OR_KEY, RPC_INVALID_PARAMETER = -1, -5, -8


class RecordedCore:
    """Core 0.17 as recorded: `getblock` with any verbosity >= 2 answers with the verbosity-2 data (0.17
    computes `blockToJSON(block, index, verbosity >= 2)`: it has no verbosity 3 and does not refuse it),
    inputs carry no `prevout`, and scriptPubKeys list `addresses` (arrays) and `reqSigs`."""

    def __init__(self, directory: Path = MAINNET_50000_50002):
        self.hashes: dict[int, bytes] = {}  # height -> recorded result (a JSON string)
        self.blocks: dict[str, bytes] = {}  # block hash -> recorded verbosity-2 result
        self.txs: dict[str, bytes] = {}  # txid -> recorded verbose getrawtransaction result
        for path in sorted(directory.glob("rpc_response_*.json")):
            m = _NAME.fullmatch(path.name)
            if not m:
                raise ValueError(f"{path.name}: not a recorded response name")
            method, key, verbosity = m.groups()
            raw = path.read_bytes()
            if method == "getblockhash":
                self.hashes[int(key)] = raw
            elif method == "getblock":
                if verbosity != "2":
                    raise ValueError(f"{path.name}: only verbosity-2 blocks are recorded")
                self.blocks[key] = raw
            else:
                self.txs[key] = raw
        # The node's tip when it answered: each block says how deep it was (confirmations = tip - height + 1).
        tips = {b["height"] + b["confirmations"] - 1 for b in map(json.loads, self.blocks.values())}
        if len(tips) != 1:
            raise ValueError(f"recorded blocks disagree on the tip: {sorted(tips)}")
        self.tip = tips.pop()

    def answer(self, method: str, params: list) -> tuple[bytes | None, dict | None]:
        """(result bytes, None) or (None, error object), as Core 0.17 answers the call."""
        if method == "getblockcount":
            return str(self.tip).encode(), None
        if method == "getblockhash":
            height = params[0]
            if not isinstance(height, int) or not 0 <= height <= self.tip:
                return None, {"code": RPC_INVALID_PARAMETER, "message": "Block height out of range"}
            return self._recorded(self.hashes.get(height), method, params)
        if method == "getblock":
            verbosity = params[1] if len(params) > 1 else 1
            if isinstance(verbosity, bool):  # 0.17 still takes the old boolean `verbose`
                verbosity = int(verbosity)
            if params[0] not in self.blocks:
                return None, {"code": RPC_INVALID_ADDRESS_OR_KEY, "message": "Block not found"}
            return self._recorded(self.blocks[params[0]] if verbosity >= 2 else None, method, params)
        if method == "getrawtransaction":
            if not (len(params) > 1 and params[1]):
                return self._recorded(None, method, params)  # only the verbose answers are recorded
            if params[0] not in self.txs:
                return None, {"code": RPC_INVALID_ADDRESS_OR_KEY, "message": "No such mempool or blockchain "
                              "transaction. Use gettransaction for wallet transactions."}
            return self.txs[params[0]], None
        return None, {"code": -32601, "message": "Method not found"}

    @staticmethod
    def _recorded(raw: bytes | None, method: str, params: list) -> tuple[bytes | None, dict | None]:
        if raw is None:  # a call the recordings cannot answer: fail loudly, never invent an answer
            return None, {"code": RPC_MISC_ERROR, "message": f"not recorded: {method} {json.dumps(params)}"}
        return raw, None


def envelope(result: bytes | None, error: dict | None, request_id) -> bytes:
    """Core's JSON-RPC 1.0 reply, with the recorded result bytes as they are."""
    body = result if error is None else b"null"
    return (b'{"result":' + body + b',"error":' + json.dumps(error).encode() + b',"id":'
            + json.dumps(request_id).encode() + b"}\n")
