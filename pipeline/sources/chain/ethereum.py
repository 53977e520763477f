"""Ethereum whale transfer watcher (web3.py over HTTP): native ETH and ERC-20 Transfer logs (and, with
`internal=True`, ether moved inside contract calls: internal.py) -> WhaleTransfer.

Each poll:
  0. a head below a height already read (a load-balanced provider answering from a lagging backend) is
     no reorg: the poll waits for the node to catch up and does nothing;
  1. reorg check: the block hash stored for each recently processed height is compared with the node's;
     from the lowest height that changed, those heights are processed again, and every transfer emitted
     there, not yet final and not found again in the new blocks, is emitted again with retracted=true (a
     transaction the new chain holds too is the same transfer, emitted again with its new block);
  2. new blocks up to the head (at most `max_blocks` per poll) are processed: each transfer at or above
     `min_usd` is emitted at first sight with confirmations = head - block (0 for the head block). Token
     logs are asked of each block by its hash (EIP-234): never a range a provider caps (10,000 logs, or a
     few blocks on free tiers), and never logs of another block than the one read;
  3. every emitted transfer that is now `finality` blocks deep is emitted again with that confirmation
     count (the final copy) and forgotten;
  4. the checkpoint file (last block, recent block hashes, pending transfers) is rewritten atomically, so
     a restart resumes after the last processed block and can still retract across the restart. `run`
     and `follow` write it only once the batch's sink has taken the events (`poll(commit=False)`, then
     `commit()`): a sink that fails leaves the checkpoint where it was, and the batch is read again.

A transaction whose receipt status is 0 (reverted) moved no ETH: its value is not reported. Receipts
are read (receipts.py) only for blocks with a native transfer at or above the threshold. ERC-20
Transfer logs need no receipt: a reverted transaction leaves no logs.

event_id: ethereum:<tx_hash>:native for the ETH value of a transaction, ethereum:<tx_hash>:<logIndex>
for an ERC-20 Transfer log, ethereum:<tx_hash>:internal:<call path> for ether a contract sent.

Mints and burns (a Transfer from or to the zero address) are no transfers between holders and are not
published. A token transfer carries the token's symbol in `token`, and in `asset` the asset it is a form of: a
wrapped coin (WBTC, cbBTC, WETH; `WRAPS`) deposited on an exchange is that coin's supply there, so it
is published as BTC or ETH, keyed and detected with that asset's market. Other tokens are their own
asset.

Live following (`follow`, async) comes from pipeline/sources/chain/follow.py: a newHeads notification
only says when to `poll()`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import orjson
from web3 import Web3

from pipeline.contracts.models import WhaleTransfer
from pipeline.labels import LabelStore, classify
from pipeline.sources.chain.common import PriceFn, now_ms, usd
from pipeline.sources.chain.follow import HeadFollower
from pipeline.sources.chain.internal import InternalReader
from pipeline.sources.chain.receipts import ReceiptReader

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
# A Transfer from it is a mint, to it a burn: new supply or supply destroyed, no holder's coins moving
# (cbBTC is minted straight into Coinbase's wallets, which would read as a whale deposit there).
ZERO_ADDRESS = "0x" + "0" * 40
CHECKPOINT_VERSION = 1

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Token:
    address: str
    symbol: str
    decimals: int
    asset: str  # what a transfer of it is published as: the wrapped coin's asset, else the symbol


# Wrapped forms of a coin, by token symbol: their transfers are published as that coin.
WRAPS = {"WBTC": "BTC", "CBBTC": "BTC", "WETH": "ETH"}

# Mainnet tokens worth watching by default (address -> symbol, decimals).
MAINNET_TOKENS = {
    "0xdac17f958d2ee523a2206206994597c13d831ec7": ("USDT", 6),
    "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48": ("USDC", 6),
    "0x2260fac5e5542a773aa44fbcfedf7c193bc2c599": ("WBTC", 8),
    "0xcbb7c0000ab88b473b1f5afd9ef808440eed33bf": ("CBBTC", 8),  # Coinbase Wrapped BTC (cbBTC)
    "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2": ("WETH", 18),
}


def token_of(address: str, spec: tuple) -> Token:
    """A Token from (symbol, decimals) or (symbol, decimals, asset); without an asset, `WRAPS` or the symbol."""
    symbol, decimals, *asset = spec
    symbol = symbol.upper()
    return Token(address.lower(), symbol, int(decimals), (asset[0] if asset else WRAPS.get(symbol, symbol)).upper())


def _hex(v) -> str:
    if isinstance(v, (bytes, bytearray)):
        return "0x" + bytes(v).hex()
    s = str(v)
    return s if s.startswith("0x") else "0x" + s


def _topic_address(topic) -> str:
    return "0x" + _hex(topic)[-40:].lower()


class EthereumWatcher(HeadFollower):
    def __init__(self, w3: Web3, labels: LabelStore, *, tokens: dict[str, tuple] | None = None,
                 min_usd: float = 1_000_000.0, price: PriceFn | None = None, finality: int = 12,
                 checkpoint: str | os.PathLike | None = None, start_block: int | None = None,
                 include_other: bool = True, max_blocks: int = 500, clock: Callable[[], int] = now_ms,
                 internal: bool = False):
        self.w3 = w3
        self.labels = labels
        self.tokens = {a.lower(): token_of(a, spec) for a, spec in (tokens or {}).items()}
        self.min_usd = min_usd
        self.price = price
        self.finality = finality
        self.include_other = include_other
        self.max_blocks = max_blocks
        self.clock = clock
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.last_block: int | None = None
        self.hashes: dict[int, str] = {}
        self.pending: dict[str, dict] = {}  # event_id -> event dict (emitted, not final yet)
        self.start_block = start_block
        self.last_head: int | None = None  # head seen by the latest poll
        self.blocks_processed = 0  # heights read by _process_range (a height re-read after a reorg counts again)
        HeadFollower.__init__(self)
        self.receipts = ReceiptReader(w3)
        self.internal = InternalReader(w3) if internal else None
        self.reverted_dropped = 0  # native transfers over the threshold dropped because their tx reverted
        if self.checkpoint and self.checkpoint.exists():
            self._load()
        self._committed = self._state()

    # ------------------------------------------------------------------ checkpoint
    def _load(self) -> None:
        state = orjson.loads(self.checkpoint.read_bytes())
        self.last_block = state.get("last_block")
        self.hashes = {int(k): v for k, v in state.get("hashes", {}).items()}
        self.pending = state.get("pending", {})

    def _save(self) -> None:
        if not self.checkpoint:
            return
        keep = self.finality + 64
        if self.last_block is not None:
            self.hashes = {h: v for h, v in self.hashes.items() if h > self.last_block - keep}
        state = {"version": CHECKPOINT_VERSION, "last_block": self.last_block,
                 "hashes": {str(k): v for k, v in sorted(self.hashes.items())}, "pending": self.pending}
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.checkpoint.with_name(self.checkpoint.name + ".tmp")
        tmp.write_bytes(orjson.dumps(state))
        os.replace(tmp, self.checkpoint)

    # ------------------------------------------------------------------ polling
    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def poll(self, to_block: int | None = None, *, commit: bool = True) -> list[WhaleTransfer]:
        """One step: reorg check, new blocks up to min(head, to_block), final copies. Returns events in order.
        With commit=False the checkpoint is written by `commit()`, once the events are safely handed on."""
        head = self.head()
        self.last_head = head
        if self.hashes and head < max(self.hashes):
            return []  # a lagging backend: not a reorg (module docstring, step 0)
        replaced = self._check_reorg(head)
        if self.last_block is None:
            start = self.start_block if self.start_block is not None else head
        else:
            start = self.last_block + 1
        end = min(head, to_block if to_block is not None else head, start + self.max_blocks - 1)
        new: list[WhaleTransfer] = []
        if end >= start:
            new = self._process_range(start, end, head)
            self.last_block = end
        again = {e.event_id for e in new}
        events = [e for e in replaced if e.event_id not in again] + new + self._finalize(head)
        if commit:
            self.commit()
        return events

    def commit(self) -> None:
        """Write the checkpoint of the polls so far (after `poll(commit=False)` and a sink that took them)."""
        self._save()
        self._committed = self._state()

    def rollback(self) -> None:
        """Back to the last commit: the polls since were not handed on (their sink failed), so read them again."""
        self.last_block, hashes, pending = self._committed
        self.hashes, self.pending = dict(hashes), {k: dict(v) for k, v in pending.items()}

    def _state(self) -> tuple:
        return self.last_block, dict(self.hashes), {k: dict(v) for k, v in self.pending.items()}

    def run(self, *, to_block: int | None = None, interval: float = 4.0,
            sink: Callable[[list[WhaleTransfer]], None] = lambda evs: None,
            stop: Callable[[], bool] = lambda: False) -> None:
        """Poll until `stop()` or until to_block is processed, handing each batch to `sink`; the checkpoint
        moves only once `sink` has returned."""
        while not stop():
            sink(self.poll(to_block, commit=False))
            self.commit()
            if to_block is not None and self.last_block is not None and self.last_block >= to_block:
                return  # a range run: transfers not yet `finality` deep stay pending in the checkpoint
            time.sleep(interval)

    def _check_reorg(self, head: int) -> list[WhaleTransfer]:
        if not self.hashes:
            return []
        fork = None
        for height in sorted(self.hashes, reverse=True):
            if height > head:
                fork = height
                continue
            blk = self.w3.eth.get_block(height)
            if _hex(blk["hash"]) == self.hashes[height]:
                break
            fork = height
        if fork is None:
            return []
        # Retracted unless the blocks read again hold them too (poll)
        out = []
        for eid, ev in sorted(self.pending.items(), key=lambda kv: (kv[1]["block_number"], kv[0])):
            if ev["block_number"] >= fork:
                d = {k: v for k, v in ev.items() if k != "block_hash"}
                out.append(WhaleTransfer.model_validate({**d, "retracted": True}))
                del self.pending[eid]
        self.hashes = {h: v for h, v in self.hashes.items() if h < fork}
        self.last_block = fork - 1
        return out

    def _process_range(self, start: int, end: int, head: int) -> list[WhaleTransfer]:
        out: list[WhaleTransfer] = []
        addresses = [Web3.to_checksum_address(a) for a in self.tokens]
        for n in range(start, end + 1):
            blk = self.w3.eth.get_block(n, full_transactions=True)
            bhash = _hex(blk["hash"])
            # The logs of this very block (EIP-234: by hash, the node answers for it or fails), not of a
            # block range: a range can meet a provider's cap, or be answered from a lagging backend as
            # empty, or hold a block a reorg has since replaced.
            logs = self.w3.eth.get_logs({"blockHash": bhash, "address": addresses,
                                         "topics": [TRANSFER_TOPIC]}) if addresses else []
            internals = self.internal.transfers(bhash, [_hex(tx["hash"]) for tx in blk["transactions"]]) \
                if self.internal is not None else []
            self.hashes[n] = bhash
            self.blocks_processed += 1
            out += self._block_events(blk, logs, head, bhash, internals)
        return out

    def _block_events(self, blk, logs, head: int, bhash: str, internals=()) -> list[WhaleTransfer]:
        number = int(blk["number"])
        block_ms = int(blk["timestamp"]) * 1000
        conf = max(0, head - number)
        observed = self.clock()
        out = []

        def emit(eid, asset, amount, frm, to, txh, token=None):
            # A wrapped coin is priced as itself when the table has it, else as the coin it wraps.
            value = (token and usd(self.price, token, amount, block_ms)) or usd(self.price, asset, amount, block_ms)
            if value < self.min_usd:
                return
            fl, tl = self.labels.lookup("ethereum", frm), self.labels.lookup("ethereum", to)
            direction = classify(fl, tl)
            if direction == "other" and not self.include_other:
                return
            ev = WhaleTransfer(event_id=eid, chain="ethereum", asset=asset, token=token, amount=amount, usd_value=value,
                               from_address=frm, to_address=to, from_entity=fl.entity if fl else None,
                               to_entity=tl.entity if tl else None, direction=direction, tx_hash=txh,
                               block_number=number, block_time=block_ms, confirmations=conf, observed_ts=observed)
            out.append(ev)
            if conf < self.finality:
                d = ev.model_dump(mode="json")
                d["block_hash"] = bhash
                self.pending[eid] = d

        natives = []
        for tx in blk["transactions"]:
            if int(tx["value"]) > 0 and tx.get("to"):
                amount = float(Decimal(int(tx["value"])) / Decimal(10**18))
                if usd(self.price, "ETH", amount, block_ms) >= self.min_usd:
                    natives.append((_hex(tx["hash"]), amount, tx))
        failed = self.receipts.reverted(number, bhash, [h for h, _, _ in natives]) if natives else set()
        for txh, amount, tx in natives:
            if txh.lower() in failed:
                self.reverted_dropped += 1
                log.info("ethereum: tx %s reverted (receipt status 0): its %.4f ETH did not move", txh, amount)
                continue
            emit(f"ethereum:{txh}:native", "ETH", amount, tx["from"].lower(), tx["to"].lower(), txh)
        for it in internals:
            emit(f"ethereum:{it.tx_hash}:internal:{it.path}", "ETH", float(Decimal(it.wei) / Decimal(10**18)),
                 it.from_address, it.to_address, it.tx_hash)
        for lg in sorted(logs, key=lambda x: int(x["logIndex"])):
            topics = lg["topics"]
            tok = self.tokens.get(str(lg["address"]).lower())
            if tok is None or len(topics) != 3 or _hex(topics[0]).lower() != TRANSFER_TOPIC:
                continue  # ERC-721 Transfer has 4 topics
            if ZERO_ADDRESS in (_topic_address(topics[1]), _topic_address(topics[2])):
                continue  # a mint or a burn
            raw = int(_hex(lg["data"]), 16) if _hex(lg["data"]) != "0x" else 0
            amount = float(Decimal(raw) / Decimal(10**tok.decimals))
            txh = _hex(lg["transactionHash"])
            emit(f"ethereum:{txh}:{int(lg['logIndex'])}", tok.asset, amount, _topic_address(topics[1]),
                 _topic_address(topics[2]), txh, tok.symbol)
        return out

    def _finalize(self, head: int) -> list[WhaleTransfer]:
        out = []
        for eid, ev in sorted(self.pending.items(), key=lambda kv: (kv[1]["block_number"], kv[0])):
            depth = head - ev["block_number"]
            if depth >= self.finality:
                d = {k: v for k, v in ev.items() if k != "block_hash"}
                out.append(WhaleTransfer.model_validate({**d, "confirmations": depth}))
                del self.pending[eid]
        return out


def http_web3(url: str, timeout: float = 30.0) -> Web3:
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))
