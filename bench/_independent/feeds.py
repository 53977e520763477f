"""What the feeds deliver, and when: venue drop-outs, Binance's sampling, receive times, chain delays,
arrival order and duplicates.

- Each venue drops out for 5-15 min (no bars, no liquidations) with probability 0.6 per day.
- binance-usdm keeps the latest liquidation per symbol per second (its stream's documented sampling).
- Liquidations arrive ~0.3 s after they happen, bars a little after they close, leverage snapshots
  ~0.2 s after theirs; a transfer is observed 20-600 s (BTC) or 12-150 s (ETH) after its block.
- Lines go out by receive time plus up to 3 s of jitter; 0.3% are sent again up to 5 s later.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from _independent.world import MINUTE, SECOND, VENUES, World, symbol

DROP_PER_DAY = 0.6
DUPLICATE_SHARE = 0.003


def chain_delay(rng: np.random.Generator, asset: str) -> float:
    """ms from block time until the watcher sees the transfer: about one block plus the watcher's lag."""
    return rng.uniform(20, 600) * SECOND if asset == "BTC" else rng.uniform(12, 150) * SECOND


def sample_dropouts(w: World) -> Callable[[str, float], bool]:
    """Draw each venue's drop-outs into w.drops; returns whether a venue is out at a time."""
    for v in VENUES:
        for d in range(w.days):
            if w.rng.uniform() < DROP_PER_DAY:
                s = (d * 1440 + w.rng.uniform(0, 1430)) * MINUTE
                w.drops.append((v, s, s + w.rng.uniform(5, 15) * MINUTE))
    drops = w.drops

    def dropped(venue: str, t: float) -> bool:
        return any(v == venue and s <= t < e for v, s, e in drops)

    return dropped


def deliver_liqs(w: World, dropped: Callable[[str, float], bool]) -> list[dict]:
    """liquidation events as the venues deliver them; the delivered raw rows go to w.delivered."""
    kept, last_binance = [], {}
    for row in sorted(w.liqs, key=lambda x: x[0]):
        t, v, a = row[0], row[1], row[2]
        if dropped(v, t):
            continue
        if v == "binance-usdm":
            last_binance[(a, t // SECOND)] = len(kept)
        kept.append(row)
    keep = set(last_binance.values())
    w.delivered = [row for i, row in enumerate(kept) if row[1] != "binance-usdm" or i in keep]
    out = []
    for n, (t, v, a, side, usd, _) in enumerate(w.delivered, 1):
        px = float(w.price[a][min(w.nsec - 1, t // SECOND)])
        px *= 1 + (-1 if side == "long" else 1) * w.rng.uniform(0, 0.0015)  # longs fill a little below, shorts above
        sym = symbol(v, a)
        ts = w.t0 + t
        out.append({"type": "liquidation", "event_id": f"{v}:{sym}:{ts}:{n}", "venue": v, "symbol": sym,
                    "asset": a, "side": side, "price": round(px, 6), "quantity": round(usd / px, 8),
                    "notional_usd": round(usd, 2), "ts": ts, "received_ts": ts + int(w.rng.exponential(250)) + 30,
                    "completeness": VENUES[v]["comp"]})
    return out


def whale_events(w: World) -> list[dict]:
    """The scenario's transfers, their amounts now priced at block time."""
    for ev in w.whales:
        px = float(w.price[ev["asset"]][min(w.nsec - 1, int(ev["_rel"] // SECOND))])
        ev["amount"] = round(ev["usd_value"] / px, 8)
    return w.whales


def _received(e: dict) -> int:
    if e["type"] == "whale_transfer":
        return e["observed_ts"]
    if e["type"] == "etf_flow":
        return e["published_ts"]
    return e.get("_recv") or e["received_ts"]


def arrange(events: list[dict], rng: np.random.Generator) -> list[dict]:
    """Delivery order: receive time plus jitter, some lines twice; fields starting with _ removed."""
    keyed = []
    for e in events:
        k = _received(e) + rng.uniform(0, 3000)
        keyed.append((k, e))
        if rng.uniform() < DUPLICATE_SHARE:
            keyed.append((k + rng.uniform(0, 5000), e))
    keyed.sort(key=lambda x: x[0])
    clean = {id(e): {k: v for k, v in e.items() if not k.startswith("_")} for e in events}
    return [clean[id(e)] for _, e in keyed]
