"""Bitcoin whale transfer watcher: Bitcoin Core JSON-RPC or Esplora REST -> WhaleTransfer events.

For each transaction, each output worth at least `min_usd` (the same USD threshold as the Ethereum
watcher; or at least `min_btc` when that native-unit threshold is given instead) becomes an event,
except change (an output paying one of the transaction's own input addresses). Direction comes from
pipeline.labels.classify with the label of the (first labelled) input address as the sender and the
output address as the receiver: exchange_inflow / exchange_internal (same entity on both sides) / exchange_outflow / other.

Input addresses are known only when the backend returns prevouts: Esplora always does; Bitcoin Core
does with `getblock <hash> 3`. A node that refuses verbosity 3 (a JSON-RPC error about the
parameter) or ignores it (Bitcoin Core before 23 answers with verbosity-2 data, no `prevout`) is read
with verbosity 2 from then on, with a warning in the log: inputs are then unlabelled, so internal
moves look like inflows and outflows are not seen. Transient failures (timeouts, lost connections,
HTTP 5xx without a JSON-RPC answer, a node still warming up) are retried with backoff and never
change the verbosity.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import httpx

from pipeline.contracts.models import WhaleTransfer
from pipeline.labels import LabelStore, classify
from pipeline.sources.chain.common import PriceFn, now_ms, usd

SATS = Decimal(100_000_000)
RPC_IN_WARMUP = -28  # Bitcoin Core: "Loading block index...", "Verifying blocks..."
RPC_INVALID_PARAMETER, RPC_TYPE_ERROR = -8, -3

log = logging.getLogger(__name__)


class ChainSourceError(RuntimeError):
    pass


class RpcError(ChainSourceError):
    """The node answered the call with a JSON-RPC error object (its own decision, not a transport failure)."""

    def __init__(self, method: str, code, message: str):
        super().__init__(f"bitcoin rpc {method}: error {code}: {message}")
        self.code = code
        self.message = message


class _Transient(ChainSourceError):
    """A failure worth retrying: the request may succeed if sent again."""


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
    # Bitcoin Core before 22 printed an `addresses` array (with `reqSigs`) instead of `address`, and listed a
    # pay-to-pubkey output under its key's P2PKH address; a bare multisig lists several: no single owner.
    addrs = spk.get("addresses")
    return addrs[0] if addrs and len(addrs) == 1 else None


class BitcoinCoreRPC:
    """Bitcoin Core JSON-RPC over HTTP. Credentials may be in the URL (http://user:pass@host:8332)."""

    def __init__(self, url: str, *, timeout: float = 30.0, verbosity: int = 3, client: httpx.Client | None = None,
                 retries: int = 4, backoff_s: float = 0.5, backoff_max_s: float = 8.0,
                 sleep: Callable[[float], None] = time.sleep):
        parts = urlsplit(url)
        auth = None
        if parts.username is not None:
            auth = (parts.username, parts.password or "")
            host = parts.hostname + (f":{parts.port}" if parts.port else "")
            url = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
        self.url = url  # without credentials: safe to print
        self.verbosity = verbosity
        self.retries = retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.sleep = sleep
        self.retried = 0  # transient failures retried so far
        self._client = client or httpx.Client(timeout=timeout, auth=auth)
        self._id = 0

    def close(self) -> None:
        self._client.close()

    def call(self, method: str, *params):
        """The call's result. Transient failures are retried `retries` times, waiting `backoff_s` doubling up
        to `backoff_max_s`; RpcError when the node answers with an error, ChainSourceError when it gives up."""
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            try:
                return self._call_once(method, params)
            except _Transient as exc:
                if attempt == self.retries:
                    raise ChainSourceError(f"{exc} (gave up after {attempt + 1} attempts)") from None
                self.retried += 1
                log.warning("%s; retrying in %.1fs", exc, delay)
                self.sleep(delay)
                delay = min(delay * 2, self.backoff_max_s)
        raise AssertionError("unreachable")

    def _call_once(self, method: str, params):
        self._id += 1
        try:
            resp = self._client.post(self.url, json={"jsonrpc": "1.0", "id": self._id, "method": method,
                                                     "params": list(params)})
        except httpx.HTTPError as exc:  # timeouts, refused or reset connections
            raise _Transient(f"bitcoin rpc {method}: {type(exc).__name__}: {exc}") from None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("error"):  # Bitcoin Core answers errors with HTTP 500 and this body
            err = body["error"]
            code = err.get("code") if isinstance(err, dict) else None
            message = err.get("message", "") if isinstance(err, dict) else str(err)
            if code == RPC_IN_WARMUP:
                raise _Transient(f"bitcoin rpc {method}: node warming up: {message}")
            raise RpcError(method, code, message)
        if resp.status_code >= 500 or resp.status_code == 429:
            raise _Transient(f"bitcoin rpc {method}: HTTP {resp.status_code}")
        if resp.status_code >= 400:
            hint = " (check the RPC user and password)" if resp.status_code in (401, 403) else ""
            raise ChainSourceError(f"bitcoin rpc {method}: HTTP {resp.status_code}{hint}")
        if not isinstance(body, dict) or "result" not in body:
            raise ChainSourceError(f"bitcoin rpc {method}: HTTP {resp.status_code}, not a JSON-RPC answer")
        return body["result"]

    def tip_height(self) -> int:
        return int(self.call("getblockcount"))

    def block_hash(self, height: int) -> str:
        return self.call("getblockhash", height)

    def block(self, block_hash: str) -> Block:
        raw = None
        if self.verbosity >= 3:
            try:
                raw = self.call("getblock", block_hash, 3)
            except RpcError as exc:
                if not _refuses_verbosity(exc):
                    raise
                self._downgrade(f"it refused verbosity 3 ({exc.code}: {exc.message})")
            else:
                if _lacks_prevouts(raw):
                    self._downgrade("it ignored verbosity 3 (inputs without prevout: Bitcoin Core before 23)")
        if raw is None:
            raw = self.call("getblock", block_hash, 2)
        txs = []
        for t in raw["tx"]:
            vin = []
            for i in t.get("vin", []):
                if "coinbase" in i:
                    vin.append(TxIn(None, None, coinbase=True))
                    continue
                # Without `prevout` (verbosity 2) an input names only the output it spends (txid, vout), so its
                # address and value are unknown: who is paid is still known (inflows to labelled addresses),
                # who pays is not (no sender label: internal moves read as inflows, outflows as "other"; and
                # no change detection: change back to a labelled address reads as an inflow).
                prev = i.get("prevout")
                vin.append(TxIn(_spk_address(prev.get("scriptPubKey")) if prev else None,
                                float(prev["value"]) if prev else None))
            vout = [TxOut(int(o["n"]), _spk_address(o.get("scriptPubKey")), float(o["value"])) for o in t["vout"]]
            txs.append(Tx(t["txid"], vin, vout))
        return Block(raw["hash"], int(raw["height"]), int(raw["time"]), txs)


    def _downgrade(self, why: str) -> None:
        self.verbosity = 2
        log.warning("bitcoin rpc %s: reading blocks with getblock verbosity 2 from now on, because %s; input "
                    "addresses are unknown: internal moves look like inflows and outflows are not seen", self.url, why)


def _refuses_verbosity(exc: RpcError) -> bool:
    return exc.code in (RPC_INVALID_PARAMETER, RPC_TYPE_ERROR) or "verbosity" in exc.message.lower()


def _lacks_prevouts(raw: dict) -> bool:
    """True when no input of the block carries a prevout (a block of coinbase only says nothing)."""
    inputs = [i for t in raw.get("tx", []) for i in t.get("vin", []) if "coinbase" not in i]
    return bool(inputs) and not any("prevout" in i for i in inputs)


# --------------------------------------------------------------------------- Esplora REST

class EsploraClient:
    """Esplora / mempool.space style REST API (base URL such as https://blockstream.info/api).

    A block takes one request per 25 transactions, and the public instances rate-limit (HTTP 429): a 429,
    a 5xx or a network error is retried `retries` times, waiting `backoff_s` doubling up to `backoff_max_s`,
    or the server's Retry-After when it gives one (capped at `backoff_max_s`), as the Core client does."""

    PAGE = 25

    def __init__(self, base_url: str, *, timeout: float = 30.0, client: httpx.Client | None = None,
                 retries: int = 5, backoff_s: float = 1.0, backoff_max_s: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep):
        self.base = base_url.rstrip("/")
        self._client = client or httpx.Client(timeout=timeout)
        self.retries, self.backoff_s, self.backoff_max_s, self.sleep = retries, backoff_s, backoff_max_s, sleep
        self.retried = 0  # transient failures retried so far

    def close(self) -> None:
        self._client.close()

    def _get(self, path: str):
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            wait = None
            try:
                resp = self._client.get(self.base + path)
            except httpx.HTTPError as exc:
                why = f"esplora {path}: {type(exc).__name__}: {exc}"
            else:
                if resp.status_code == 200:
                    return resp
                why = f"esplora {path}: HTTP {resp.status_code} {resp.text[:200]}"
                if resp.status_code != 429 and resp.status_code < 500:
                    raise ChainSourceError(why)
                after = resp.headers.get("Retry-After", "")
                wait = min(float(after), self.backoff_max_s) if after.strip().isdigit() else None
            if attempt == self.retries:
                raise ChainSourceError(f"{why} (gave up after {attempt + 1} attempts)")
            self.retried += 1
            wait = delay if wait is None else wait
            log.warning("%s; retrying in %.1fs", why, wait)
            self.sleep(wait)
            delay = min(delay * 2, self.backoff_max_s)
        raise AssertionError("unreachable")

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
    def __init__(self, backend: BitcoinCoreRPC | EsploraClient, labels: LabelStore, *, min_usd: float = 1_000_000.0,
                 min_btc: float | None = None, price: PriceFn | None = None, include_other: bool = True,
                 clock=now_ms):
        """An output is an event when worth at least `min_usd` at `price`, or, with `min_btc` given, when it
        carries at least `min_btc` (then `min_usd` is not used)."""
        self.backend = backend
        self.labels = labels
        self.min_usd = min_usd
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
                if not o.address or o.address in own:
                    continue
                value = usd(self.price, "BTC", o.value_btc, block_ms)
                if (o.value_btc < self.min_btc) if self.min_btc is not None else (value < self.min_usd):
                    continue
                to_label = self.labels.lookup("bitcoin", o.address)
                direction = classify(from_label, to_label)
                if direction == "other" and not self.include_other:
                    continue
                out.append(WhaleTransfer(
                    event_id=f"bitcoin:{tx.txid}:{o.n}", chain="bitcoin", asset="BTC", amount=o.value_btc,
                    usd_value=value,
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
