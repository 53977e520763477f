"""The bundled demo scenario, shaped like the August 2025 BTC crash, with ordinary traffic around it.

A whale deposits about 24,000 BTC (about $2.75B) to an exchange on a Sunday evening, sells it over
~20 minutes, BTC breaks 115k and 112k, and ~$600M of leveraged longs are liquidated in a
self-exciting burst. Around it: six days of spot-ETF outflows, background liquidations on both
sides, exchange-internal and outbound transfers, and an ETH deposit nobody sells (it expires).
Deterministic for a seed; `python -m pipeline.scenarios.aug2025 OUT` rewrites the bundled file.

Exchange addresses are from the DefiLlama CEX address lists (see NOTICE); amounts are synthetic.
"""

from __future__ import annotations

import math
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from pipeline.scenarios.leverage import scripted

START = int(datetime(2025, 8, 24, 20, 0, tzinfo=timezone.utc).timestamp() * 1000)
MIN = 60_000
BAR_MS = 10_000
DURATION = 180 * MIN
DAY = 24 * 60 * MIN
WHALE_DEPOSIT_AT = START + 60 * MIN
SELL_FROM, SELL_TO = WHALE_DEPOSIT_AT + 3 * MIN, WHALE_DEPOSIT_AT + 23 * MIN
CASCADE_FROM, CASCADE_TO = WHALE_DEPOSIT_AT + 22 * MIN, WHALE_DEPOSIT_AT + 55 * MIN

BINANCE_BTC = "1Pzaqw98PeRfyHypfqyEgg5yycJRsENrE7"
BINANCE_BTC_2 = "32bhzEniykYRFADVaRM5PYswsjC23cxtes"
BINANCE_US_ETH = "0x61189da79177950a7272c88c6058b96d4bcd6be2"
VENUES = {  # venue -> (BTC symbol, ETH symbol, completeness of its liquidation feed)
    "binance-usdm": ("BTCUSDT", "ETHUSDT", "sampled"),
    "bybit": ("BTCUSDT", "ETHUSDT", "full"),
    "okx": ("BTC-USDT-SWAP", "ETH-USDT-SWAP", "full"),
}
ETF_FUNDS = {"IBIT": 0.45, "FBTC": 0.25, "ARKB": 0.1, "GBTC": 0.15, "BITB": 0.05}


def btc_price(t: int) -> float:
    """Piecewise path: flat ~114.8k, whale selling to ~112.1k, cascade to ~109.7k, partial recovery."""
    if t < SELL_FROM:
        return 114_800.0
    if t < SELL_TO:
        return 114_800.0 - 2_700.0 * (t - SELL_FROM) / (SELL_TO - SELL_FROM)
    if t < CASCADE_TO:
        x = (t - SELL_TO) / (CASCADE_TO - SELL_TO)
        return 112_100.0 - 2_400.0 * math.sqrt(x)
    return 109_700.0 + 800.0 * min(1.0, (t - CASCADE_TO) / (40 * MIN))


def eth_price(t: int) -> float:
    base = 4_750.0
    if t < SELL_TO:
        return base
    x = min(1.0, (t - SELL_TO) / (CASCADE_TO - SELL_TO))
    return base * (1 - 0.055 * math.sqrt(x))


def _hawkes_times(rng: random.Random, t0: int, t1: int, base_rate: float, branching: float, decay_ms: float) -> list[int]:
    """Self-exciting arrivals (Ogata thinning): each liquidation raises the near-term rate.

    `branching` (< 1) is the mean number of follow-on liquidations each one triggers.
    """
    alpha = branching / decay_ms
    out, t, excite = [], float(t0), 0.0
    while True:
        lam_bar = base_rate + excite
        w = rng.expovariate(lam_bar)
        excite *= math.exp(-w / decay_ms)
        t += w
        if t >= t1:
            return out
        if rng.random() * lam_bar <= base_rate + excite:
            out.append(int(t))
            excite += alpha


def _oi(base: float, build_pct: float, flush_pct: float):
    """Open interest (USD) of the scenario: a month drifting around `base`, built up by `build_pct` over
    the day before the deposit with the price flat, flushed by `flush_pct` during the cascade."""
    built = base * (1 + build_pct / 100)

    def oi(t: int) -> float:
        if t < WHALE_DEPOSIT_AT - DAY:
            return base * (1 + 0.015 * math.sin((t - START) / (2.7 * DAY)))
        if t < CASCADE_FROM:
            return base + (built - base) * min(1.0, (t - WHALE_DEPOSIT_AT + DAY) / DAY)
        x = min(1.0, (t - CASCADE_FROM) / (CASCADE_TO - CASCADE_FROM))
        return built * (1 - flush_pct / 100 * x ** (1 / 3))  # most of it goes with the first liquidations
    return oi


