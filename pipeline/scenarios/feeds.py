"""Turn a simulated market into the events its feeds would deliver.

One-minute taker-flow bars per venue, liquidations spread over the venues (Binance's sampled to at
most one per symbol per second, the latest, as its forceOrder stream does), whale transfers seen
on chain up to ten minutes after their block, ETF flows published the next morning; then venue
gaps, duplicates and arrival order as real feeds produce them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from pipeline.scenarios.market import ASSETS, DAY, HOUR, MINUTE, SAMPLED_VENUE, VENUE_SHARE, VENUES


@dataclass
class Moves:
    """One asset's market, minute by minute: log-return moves and extra taker flow from the episodes."""

    minutes: int
    move: np.ndarray = None  # type: ignore[assignment]
    extra_sell: np.ndarray = None  # type: ignore[assignment]
    extra_buy: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.move = np.zeros(self.minutes)
        self.extra_sell = np.zeros(self.minutes)
        self.extra_buy = np.zeros(self.minutes)

    def drift(self, start: int, weights: np.ndarray, total_pct: float) -> None:
        """Move the price by total_pct over the minutes from `start`, spread as `weights` (summing to one)."""
        end = min(self.minutes, start + len(weights))
        self.move[start:end] += np.log1p(total_pct / 100.0) * weights[: end - start]

    def flow(self, start: int, length: int, usd: float, side: str) -> None:
        arr = self.extra_sell if side == "sell" else self.extra_buy
        arr[start:min(self.minutes, start + length)] += usd / length


@dataclass(frozen=True)
class Gap:
    venue: str
    asset: str
    start: int
    end: int


def gaps(rng: np.random.Generator, start_ms: int, minutes: int, per_day: float) -> list[Gap]:
    """Venue outages of 5-15 minutes: no bars and no liquidations from that venue and asset."""
    out = []
    for asset in ASSETS:
        for _ in range(rng.poisson(per_day * minutes / 1440)):
            g0 = start_ms + int(rng.integers(minutes)) * MINUTE
            out.append(Gap(VENUES[int(rng.integers(len(VENUES)))], asset, g0, g0 + int(rng.integers(5, 16)) * MINUTE))
    return out


