"""A market simulator: labelled scenario files for backtesting the detector.

It writes interchange events (per-minute taker-flow bars on three venues, background and
self-exciting liquidation bursts, whale transfers, ETF flows) and, separately, one label per
episode with its ground truth. Episode kinds:

- whale_cascade: exchange inflow, then taker selling with a price drop, then a long-liquidation burst
- whale_no_sell: a large inflow that nobody sells
- whale_sell_no_cascade: inflow and selling, but the market absorbs it (no burst)
- no_whale_cascade: a long-liquidation burst with no deposit before it
- short_squeeze: a price spike and a burst of SHORT liquidations
- internal_transfer: a large exchange-internal transfer (cold -> hot), which must never alert
- contagion_cascade: an ETH long-liquidation burst from a few minutes before to twenty minutes
  after a BTC cascade (whale or not), often smaller than a cascade of its own would need

Episodes that end in a long cascade get an 8-hour slot of their own on one asset (a contagion
burst shares its slot number with its BTC source), so one cascade's cooldown cannot hide the
next; episodes without one share a slot two to a slot, four hours apart. Arrival order is
perturbed (exchange events by up to a few seconds, chain events by up to minutes), a fraction of
events is duplicated, and venues drop out for short gaps, as real feeds do.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from pipeline.scenarios.aug2025 import _hawkes_times

MIN = 60_000
HOUR = 60 * MIN
SLOT_MS = 8 * HOUR
KINDS = ("whale_cascade", "whale_no_sell", "whale_sell_no_cascade", "no_whale_cascade", "short_squeeze",
         "internal_transfer", "contagion_cascade")
CASCADE_KINDS = ("whale_cascade", "no_whale_cascade")  # long cascades: a slot of their own
VENUES = ("binance-usdm", "bybit", "okx")
ASSETS = {"BTC": {"price": 100_000.0, "vol_usd": 6e6, "deposit": (1.5e8, 3e9)},
          "ETH": {"price": 4_000.0, "vol_usd": 3e6, "deposit": (6e7, 6e8)}}


@dataclass
class SimConfig:
    days: int = 30
    per_kind: int = 30
    seed: int = 1
    start_ms: int = 1_735_689_600_000  # 2025-01-01 00:00 UTC
    duplicate_rate: float = 0.003
    gap_rate_per_day: float = 2.0  # venue outages (5-15 min of missing bars) per day per asset


@dataclass
class Label:
    episode_id: str
    kind: str
    asset: str
    start_ts: int
    end_ts: int
    deposit_event_id: str | None = None
    deposit_usd: float | None = None
    burst_start_ts: int | None = None
    peak_ts: int | None = None
    burst_long_usd: float = 0.0


@dataclass
class _Plan:
    """Per-asset, per-minute price factor and extra taker flow, built from the episodes."""

    minutes: int
    factor: list[float] = field(default_factory=list)
    extra_sell: list[float] = field(default_factory=list)
    extra_buy: list[float] = field(default_factory=list)
    path: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.factor = [0.0] * self.minutes  # log-return added at each minute
        self.extra_sell = [0.0] * self.minutes
        self.extra_buy = [0.0] * self.minutes

    def move(self, start_min: int, length: int, total_pct: float) -> None:
        for i in range(start_min, min(self.minutes, start_min + length)):
            self.factor[i] += math.log1p(total_pct / 100.0) / length

    def flow(self, start_min: int, length: int, usd: float, side: str) -> None:
        arr = self.extra_sell if side == "sell" else self.extra_buy
        for i in range(start_min, min(self.minutes, start_min + length)):
            arr[i] += usd / length


def _allocate(rng: random.Random, cfg: SimConfig) -> list[tuple[str, str, int, int]]:
    """(kind, asset, slot, minutes into the slot) for every episode."""
    n = cfg.days * 24 * 60 * MIN // SLOT_MS
    free = {asset: list(range(n)) for asset in ASSETS}
    for slots in free.values():
        rng.shuffle(slots)
    cascades = [k for k in CASCADE_KINDS for _ in range(cfg.per_kind)]
    rng.shuffle(cascades)
    out = []
    sources = cfg.per_kind  # contagion bursts follow this many BTC cascades
    need_full = len(cascades) + sources
    need_half = -(-(len(KINDS) - 3) * cfg.per_kind // 2)
    if need_full + need_half > 2 * n or sources > len(cascades) or not free["BTC"]:
        raise ValueError(f"{cfg.days} days hold {2 * n} episode slots; {need_full + need_half} needed: add days")
    for i, kind in enumerate(cascades):
        asset = "BTC" if i < sources else rng.choice([a for a in ASSETS if free[a]])
        slot = free[asset].pop()
        offset = rng.randint(120, 170)
        out.append((kind, asset, slot, offset))
        if i < sources:
            free["ETH"].remove(slot)
            out.append(("contagion_cascade", "ETH", slot, offset))
    halves = [(asset, slot, h) for asset, slots in free.items() for slot in slots for h in (0, 1)]
    rng.shuffle(halves)
    others = [k for k in KINDS if k not in CASCADE_KINDS and k != "contagion_cascade" for _ in range(cfg.per_kind)]
    if len(others) > len(halves):
        raise ValueError(f"{cfg.days} days hold too few episode slots for {cfg.per_kind} of each kind: add days")
    for kind, (asset, slot, h) in zip(others, halves):
        out.append((kind, asset, slot, h * 240 + rng.randint(40, 70)))
    return out


def simulate(cfg: SimConfig) -> tuple[list[dict], list[Label]]:
    rng = random.Random(cfg.seed)
    minutes = cfg.days * 24 * 60
    plans = {asset: _Plan(minutes) for asset in ASSETS}
    events: list[dict] = []
    labels: list[Label] = []
    bursts: list[tuple[str, int, int, str, float]] = []  # asset, start, end, side, total usd
    source_burst: dict[int, int] = {}  # slot -> start of the BTC burst a contagion burst follows
    for n, (kind, asset, slot, offset) in enumerate(_allocate(rng, cfg)):
        t0 = cfg.start_ms + slot * SLOT_MS + offset * MIN
        lab = Label(episode_id=f"ep{n:04d}", kind=kind, asset=asset, start_ts=t0, end_ts=t0 + 3 * HOUR)
        plan, spec = plans[asset], ASSETS[asset]
        if kind.startswith("whale") or kind == "internal_transfer":
            usd = math.exp(rng.uniform(*map(math.log, spec["deposit"])))
            direction = "exchange_internal" if kind == "internal_transfer" else "exchange_inflow"
            lab.deposit_event_id, lab.deposit_usd = _transfer(events, rng, asset, t0, usd, direction, n)
        if kind in ("whale_cascade", "whale_sell_no_cascade"):
            sell_delay = rng.randint(1, 6)
            m0 = (t0 - cfg.start_ms) // MIN
            plan.flow(m0 + sell_delay, 20, lab.deposit_usd * rng.uniform(0.5, 0.9), "sell")
            plan.move(m0 + sell_delay, 20, -rng.uniform(1.6, 3.0))
        if kind == "whale_sell_no_cascade":
            m0 = (t0 - cfg.start_ms) // MIN
            plan.flow(m0 + 25, 30, lab.deposit_usd * 0.3, "buy")  # dip buyers absorb it
            plan.move(m0 + 25, 30, 1.0)
        if kind in ("whale_cascade", "no_whale_cascade", "short_squeeze", "contagion_cascade"):
            if kind == "contagion_cascade":
                b0 = source_burst[slot] + rng.randint(-3, 20) * MIN
                length = rng.randint(8, 14)
                total = rng.uniform(6e7, 1.6e8)  # ETH: often below a cascade floor of its own
                lab.start_ts, lab.end_ts = b0 - 5 * MIN, b0 + 3 * HOUR
            else:
                lead = rng.randint(18, 35) if kind == "whale_cascade" else 0
                b0 = t0 + lead * MIN
                # A true cascade is intense: ~$40M+ per 5 minutes on average, more at its peak.
                length = rng.randint(10, 20)
                total = rng.uniform(2e8, 8e8) if asset == "BTC" else rng.uniform(1.5e8, 4.5e8)
            if asset == "BTC" and kind in CASCADE_KINDS:
                source_burst[slot] = b0
            side = "short" if kind == "short_squeeze" else "long"
            bm = (b0 - cfg.start_ms) // MIN
            plan.move(bm, length, (1 if side == "short" else -1) * rng.uniform(2.0, 4.0))
            plan.flow(bm, length, total * 0.8, "buy" if side == "short" else "sell")
            bursts.append((asset, b0, b0 + length * MIN, side, total))
            lab.burst_start_ts, lab.burst_long_usd = b0, (total if side == "long" else 0.0)
            lab.peak_ts = b0 + length * MIN // 3
        labels.append(lab)

    for asset, plan in plans.items():
        events.extend(_bars(rng, cfg, asset, plan))
        events.extend(_background_liquidations(rng, cfg, asset, minutes))
    for asset, b0, b1, side, total in bursts:
        events.extend(_burst(rng, asset, b0, b1, side, total, plans[asset], cfg.start_ms))
    events.extend(_etf_flows(rng, cfg))
    _perturb(rng, cfg, events)
    return events, labels


def _price(asset: str, plan: _Plan, cfg: SimConfig, ts: int) -> float:
    """Price at `ts`: a random walk with the episodes' moves added, computed once per plan."""
    if not plan.path:
        rng = random.Random(f"{cfg.seed}:{asset}")
        p = ASSETS[asset]["price"]
        for r in plan.factor:
            p *= math.exp(r + rng.gauss(0, 0.0006))
            plan.path.append(p)
    i = min(len(plan.path) - 1, max(0, (ts - cfg.start_ms) // MIN))
    return plan.path[i]


def _bars(rng: random.Random, cfg: SimConfig, asset: str, plan: _Plan) -> Iterator[dict]:
    vol = ASSETS[asset]["vol_usd"]
    gaps = []
    for _ in range(int(cfg.gap_rate_per_day * cfg.days)):
        g0 = cfg.start_ms + rng.randrange(plan.minutes) * MIN
        gaps.append((rng.choice(VENUES), g0, g0 + rng.randint(5, 15) * MIN))
    prev = _price(asset, plan, cfg, cfg.start_ms)
    for i in range(plan.minutes):
        ts = cfg.start_ms + i * MIN
        close = _price(asset, plan, cfg, ts + MIN)
        for venue in VENUES:
            if any(v == venue and g0 <= ts < g1 for v, g0, g1 in gaps):
                continue
            o = prev * (1 + rng.gauss(0, 0.00005))
            c = close * (1 + rng.gauss(0, 0.00005))
            buy = vol * rng.uniform(0.7, 1.3) + plan.extra_buy[i] / len(VENUES)
            sell = vol * rng.uniform(0.7, 1.3) + plan.extra_sell[i] / len(VENUES)
            yield {"type": "trade_flow", "venue": venue, "symbol": f"{asset}USDT", "asset": asset, "ts": ts,
                   "interval_ms": MIN, "buy_volume_usd": round(buy, 2), "sell_volume_usd": round(sell, 2),
                   "open": round(o, 2), "high": round(max(o, c) * (1 + abs(rng.gauss(0, 0.0002))), 2),
                   "low": round(min(o, c) * (1 - abs(rng.gauss(0, 0.0002))), 2), "close": round(c, 2),
                   "trade_count": int((buy + sell) / 10_000)}
        prev = close


def _liq(rng: random.Random, asset: str, ts: int, side: str, usd: float, price: float, n: int) -> dict:
    venue = rng.choice(VENUES)
    qty = usd / price
    return {"type": "liquidation", "event_id": f"sim:{venue}:{asset}:{ts}:{n}", "venue": venue,
            "symbol": f"{asset}USDT", "asset": asset, "side": side, "price": round(price, 2),
            "quantity": round(qty, 8), "notional_usd": round(qty * price, 2), "ts": ts,
            "received_ts": ts + rng.randint(20, 400), "completeness": "sampled" if venue == "binance-usdm" else "full"}


def _background_liquidations(rng: random.Random, cfg: SimConfig, asset: str, minutes: int) -> Iterator[dict]:
    price = ASSETS[asset]["price"]
    for n, ts in enumerate(_hawkes_times(rng, cfg.start_ms, cfg.start_ms + minutes * MIN, 1 / 30_000, 0.4, 10_000)):
        yield _liq(rng, asset, ts, rng.choice(("long", "short")), rng.lognormvariate(math.log(15_000), 1.0), price,
                   n)


def _burst(rng: random.Random, asset: str, b0: int, b1: int, side: str, total: float, plan: _Plan,
           start_ms: int) -> Iterator[dict]:
    mean = 120_000.0
    base_rate = total / mean / (b1 - b0) / 2.0  # half the events come from self-excitation (branching 0.5)
    price = ASSETS[asset]["price"]
    for n, ts in enumerate(_hawkes_times(rng, b0, b1, base_rate, 0.5, 15_000)):
        other = "short" if side == "long" else "long"
        yield _liq(rng, asset, ts, side if rng.random() < 0.9 else other, rng.lognormvariate(math.log(mean), 0.7),
                   price, 10_000_000 + n)


def _transfer(events: list, rng: random.Random, asset: str, ts: int, usd: float, direction: str, n: int):
    chain = "bitcoin" if asset == "BTC" else "ethereum"
    tx = f"{rng.getrandbits(256):064x}"
    eid = f"{chain}:{tx}:0"
    amount = usd / ASSETS[asset]["price"]
    events.append({"type": "whale_transfer", "event_id": eid, "chain": chain, "asset": asset,
                   "amount": round(amount, 6), "usd_value": round(usd, 2), "from_address": f"sim-whale-{n}",
                   "to_address": "sim-exchange-hot", "from_entity": "binance" if direction == "exchange_internal" else None,
                   "to_entity": "binance", "direction": direction, "tx_hash": tx, "block_number": n,
                   "block_time": ts, "confirmations": 1, "observed_ts": ts + rng.randint(10_000, 300_000)})
    return eid, round(usd, 2)


def _etf_flows(rng: random.Random, cfg: SimConfig) -> Iterator[dict]:
    """Regimes of inflow and outflow weeks, published the next morning."""
    regime = 1.0
    for d in range(-25, cfg.days):
        if d % 7 == 0:
            regime = rng.choice((-1.0, -0.5, 0.5, 1.0))
        day = cfg.start_ms + d * 24 * HOUR
        date = _date(day)
        for fund, share in (("IBIT", 0.5), ("FBTC", 0.3), ("GBTC", 0.2)):
            yield {"type": "etf_flow", "event_id": f"etf:{fund}:{date}", "date": date, "fund": fund, "asset": "BTC",
                   "net_flow_usd": round(regime * rng.uniform(50e6, 300e6) * share, 2),
                   "published_ts": day + 30 * HOUR, "source": "simulator"}


def _date(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d")


def _perturb(rng: random.Random, cfg: SimConfig, events: list[dict]) -> None:
    """Arrival order as a feed would deliver it, with duplicates."""
    dups = [dict(e) for e in events if rng.random() < cfg.duplicate_rate]
    events.extend(dups)

    def arrival(e: dict) -> int:
        if e["type"] == "whale_transfer":
            return e["observed_ts"]
        if e["type"] == "etf_flow":
            return e["published_ts"]
        end = e["ts"] + e.get("interval_ms", 0)
        return end + rng.randint(0, 3_000)

    keyed = [(arrival(e), i, e) for i, e in enumerate(events)]
    keyed.sort(key=lambda k: (k[0], k[1]))
    events[:] = [e for _, _, e in keyed]


def label_dicts(labels: list[Label]) -> list[dict]:
    return [asdict(lab) for lab in labels]