def _funding(t: int) -> float:
    """Per 8 h: the base 0.01% for a month, crowding to 0.045% the day before, about zero after the flush."""
    if t < WHALE_DEPOSIT_AT - DAY:
        return 0.0001 + 0.00002 * math.sin((t - START) / (1.3 * DAY))
    if t < CASCADE_FROM:
        return 0.0001 + 0.00035 * min(1.0, (t - WHALE_DEPOSIT_AT + DAY) / DAY)
    return 0.00002


def leverage_events(seed: int = 20250824) -> list[dict]:
    """Open interest and funding on the three venues: hourly for the month before, every 10 minutes in the
    last day, every minute in the scenario (an rng of their own: the other events are unchanged)."""
    rng = random.Random(seed + 14)
    times = list(range(START - 30 * DAY, START - DAY, 60 * MIN)) + list(range(START - DAY, START, 10 * MIN)) + \
        list(range(START, START + DURATION, MIN))
    out = []
    for asset, price_fn, oi in (("BTC", btc_price, _oi(28e9, 9.0, 8.0)), ("ETH", eth_price, _oi(14e9, 6.0, 7.0))):
        venues = [(v, syms[0] if asset == "BTC" else syms[1]) for v, syms in VENUES.items()]
        history_px = (lambda t, f=price_fn: f(START) * (1 + 0.03 * math.sin((t - START) / (4 * DAY)))
                      if t < START - DAY else f(max(t, START)))
        out += scripted(rng, asset, venues, times, oi, _funding, history_px, (0.45, 0.3, 0.25))
    return out


