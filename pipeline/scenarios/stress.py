"""Short stress files: one asset, a few hours to two days, one episode or none, in shapes and noise
unlike the month simulator's (simulate.py), to see the detector on data it was not tuned on.

Each file starts cold (no learned history), which is what a new deployment or a short replay sees.
Noise is a Poisson stream of liquidations with Pareto sizes (single prints up to millions); bursts
are triangles, steps, spikes or a spike with a second surge, from 10 to 90 minutes, carrying tens of
millions to most of a billion USD (BTC; scaled per asset), with the price falling 3-8% over them. A
whale file adds a deposit 5-35 minutes before the burst and taker selling from soon after it. A
contagion file holds two assets: a BTC burst as above and, from 3 minutes before it to 20 after,
an ETH burst of $4-30M over 10-40 minutes (often too small to stand alone). A calm file has noise
only. One-minute bars on three venues; Binance sampled to one liquidation per
second in most files. Labels are those of simulate.py, so `pipeline.evaluate` scores them.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from pipeline.contracts.models import event_from_dict
from pipeline.evaluate import evaluate
from pipeline.replay import run
from pipeline.scenarios.simulate import Label, label_dicts

MINUTE = 60_000
START_MS = 1_760_000_000_000 - 1_760_000_000_000 % MINUTE
VENUES = ("binance-usdm", "bybit", "okx")
VENUE_WEIGHTS = (0.5, 0.3, 0.2)
SHAPES = ("triangle", "step", "spike", "double")
KINDS = ("no_whale_cascade", "no_whale_cascade", "whale_cascade", "contagion_cascade", "calm_day")


@dataclass(frozen=True)
class Asset:
    price: float
    scale: float  # liquidation sizes relative to BTC
    volume_usd: float  # taker volume per one-minute bar, all venues


ASSETS = {"BTC": Asset(90_000.0, 1.0, 8e6), "ETH": Asset(3_000.0, 0.5, 4e6), "SOL": Asset(150.0, 0.15, 1e6)}


@dataclass(frozen=True)
class StressCase:
    seed: int
    kind: str
    asset: str
    hours: int
    shape: str
    minutes: int  # burst length
    total_usd: float  # burst long liquidations as liquidated (before sampling)
    burst_hour: float  # when the burst starts, hours into the file
    sampled: bool
    noise_per_hour: float = 20.0
    source: "StressCase | None" = None  # a contagion file: the BTC burst this ETH one follows


    @classmethod
    def draw(cls, seed: int, noise: float = 1.0, size: float = 1.0) -> "StressCase":
        r = random.Random(seed)
        kind, asset = r.choice(KINDS), r.choice(("BTC", "BTC", "ETH", "SOL"))
        if kind == "whale_cascade" and asset == "SOL":
            asset = "ETH"  # the chain watchers publish BTC and ETH deposits
        hours, shape, minutes = r.choice((6, 12, 24, 48)), r.choice(SHAPES), r.randint(10, 90)
        total = math.exp(r.uniform(math.log(30e6), math.log(800e6))) * ASSETS[asset].scale * size
        case = cls(seed, kind, asset, hours, shape, minutes, total, r.uniform(hours * 0.5, hours - 2),
                   r.random() < 0.7, 20.0 * noise)
        if kind != "contagion_cascade":
            return case
        # BTC's burst as drawn; ETH's from 3 minutes before to 20 after it, 10-40 minutes, often smaller
        # than an ETH cascade of its own would need.
        source = replace(case, seed=seed + 1_000_000, kind="no_whale_cascade", asset="BTC",
                         total_usd=total / ASSETS[asset].scale)
        return replace(case, asset="ETH", shape=r.choice(SHAPES), minutes=r.randint(10, 40),
                       total_usd=math.exp(r.uniform(math.log(0.25), math.log(2.0))) * 15e6 * size,
                       burst_hour=case.burst_hour + r.randint(-3, 20) / 60, source=source)


def weights(shape: str, minutes: int, r: random.Random) -> list[float]:
    """The burst's share of its total in each minute."""
    if shape == "triangle":
        peak = r.uniform(0.2, 0.8) * minutes
        w = [(i + 0.5) / peak if i < peak else max(0.0, (minutes - i - 0.5) / (minutes - peak)) for i in range(minutes)]
    elif shape == "step":
        w = [1.0] * minutes
    elif shape == "spike":
        w = [math.exp(-i / 3) for i in range(minutes)]
    elif shape == "double":
        w = [math.exp(-i / 3) + 0.8 * math.exp(-abs(i - minutes * 0.6) / 2) for i in range(minutes)]
    else:
        raise ValueError(f"unknown stress shape {shape!r}; known: {', '.join(SHAPES)}")
    total = sum(w)
    return [x / total for x in w]


