"""Chain transfers: large deposits to real exchange addresses, and the ordinary traffic around them.

Deposit addresses come from the project's label list (pipeline/labels/data/exchange_labels.csv):
bitcoin and ethereum addresses of binance, okx, coinbase, kraken, bybit and bitfinex. Background
traffic is exchange outflows, internal moves and other transfers ($5-60M), and inflows of $2-25M
kept away from the episodes (not within an hour before a labelled window, nor 4 h before a burst).
"""

from __future__ import annotations

import csv
import hashlib
import math
from functools import cache

from _independent.feeds import chain_delay
from _independent.world import HOUR, MINUTE, SECOND, World
from pipeline.labels.store import BUNDLED_CSV

ENTITIES = ("binance", "okx", "coinbase", "kraken", "bybit", "bitfinex")
CHAINS = {"BTC": "bitcoin", "ETH": "ethereum"}
# An address is picked by an index drawn from a fixed range and scaled to the list's length, so the
# random stream, and with it the rest of the scenario, does not depend on how long the list is.
PICK_RANGE = {"bitcoin": 510, "ethereum": 314}
DIRECTIONS = ["exchange_outflow", "other", "exchange_internal", "exchange_inflow", "exchange_outflow", "other"]


@cache
def exchange_addresses(chain: str) -> list[tuple[str, str]]:
    """(entity, address) of the chosen exchanges on a chain, in the label file's order."""
    with open(BUNDLED_CSV, newline="") as f:
        rows = [(r["entity"], r["address"]) for r in csv.DictReader(f)
                if r["chain"] == chain and r["entity"] in ENTITIES]
    if chain == "ethereum":
        rows = [(e, a.lower()) for e, a in rows]
    return rows


def pick_address(w: World, chain: str) -> tuple[str, str]:
    rows = exchange_addresses(chain)
    k = w.prng.randrange(PICK_RANGE[chain])
    return rows[k * len(rows) // PICK_RANGE[chain]]


def _made_up(asset: str, text: str) -> str:
    h = hashlib.sha256(text.encode()).hexdigest()
    return "bc1q" + h[:38] if asset == "BTC" else "0x" + h[:40]


def whale_transfer(w: World, asset: str, t: float, usd: float, direction: str = "exchange_inflow") -> dict:
    """A transfer in block near t (ms after t0); `_rel` holds its block time (the amount is priced later)."""
    chain = CHAINS[asset]
    ent, addr = pick_address(w, chain)
    frm = _made_up(asset, f"{w.seed}{t}w")
    delay = chain_delay(w.rng, asset)
    t = (t // MINUTE) * MINUTE if asset == "BTC" else (t // 12000) * 12000
    if direction == "exchange_outflow":
        frm, addr = addr, frm
        fe, te = ent, None
    elif direction == "exchange_internal":
        fe, te = ent, ent
        frm = pick_address(w, chain)[1]
    elif direction == "other":
        fe, te = None, None
        addr = _made_up(asset, f"{t}o")
    else:
        fe, te = None, ent
    tx = hashlib.sha256(f"{w.seed}:{asset}:{t}:{usd}".encode()).hexdigest()
    block = int(800_000 + t // 600_000) if asset == "BTC" else int(21_000_000 + t // 12000)
    ev = {"type": "whale_transfer", "event_id": f"{chain}:{tx}:0", "chain": chain, "asset": asset,
          "amount": 0.0, "usd_value": round(usd, 2), "from_address": frm, "to_address": addr,
          "from_entity": fe, "to_entity": te, "direction": direction, "tx_hash": tx, "block_number": block,
          "block_time": int(w.t0 + t), "confirmations": 1, "observed_ts": int(w.t0 + t + delay), "_rel": t}
    w.whales.append(ev)
    return ev


def background_traffic(w: World) -> None:
    """Ordinary transfers on BTC and ETH, 6-12 a day each."""
    rng = w.rng
    bursts = [(lab["asset"], lab["burst_start_ts"] - w.t0) for lab in w.labels if lab.get("burst_start_ts")]
    windows = [(lab["asset"], lab["start_ts"] - w.t0, lab["end_ts"] - w.t0) for lab in w.labels if lab["asset"] != "*"]
    for a in ("BTC", "ETH"):
        for _ in range(int(w.days * rng.uniform(6, 12))):
            t = rng.uniform(0, w.nsec * SECOND)
            direction = w.prng.choice(DIRECTIONS)
            usd = math.exp(rng.uniform(math.log(5e6), math.log(60e6)))
            if direction == "exchange_inflow":
                usd = math.exp(rng.uniform(math.log(2e6), math.log(25e6)))
                if any(aa == a and -4 * HOUR < bt - t < HOUR for aa, bt in bursts):
                    continue
                if any(aa == a and s - HOUR < t < e for aa, s, e in windows):
                    continue
            whale_transfer(w, a, t, usd, direction)