def bars(rng: np.random.Generator, asset: str, path: Moves, start_ms: int, activity: np.ndarray,
         gs: list[Gap]) -> tuple[list[dict], np.ndarray]:
    """One-minute bars on every venue, and the close price per minute."""
    spec = ASSETS[asset]
    n = path.minutes
    busy = np.repeat(np.sqrt(activity), 60)[:n]
    logret = rng.normal(0, spec.sigma, n) * busy + path.move
    close = spec.price * np.exp(np.cumsum(logret))
    opens = np.concatenate(([spec.price], close[:-1]))
    out: list[dict] = []
    own = [(v, spec.symbol(asset, v)) for v in VENUES]
    my_gaps = [g for g in gs if g.asset == asset]
    for venue, symbol in own:
        o = opens * (1 + rng.normal(0, 0.00005, n))
        c = close * (1 + rng.normal(0, 0.00005, n))
        hi = np.maximum(o, c) * (1 + np.abs(rng.normal(0, spec.sigma / 3, n)))
        lo = np.minimum(o, c) * (1 - np.abs(rng.normal(0, spec.sigma / 3, n)))
        buy = spec.vol_usd * busy * rng.uniform(0.7, 1.3, n) + path.extra_buy / len(VENUES)
        sell = spec.vol_usd * busy * rng.uniform(0.7, 1.3, n) + path.extra_sell / len(VENUES)
        skip = np.zeros(n, dtype=bool)
        for g in my_gaps:
            if g.venue == venue:
                skip[max(0, (g.start - start_ms) // MINUTE):max(0, (g.end - start_ms) // MINUTE)] = True
        rows = zip(range(n), np.round(o, 6).tolist(), np.round(hi, 6).tolist(), np.round(lo, 6).tolist(),
                   np.round(c, 6).tolist(), np.round(buy, 2).tolist(), np.round(sell, 2).tolist(), skip.tolist())
        for i, op, h, lw, cl, b, s, gap in rows:
            if gap:
                continue
            out.append({"type": "trade_flow", "venue": venue, "symbol": symbol, "asset": asset,
                        "ts": start_ms + i * MINUTE, "interval_ms": MINUTE, "buy_volume_usd": b, "sell_volume_usd": s,
                        "open": op, "high": h, "low": lw, "close": cl, "trade_count": int((b + s) / 10_000)})
    return out, close


def liquidations(rng: np.random.Generator, asset: str, raw: list[tuple[int, str, float]], close: np.ndarray,
                 start_ms: int, gs: list[Gap], tag: str) -> list[dict]:
    """Liquidation events, spread over the venues (before Binance's sampling)."""
    spec = ASSETS[asset]
    n = len(raw)
    venue_idx = rng.choice(len(VENUES), size=n, p=VENUE_SHARE)
    delays = rng.integers(20, 400, n).tolist()
    ts_arr = np.fromiter((r[0] for r in raw), dtype=np.int64, count=n)
    lost = np.zeros(n, dtype=bool)
    for g in gs:
        if g.asset == asset:
            lost |= (venue_idx == VENUES.index(g.venue)) & (ts_arr >= g.start) & (ts_arr < g.end)
    minute = np.clip((ts_arr - start_ms) // MINUTE, 0, len(close) - 1)
    prices = close[minute].tolist()
    out: list[dict] = []
    for k, ((ts, side, usd), vi, delay, price, gone) in enumerate(zip(raw, venue_idx.tolist(), delays, prices,
                                                                      lost.tolist())):
        if gone:
            continue
        venue = VENUES[vi]
        qty = usd / price
        out.append({"type": "liquidation", "event_id": f"sim:{venue}:{asset}:{ts}:{tag}{k}", "venue": venue,
                    "symbol": spec.symbol(asset, venue), "asset": asset, "side": side, "price": round(price, 6),
                    "quantity": round(qty, 8), "notional_usd": round(qty * price, 2), "ts": ts,
                    "received_ts": ts + delay, "completeness": "sampled" if venue == SAMPLED_VENUE else "full"})
    return out


def sample_binance(events: list[dict]) -> list[dict]:
    """Keep, per Binance symbol and second, only the latest liquidation (what forceOrder pushes)."""
    kept: dict[tuple[str, int], dict] = {}
    out = []
    for ev in events:
        if ev["venue"] != SAMPLED_VENUE:
            out.append(ev)
            continue
        key = (ev["symbol"], ev["ts"] // 1000)
        if key not in kept or kept[key]["ts"] <= ev["ts"]:
            kept[key] = ev
    return out + list(kept.values())


def transfer(rng: np.random.Generator, asset: str, ts: int, usd: float, direction: str, n: int) -> dict:
    chain = "bitcoin" if asset == "BTC" else "ethereum"
    tx = rng.bytes(32).hex()
    return {"type": "whale_transfer", "event_id": f"{chain}:{tx}:0", "chain": chain, "asset": asset,
            "amount": round(usd / ASSETS[asset].price, 6), "usd_value": round(usd, 2),
            "from_address": f"sim-whale-{n}", "to_address": "sim-exchange-hot",
            "from_entity": "binance" if direction == "exchange_internal" else None, "to_entity": "binance",
            "direction": direction, "tx_hash": tx, "block_number": n, "block_time": ts, "confirmations": 1,
            "observed_ts": ts + int(rng.integers(10_000, 600_000))}


def etf_flows(rng: np.random.Generator, start_ms: int, days: int) -> list[dict]:
    """Spot BTC ETF flows in regimes of inflow and outflow weeks, published the next morning."""
    out, regime = [], 1.0
    for d in range(-25, days):
        if d % 7 == 0:
            regime = float(rng.choice((-1.0, -0.5, 0.5, 1.0)))
        day = start_ms + d * DAY
        date = dt.datetime.fromtimestamp(day / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d")
        for fund, share in (("IBIT", 0.5), ("FBTC", 0.3), ("GBTC", 0.2)):
            out.append({"type": "etf_flow", "event_id": f"etf:{fund}:{date}", "date": date, "fund": fund,
                        "asset": "BTC", "net_flow_usd": round(regime * float(rng.uniform(50e6, 300e6)) * share, 2),
                        "published_ts": day + 30 * HOUR, "source": "simulator"})
    return out


def deliver(rng: np.random.Generator, events: list[dict], duplicate_rate: float, jitter_ms: int) -> list[dict]:
    """Arrival order: exchange events up to `jitter_ms` late, chain and ETF events when observed; duplicates."""
    dup = rng.random(len(events)) < duplicate_rate
    events = events + [dict(e) for e, d in zip(events, dup.tolist()) if d]
    jitter = rng.integers(0, jitter_ms + 1, len(events)).tolist()

    def arrival(e: dict, j: int) -> int:
        t = e["type"]
        if t == "whale_transfer":
            return e["observed_ts"]
        if t == "etf_flow":
            return e["published_ts"]
        return e["ts"] + e.get("interval_ms", 0) + j

    keyed = sorted(range(len(events)), key=lambda i: (arrival(events[i], jitter[i]), i))
    return [events[i] for i in keyed]