def _poisson(r: random.Random, lam: float) -> int:
    n, p, limit = 0, r.random(), math.exp(-lam)
    while p >= limit:
        n += 1
        p *= r.random()
    return n


def generate(case: StressCase) -> tuple[list[dict], list[Label]]:
    """The file's events (interchange dicts, in no particular order) and its labels (a contagion file:
    the source's, then its own)."""
    if case.source is not None:
        events, labels = generate(case.source)
        own, [label] = generate(replace(case, kind="no_whale_cascade", source=None))
        label.kind = "contagion_cascade"
        return events + own, labels + [label]
    r = random.Random(case.seed)
    spec = ASSETS[case.asset]
    n = case.hours * 60
    extra, sell = [0.0] * n, [0.0] * n
    ret = [r.gauss(0, 0.0007) for _ in range(n)]
    label = Label(episode_id=f"stress{case.seed:04d}", kind=case.kind, asset=case.asset if case.kind != "calm_day"
                  else "*", start_ts=START_MS, end_ts=START_MS + n * MINUTE)
    events: list[dict] = []
    if case.kind != "calm_day":
        b0 = int(case.burst_hour * 60)
        drop = r.uniform(0.03, 0.08)
        for i, x in enumerate(weights(case.shape, case.minutes, r)):
            if b0 + i < n:
                extra[b0 + i] += case.total_usd * x
                ret[b0 + i] -= drop * x
                sell[b0 + i] += case.total_usd * 1.5 * x
        label.burst_start_ts = START_MS + b0 * MINUTE
        label.burst_end_ts = START_MS + (b0 + case.minutes) * MINUTE
        label.shape, label.start_ts = case.shape, label.burst_start_ts - 5 * MINUTE
        label.burst_minutes_usd = [round(usd, 2) for usd in extra[b0:b0 + case.minutes]]  # as planned
        label.end_ts = label.burst_end_ts + 30 * MINUTE
        if case.kind == "whale_cascade":
            d0 = b0 - r.randint(5, 35)
            for i in range(d0 + r.randint(1, 15), min(b0 + 5, n)):
                sell[i] += r.uniform(0.5, 1.2) * spec.volume_usd
                ret[i] -= 0.0025
            usd = r.uniform(80e6, 600e6) * spec.scale
            ts = START_MS + d0 * MINUTE + 20_000
            events.append(_deposit(case, ts, usd, spec.price))
            label.deposit_event_id, label.deposit_usd = events[-1]["event_id"], usd
            label.start_ts = ts
    closes = _bars(case, r, ret, sell, events)
    _liquidations(case, r, extra, closes, events)
    return events, [label]


def _bars(case: StressCase, r: random.Random, ret: list[float], sell: list[float], events: list[dict]) -> list[float]:
    spec, price, closes = ASSETS[case.asset], ASSETS[case.asset].price, []
    for m, x in enumerate(ret):
        o, price = price, price * math.exp(x)
        closes.append(price)
        for venue in VENUES:
            base = spec.volume_usd * r.uniform(0.6, 1.4) / 3
            events.append({"type": "trade_flow", "venue": venue, "symbol": f"{case.asset}USDT", "asset": case.asset,
                           "ts": START_MS + m * MINUTE, "interval_ms": MINUTE, "buy_volume_usd": round(base, 2),
                           "sell_volume_usd": round(base + sell[m] / 3, 2), "open": o, "high": max(o, price) * 1.0003,
                           "low": min(o, price) * 0.9997, "close": price, "trade_count": 500})
    return closes


