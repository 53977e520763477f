"""What the feeds deliver: venue events from raw liquidations, Binance's one-per-second sampling,
OKX's partial channel, clock offsets, arrival delays, duplicates, venue gaps and arrival order.

Binance's forceOrder stream pushes at most the latest liquidation per symbol per 1000 ms (venue
docs), so only that one is kept and its completeness is `sampled`. OKX documents that its
liquidation channel does not represent all liquidations: a random 60-90% is kept, `sampled`.
Bybit's allLiquidation pushes every liquidation: `full`.
"""

from __future__ import annotations

import hashlib

import numpy as np

from _holdout.market import VENUES, Market, RawLiq

COMPLETENESS = ("sampled", "full", "sampled")


def _hex(rng: np.random.Generator, n: int) -> str:
    return bytes(rng.integers(0, 256, n, dtype=np.uint8)).hex()


def deliver_liqs(market: Market, gaps: list[tuple[int, int, int]], rng: np.random.Generator) -> list[tuple[dict, str | None]]:
    """(event, episode id) per delivered liquidation."""
    spec = market.spec
    offset = rng.normal(0, 150, 3)  # each venue's clock against true time, ms
    okx_keep = rng.uniform(0.6, 0.9)
    kept: dict[tuple, RawLiq] = {}
    rest: list[RawLiq] = []
    for liq in market.liqs:
        if any(gv == liq.venue and g0 <= liq.ts < g1 for gv, g0, g1 in gaps):
            continue
        if liq.venue == 0:  # the latest per symbol and second survives
            key = (liq.ts // 1000,)
            if key not in kept or kept[key].ts <= liq.ts:
                kept[key] = liq
        elif liq.venue == 2 and rng.random() > okx_keep:
            continue
        else:
            rest.append(liq)
    out = []
    for liq in list(kept.values()) + rest:
        ts = int(liq.ts + offset[liq.venue] + rng.normal(0, 20))
        price = market.price_at(liq.ts) * (1 - 0.002 if liq.side == "long" else 1 + 0.002)
        qty = float(f"{liq.usd / price:.6g}")
        venue, symbol = VENUES[liq.venue], spec.symbols[liq.venue]
        delay = rng.lognormal(np.log(300), 0.6) + (rng.uniform(1000, 5000) if rng.random() < 0.01 else 0)
        digest = hashlib.sha1(f"{symbol}{ts}{liq.side}{qty}{rng.random()}".encode()).hexdigest()[:16]
        ev = {"type": "liquidation", "event_id": f"{venue}:{symbol}:{ts}:{digest}", "venue": venue,
              "symbol": symbol, "asset": spec.name, "side": liq.side, "price": float(f"{price:.6g}"),
              "quantity": qty, "notional_usd": round(qty * float(f"{price:.6g}"), 2), "ts": ts,
              "received_ts": int(ts + delay), "completeness": COMPLETENESS[liq.venue]}
        out.append((ev, liq.episode))
    return out


def whale_transfer(asset: str, usd: float, price: float, block_time: int, to_entity: str, direction: str,
                   rng: np.random.Generator) -> dict:
    chain = "bitcoin" if asset == "BTC" else "ethereum"
    tx = _hex(rng, 32)
    seen = rng.uniform(20_000, 360_000) if chain == "bitcoin" else rng.uniform(12_000, 120_000)
    addr = (lambda: "bc1q" + _hex(rng, 20)) if chain == "bitcoin" else (lambda: "0x" + _hex(rng, 20))
    return {"type": "whale_transfer", "event_id": f"{chain}:{tx}:0", "chain": chain, "asset": asset,
            "amount": float(f"{usd / price:.8g}"), "usd_value": round(usd, 2), "from_address": addr(),
            "to_address": addr(), "from_entity": to_entity if direction == "exchange_internal" else None,
            "to_entity": to_entity, "direction": direction, "tx_hash": tx,
            "block_number": int(800_000 + block_time // 600_000) if chain == "bitcoin" else int(block_time // 12_000),
            "block_time": block_time, "confirmations": 1, "observed_ts": int(block_time + seen)}


def arrival(ev: dict) -> int:
    """When a line reaches us: received time, a bar's end, a chain observation."""
    if ev["type"] == "trade_flow":
        return ev["ts"] + ev["interval_ms"] + 400
    if ev["type"] == "whale_transfer":
        return ev["observed_ts"]
    return ev["received_ts"]


def arrange(events: list[dict], rng: np.random.Generator, dup_rate: float = 0.005) -> list[dict]:
    """Arrival order, with a few messages delivered twice (a reconnect replays the last ones)."""
    dups = [ev for ev in events if ev["type"] != "whale_transfer" and rng.random() < dup_rate]
    both = events + dups
    keys = [arrival(ev) + (rng.uniform(0, 2000) if i >= len(events) else 0) for i, ev in enumerate(both)]
    order = np.argsort(np.array(keys), kind="stable")
    return [both[i] for i in order]
