"""Bitcoin whale transfer watcher: Bitcoin Core JSON-RPC or Esplora REST -> WhaleTransfer events.

For each transaction, each output at or above `min_btc` becomes an event, except change (an output
paying one of the transaction's own input addresses). Direction comes from pipeline.labels.classify
with the label of the (first labelled) input address as the sender and the output address as the
receiver: exchange_inflow / exchange_internal (same entity on both sides) / exchange_outflow / other.

Input addresses are known only when the backend returns prevouts: Esplora always does; Bitcoin Core
does with `getblock <hash> 3` (v25+). With an older node (verbosity 2) inputs are unlabelled, so
internal moves look like inflows and outflows are not seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import httpx

from pipeline.contracts.models import WhaleTransfer
from pipeline.labels import LabelStore, classify
from pipeline.sources.chain.common import PriceFn, now_ms, usd

SATS = Decimal(100_000_000)


class ChainSourceError(RuntimeError):
    pass


@dataclass
class TxIn:
    address: str | None
    value_btc: float | None
    coinbase: bool = False


@dataclass
class TxOut:
    n: int
    address: str | None
    value_btc: float


@dataclass
class Tx:
    txid: str
    vin: list[TxIn]
    vout: list[TxOut]


@dataclass
class Block:
    hash: str
    height: int
    time: int  # seconds
    txs: list[Tx] = field(default_factory=list)


# --------------------------------------------------------------------------- Bitcoin Core JSON-RPC

def _spk_address(spk: dict | None) -> str | None:
    if not spk:
        return None
    if spk.get("address"):
        return spk["address"]
    addrs = spk.get("addresses")  # Bitcoin Core < 22
    return addrs[0] if addrs and len(addrs) == 1 else None


class BitcoinCoreRPC:
    """Bitcoin Core JSON-RPC over HTTP. Credentials may be in the URL (http://user:pass@host:8332)."""

    def __init__(self, url: str, *, timeout: float = 30.0, verbosity: int = 3, client: httpx.Client | None = None):
        parts = urlsplit(url)
        auth = None
        if parts.username is not None:
            auth = (parts.username, parts.password or "")
            host = parts.hostname + (f":{parts.port}" if parts.port else "")
            url = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
        self.url = url
        self.verbosity = verbosity
        self._client = client or httpx.Client(timeout=timeout, auth=auth)
        self._id = 0

    def close(self) -> None:
        self._client.close()

    def call(self, method: str, *params):
        self._id += 1
        try:
            resp = self._client.post(self.url, json={"jsonrpc": "1.0", "id": self._id, "method": method,
                                                     "params": list(params)})
        except httpx.HTTPError as exc:
            raise ChainSourceError(f"bitcoin rpc {method}: {exc}") from None
        try:
            body = resp.json()
        except ValueError:
            raise ChainSourceError(f"bitcoin rpc {method}: HTTP {resp.status_code}, not JSON") from None
        if body.get("error"):
            raise ChainSourceError(f"bitcoin rpc {method}: {body['error']}")
        if resp.status_code >= 400:
            raise ChainSourceError(f"bitcoin rpc {method}: HTTP {resp.status_code}")
        return body["result"]

    def tip_height(self) -> int:
        return int(self.call("getblockcount"))

    def block_hash(self, height: int) -> str:
        return self.call("getblockhash", height)

    def block(self, block_hash: str) -> Block:
        try:
            raw = self.call("getblock", block_hash, self.verbosity)
        except ChainSourceError:
            if self.verbosity <= 2:
                raise
            self.verbosity = 2  # node older than v25: no verbosity 3
            raw = self.call("getblock", block_hash, 2)
        txs = []
        for t in raw["tx"]:
            vin = []
            for i in t.get("vin", []):
                if "coinbase" in i:
                    vin.append(TxIn(None, None, coinbase=True))
                    continue
                prev = i.get("prevout")
                vin.append(TxIn(_spk_address(prev.get("scriptPubKey")) if prev else None,
                                float(prev["value"]) if prev else None))
            vout = [TxOut(int(o["n"]), _spk_address(o.get("scriptPubKey")), float(o["value"])) for o in t["vout"]]
            txs.append(Tx(t["txid"], vin, vout))
        return Block(raw["hash"], int(raw["height"]), int(raw["time"]), txs)


# --------------------------------------------------------------------------- Esplora REST

class EsploraClient:
    """Esplora / mempool.space style REST API (base URL such as https://blockstream.info/api)."""

    PAGE = 25

    def __init__(self, base_url: str, *, timeout: float = 30.0, client: httpx.Client | None = None):
        self.base = base_url.rstrip("/")
        self._client = client or httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def _get(self, path: str):
        try:
            resp = self._client.get(self.base + path)
        except httpx.HTTPError as exc:
            raise ChainSourceError(f"esplora {path}: {exc}") from None
        if resp.status_code != 200:
            raise ChainSourceError(f"esplora {path}: HTTP {resp.status_code} {resp.text[:200]}")
        return resp

    def tip_height(self) -> int:
        return int(self._get("/blocks/tip/height").text.strip())

    def block_hash(self, height: int) -> str:
        return self._get(f"/block-height/{height}").text.strip()

    def block(self, block_hash: str) -> Block:
        meta = self._get(f"/block/{block_hash}").json()
        txs: list[Tx] = []
        start = 0
        while start < int(meta["tx_count"]):
            page = self._get(f"/block/{block_hash}/txs/{start}").json()
            if not page:
                break
            for t in page:
                vin = []
                for i in t.get("vin", []):
                    if i.get("is_coinbase"):
                        vin.append(TxIn(None, None, coinbase=True))
                        continue
                    prev = i.get("prevout") or {}
                    vin.append(TxIn(prev.get("scriptpubkey_address"),
                                    float(Decimal(prev["value"]) / SATS) if "value" in prev else None))
                vout = [TxOut(n, o.get("scriptpubkey_address"), float(Decimal(o["value"]) / SATS))
                        for n, o in enumerate(t["vout"])]
                txs.append(Tx(t["txid"], vin, vout))
            start += len(page)
        return Block(meta["id"], int(meta["height"]), int(meta["timestamp"]), txs)


# --------------------------------------------------------------------------- watcher

class BitcoinWatcher:
    def __init__(self, backend: BitcoinCoreRPC | EsploraClient, labels: LabelStore, *, min_btc: float = 100.0,
                 price: PriceFn | None = None, include_other: bool = True, clock=now_ms):
        self.backend = backend
        self.labels = labels
        self.min_btc = min_btc
        self.price = price
        self.include_other = include_other
        self.clock = clock

    def transfers_in_block(self, block: Block, tip_height: int) -> list[WhaleTransfer]:
        out: list[WhaleTransfer] = []
        block_ms = block.time * 1000
        confirmations = max(0, tip_height - block.height)  # blocks on top of it, as for ethereum
        observed = self.clock()
        for tx in block.txs:
            in_addrs = [i.address for i in tx.vin if i.address]
            if any(i.coinbase for i in tx.vin):
                from_address = "coinbase"
            else:
                from_address = in_addrs[0] if in_addrs else "unknown"
            from_label = None
            for a in in_addrs:
                from_label = self.labels.lookup("bitcoin", a)
                if from_label is not None:
                    from_address = a
                    break
            own = set(in_addrs)
            for o in tx.vout:
                if o.value_btc < self.min_btc or not o.address or o.address in own:
                    continue
                to_label = self.labels.lookup("bitcoin", o.address)
                direction = classify(from_label, to_label)
                if direction == "other" and not self.include_other:
                    continue
                out.append(WhaleTransfer(
                    event_id=f"bitcoin:{tx.txid}:{o.n}", chain="bitcoin", asset="BTC", amount=o.value_btc,
                    usd_value=usd(self.price, "BTC", o.value_btc, block_ms),
                    from_address=from_address, to_address=o.address,
                    from_entity=from_label.entity if from_label else None,
                    to_entity=to_label.entity if to_label else None,
                    direction=direction, tx_hash=tx.txid, block_number=block.height, block_time=block_ms,
                    confirmations=confirmations, observed_ts=observed,
                ))
        return out

    def scan(self, from_height: int | None = None, to_height: int | None = None) -> Iterator[WhaleTransfer]:
        """Events for heights from_height..to_height inclusive (default: the tip block only)."""
        tip = self.backend.tip_height()
        hi = tip if to_height is None else min(to_height, tip)
        lo = hi if from_height is None else from_height
        for h in range(lo, hi + 1):
            block = self.backend.block(self.backend.block_hash(h))
            yield from self.transfers_in_block(block, tip)