def _liquidations(case: StressCase, r: random.Random, extra: list[float], closes: list[float],
                  events: list[dict]) -> None:
    scale, k, last_second = ASSETS[case.asset].scale, 0, None
    lam = case.noise_per_hour / 60 * math.sqrt(scale)
    for m, burst_usd in enumerate(extra):
        rows = [(r.random(), r.choice(("long", "short")), min(800 * scale / r.random() ** (1 / 1.3), 2e6 * scale))
                for _ in range(_poisson(r, lam))]
        got, mean = 0.0, max(20_000 * scale, burst_usd / 60)
        while got < burst_usd:
            usd = mean * 0.4 / r.random() ** (1 / 1.6)
            rows.append((r.random(), "long" if r.random() < 0.9 else "short", usd))
            got += usd
        for frac, side, usd in sorted(rows):
            ts = START_MS + m * MINUTE + int(frac * MINUTE)
            venue = r.choices(VENUES, VENUE_WEIGHTS)[0]
            sampled = case.sampled and venue == "binance-usdm"
            if sampled:
                if last_second == ts // 1000:
                    continue
                last_second = ts // 1000
            k += 1
            events.append({"type": "liquidation", "event_id": f"{venue}:{case.asset}:{ts}:{k}", "venue": venue,
                           "symbol": f"{case.asset}USDT", "asset": case.asset, "side": side, "price": closes[m],
                           "quantity": usd / closes[m], "notional_usd": round(usd, 2), "ts": ts,
                           "received_ts": ts + r.randint(50, 1500), "completeness": "sampled" if sampled else "full"})


def _deposit(case: StressCase, ts: int, usd: float, price: float) -> dict:
    tx = f"{case.seed:064x}"
    chain = "ethereum" if case.asset == "ETH" else "bitcoin"
    return {"type": "whale_transfer", "event_id": f"{chain}:{tx}:0", "chain": chain, "asset": case.asset,
            "amount": usd / price, "usd_value": usd, "from_address": "stress-whale", "to_address": "stress-binance",
            "from_entity": None, "to_entity": "binance", "direction": "exchange_inflow", "tx_hash": tx,
            "block_number": 900_000, "block_time": ts, "confirmations": 1, "observed_ts": ts + 60_000}


@dataclass
class StressResult:
    case: StressCase
    found: bool | None  # every burst of the file found (None: a calm file)
    latency_s: float | None  # first cascade alert minus the burst start, event time
    false_alerts: int
    kinds: list[str]  # the kinds the file's cascade alerts took, revisions included


def score(case: StressCase, config=None) -> StressResult:
    """Replay one file as `replay` does and score it with `pipeline.evaluate`."""
    raw, labels = generate(case)
    events = sorted((event_from_dict(e) for e in raw), key=lambda e: e.ts)
    alerts = [a.model_dump(mode="json") for a in run(events, config).alerts]
    rows = {row["kind"]: row for row in evaluate(label_dicts(labels), alerts, config,
                                                 days=case.hours / 24)["rows"]}
    false = sum(row["false_alerts"] for kind, row in rows.items() if not kind.startswith("baseline"))
    if case.kind == "calm_day":
        return StressResult(case, None, None, false, sorted({a["kind"] for a in alerts if a["stage"] == "cascade"}))
    row = rows["liquidation_cascade" if case.kind == "no_whale_cascade" else case.kind]
    found = all(r["found"] == r["episodes"] for kind, r in rows.items() if not kind.startswith("baseline"))
    return StressResult(case, found, row["median_latency_s"], false,
                        sorted({a["kind"] for a in alerts if a["stage"] == "cascade"}))