def generate(seed: int = 20250824) -> list[dict]:
    rng = random.Random(seed)
    events: list[dict] = []

    # Spot ETF flows: six consecutive outflow days before the weekend, published the next morning.
    day0 = datetime(2025, 8, 14, tzinfo=timezone.utc)
    daily = [210e6, -120e6, -310e6, -190e6, -280e6, -250e6, -330e6]
    trading_days = [day0 + timedelta(days=i) for i in range(10) if (day0 + timedelta(days=i)).weekday() < 5]
    for day, total in zip(trading_days, daily):
        published = int((day + timedelta(hours=27)).timestamp() * 1000)
        for fund, share in ETF_FUNDS.items():
            events.append({"type": "etf_flow", "event_id": f"etf:{fund}:{day:%Y-%m-%d}", "date": f"{day:%Y-%m-%d}",
                           "fund": fund, "asset": "BTC", "net_flow_usd": round(total * share, 2),
                           "published_ts": published, "source": "scenario"})

    # Trade flow bars per venue.
    for asset, price_fn, base_vol in (("BTC", btc_price, 1.6e6), ("ETH", eth_price, 0.9e6)):
        px = price_fn(START)
        for t in range(START, START + DURATION, BAR_MS):
            for venue, (btc_sym, eth_sym, _) in VENUES.items():
                target = price_fn(t + BAR_MS) * (1 + rng.gauss(0, 0.0002))
                o, c = px if venue == "binance-usdm" else px * (1 + rng.gauss(0, 0.00005)), target
                hi = max(o, c) * (1 + abs(rng.gauss(0, 0.0001)))
                lo = min(o, c) * (1 - abs(rng.gauss(0, 0.0001)))
                buy = base_vol * rng.uniform(0.7, 1.3)
                sell = base_vol * rng.uniform(0.7, 1.3)
                if asset == "BTC" and SELL_FROM <= t < SELL_TO:
                    sell += 2.2e9 / ((SELL_TO - SELL_FROM) / BAR_MS) / len(VENUES) * rng.uniform(0.8, 1.2)
                if CASCADE_FROM <= t < CASCADE_TO:
                    sell += base_vol * 4 * rng.uniform(0.5, 1.5)
                events.append({"type": "trade_flow", "venue": venue, "symbol": btc_sym if asset == "BTC" else eth_sym,
                               "asset": asset, "ts": t, "interval_ms": BAR_MS, "buy_volume_usd": round(buy, 2),
                               "sell_volume_usd": round(sell, 2), "open": round(o, 2), "high": round(hi, 2),
                               "low": round(lo, 2), "close": round(c, 2), "trade_count": int((buy + sell) / 9_000)})
            px = price_fn(t + BAR_MS)

    # Liquidations: background on both sides, and the long cascade after support breaks.
    n = 0

    def liq(asset: str, ts: int, side: str, notional: float) -> None:
        nonlocal n
        n += 1
        venue = rng.choice(list(VENUES))
        btc_sym, eth_sym, completeness = VENUES[venue]
        price = (btc_price if asset == "BTC" else eth_price)(ts) * (1 + rng.gauss(0, 0.0005))
        qty = notional / price
        events.append({"type": "liquidation", "event_id": f"{venue}:{asset}:{ts}:{n}", "venue": venue,
                       "symbol": btc_sym if asset == "BTC" else eth_sym, "asset": asset, "side": side,
                       "price": round(price, 2), "quantity": round(qty, 6), "notional_usd": round(qty * price, 2),
                       "ts": ts, "received_ts": ts + rng.randint(20, 400), "completeness": completeness})

    for asset in ("BTC", "ETH"):
        for ts in _hawkes_times(rng, START, START + DURATION, 1 / 6_000, 0.4, 8_000):
            liq(asset, ts, rng.choice(("long", "short")), rng.lognormvariate(math.log(15_000), 1.0))
    for asset, base_rate, mean_usd in (("BTC", 1 / 900, 150_000), ("ETH", 1 / 1_800, 90_000)):
        for ts in _hawkes_times(rng, CASCADE_FROM, CASCADE_TO, base_rate, 0.5, 20_000):
            side = "long" if rng.random() < 0.92 else "short"
            liq(asset, ts, side, rng.lognormvariate(math.log(mean_usd), 0.8))

    # Chain: the whale, the ETH deposit nobody sells, and ordinary transfers that must not alert.
    def transfer(chain: str, asset: str, ts: int, amount: float, px: float, frm: str, to: str,
                 frm_e: str | None, to_e: str | None, direction: str) -> None:
        tx = f"{rng.getrandbits(256):064x}"
        events.append({"type": "whale_transfer", "event_id": f"{chain}:{tx}:0", "chain": chain, "asset": asset,
                       "amount": amount, "usd_value": round(amount * px, 2), "from_address": frm, "to_address": to,
                       "from_entity": frm_e, "to_entity": to_e, "direction": direction, "tx_hash": tx,
                       "block_number": 910_000 + (ts - START) // (10 * MIN) if chain == "bitcoin" else None,
                       "block_time": ts, "confirmations": 1, "observed_ts": ts + rng.randint(5_000, 40_000)})

    whale = "bc1qwhale0dormant0since0two0thousand0elevenxx"
    transfer("bitcoin", "BTC", WHALE_DEPOSIT_AT, 24_000.0, btc_price(WHALE_DEPOSIT_AT), whale, BINANCE_BTC,
             None, "binance", "exchange_inflow")
    transfer("ethereum", "ETH", START + 10 * MIN, 7_000.0, eth_price(START), "0x" + "ab" * 20, BINANCE_US_ETH,
             None, "binance-us", "exchange_inflow")
    transfer("bitcoin", "BTC", START + 25 * MIN, 3_100.0, 114_800.0, BINANCE_BTC, BINANCE_BTC_2,
             "binance", "binance", "exchange_internal")
    transfer("bitcoin", "BTC", START + 40 * MIN, 1_200.0, 114_800.0, BINANCE_BTC_2, "bc1q" + "7" * 38,
             "binance", None, "exchange_outflow")
    for k in range(6):
        ts = START + rng.randint(0, DURATION - MIN)
        transfer("bitcoin", "BTC", ts, round(rng.uniform(20, 200), 4), btc_price(ts), "bc1q" + f"{k}" * 38,
                 BINANCE_BTC, None, "binance", "exchange_inflow")

    events += leverage_events(seed)

    def arrival(e: dict) -> int:
        return e.get("observed_ts") or e.get("received_ts") or e.get("published_ts") or e["ts"] + e["interval_ms"]

    events.sort(key=arrival)
    return events


def write(path: Path, seed: int = 20250824) -> int:
    events = generate(seed)
    with open(path, "wb") as f:
        for e in events:
            f.write(orjson.dumps(e) + b"\n")
    return len(events)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("aug2025.jsonl")
    print(f"{write(out)} events -> {out}")
