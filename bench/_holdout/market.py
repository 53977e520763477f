"""One asset's market over one file: a minute price path, taker flow bars per venue, and liquidation noise.

Scales are public approximations, not fitted to the detector: BTC long liquidations across Binance,
Bybit and OKX together have an hourly median of about $0.1M (CoinGlass, Nov 2025 - May 2026); the
noise here gives a calm-hour median of about $0.1M and a p99 of about $2-3M for BTC. ETH delivers
about half of that, the small assets a few percent to a tenth. Perpetual taker volumes are rough
daily figures per venue. Episodes add to the arrays (`drift`, `sell_usd`, `buy_usd`) before the
bars are drawn, and hand their own liquidations to the feeds as `RawLiq` rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

MINUTE = 60_000
HOUR = 3_600_000
VENUES = ("binance-usdm", "bybit", "okx")
LIQ_SHARE = np.array([0.45, 0.33, 0.22])  # share of liquidations (as liquidated) per venue


@dataclass(frozen=True)
class AssetSpec:
    name: str
    price: float
    minute_vol: float  # sd of the one-minute log return in a normal hour
    daily_volume: tuple[float, float, float]  # perpetual taker volume per venue, USD
    noise: float  # liquidation scale against BTC (1.0)
    burst_range: tuple[float, float]  # cascade long liquidations per hour (as liquidated), USD
    symbols: tuple[str, str, str]

    @property
    def noise_rate(self) -> float:  # clusters per hour
        return 15.0 * self.noise ** 0.4

    @property
    def noise_median(self) -> float:  # USD per liquidation
        return 2_500.0 * self.noise ** 0.6


ASSETS = {
    "BTC": AssetSpec("BTC", 90_000.0, 0.0007, (20e9, 8e9, 5e9), 1.0, (10e6, 200e6),
                     ("BTCUSDT", "BTCUSDT", "BTC-USDT-SWAP")),
    "ETH": AssetSpec("ETH", 3_000.0, 0.0009, (12e9, 5e9, 3e9), 0.5, (5e6, 150e6),
                     ("ETHUSDT", "ETHUSDT", "ETH-USDT-SWAP")),
    "SOL": AssetSpec("SOL", 140.0, 0.0012, (3e9, 1.2e9, 0.6e9), 0.12, (1.5e6, 30e6),
                     ("SOLUSDT", "SOLUSDT", "SOL-USDT-SWAP")),
    "XRP": AssetSpec("XRP", 2.1, 0.0012, (2e9, 0.8e9, 0.4e9), 0.07, (0.8e6, 15e6),
                     ("XRPUSDT", "XRPUSDT", "XRP-USDT-SWAP")),
    "DOGE": AssetSpec("DOGE", 0.16, 0.0014, (1.2e9, 0.5e9, 0.3e9), 0.05, (0.6e6, 12e6),
                     ("DOGEUSDT", "DOGEUSDT", "DOGE-USDT-SWAP")),
}


class RawLiq(NamedTuple):
    """A liquidation as it happened, before any feed delivers it."""

    ts: int
    side: str  # the position liquidated
    usd: float
    venue: int  # index into VENUES
    episode: str | None  # the episode it belongs to, None for noise


@dataclass
class Market:
    """Minute arrays for one asset from `start` over `minutes`; episodes write into them."""

    spec: AssetSpec
    start: int
    minutes: int
    rng: np.random.Generator
    activity: np.ndarray = field(init=False)  # per minute, from an hourly log-AR(1) regime
    drift: np.ndarray = field(init=False)  # added log return per minute
    sell_usd: np.ndarray = field(init=False)  # extra taker sell per minute, per venue
    buy_usd: np.ndarray = field(init=False)
    liqs: list[RawLiq] = field(default_factory=list)
    _log_price: np.ndarray | None = None

    def __post_init__(self) -> None:
        hours = self.minutes // 60 + 2
        z = np.zeros(hours)
        z[0] = self.rng.normal(0, 0.8)
        for h in range(1, hours):
            z[h] = 0.92 * z[h - 1] + self.rng.normal(0, 0.42)
        self.hour_activity = np.exp(z)
        self.activity = np.repeat(self.hour_activity, 60)[: self.minutes]
        self.drift = np.zeros(self.minutes)
        self.sell_usd = np.zeros((self.minutes, 3))
        self.buy_usd = np.zeros((self.minutes, 3))
        vol = self.spec.minute_vol * np.sqrt(np.clip(self.activity, 0.3, 4.0))
        self._returns = self.rng.standard_t(4, self.minutes) * vol / np.sqrt(2)

    def minute_of(self, ts: int) -> int:
        return min(max((ts - self.start) // MINUTE, 0), self.minutes - 1)

    def log_price(self) -> np.ndarray:
        """Log price at each minute's close: the random walk plus the episodes' drift."""
        if self._log_price is None:
            self._log_price = np.log(self.spec.price) + np.cumsum(self._returns + self.drift)
        return self._log_price

    def moved(self) -> None:
        """Episodes call this after writing into `drift`."""
        self._log_price = None

    def price_at(self, ts: int) -> float:
        return float(np.exp(self.log_price()[self.minute_of(ts)]))

    def add_noise(self) -> None:
        """Background liquidations on both sides: clusters of log-normal sizes, rate set by the regime."""
        spec, rng = self.spec, self.rng
        cap = 3e6 * spec.noise
        for h, act in enumerate(self.hour_activity[: -(-self.minutes // 60)]):
            n = rng.poisson(spec.noise_rate * act)
            if not n:
                continue
            p_long = rng.beta(4, 4)
            parents = self.start + h * HOUR + rng.integers(0, HOUR, n)
            for t0 in parents:
                kids = rng.geometric(0.5) - 1
                times = [int(t0)] + [int(t0 + rng.exponential(10_000)) for _ in range(kids)]
                side = "long" if rng.random() < p_long else "short"
                for t in times:
                    usd = min(float(np.exp(rng.normal(np.log(spec.noise_median), 1.8))), cap)
                    venue = int(rng.choice(3, p=LIQ_SHARE))
                    self.liqs.append(RawLiq(t, side, usd, venue, None))

    def bars(self, gaps: list[tuple[int, int, int]]) -> list[dict]:
        """One-minute taker-flow bars per venue; `gaps` are (venue, from_ts, to_ts) with no bars."""
        spec, rng = self.spec, self.rng
        lp = self.log_price()
        close = np.exp(lp)
        opens = np.exp(np.concatenate(([np.log(spec.price)], lp[:-1])))
        out = []
        for v, venue in enumerate(VENUES):
            base = spec.daily_volume[v] / 1440
            # volume follows the regime less than liquidations do (a busy hour trades a few times normal)
            vol = base * np.sqrt(self.activity) * np.exp(rng.normal(0, 0.35, self.minutes))
            ret = np.diff(np.concatenate(([np.log(spec.price)], lp)))
            tilt = np.clip(0.5 + 0.25 * ret / spec.minute_vol / 3, 0.2, 0.8)
            buy = vol * tilt + self.buy_usd[:, v]
            sell = vol * (1 - tilt) + self.sell_usd[:, v]
            basis = 1 + rng.normal(0, 0.00005, self.minutes) + (v - 1) * 0.0001
            wick = np.abs(rng.normal(0, spec.minute_vol * 0.6, (self.minutes, 2)))
            for m in range(self.minutes):
                ts = self.start + m * MINUTE
                if any(gv == v and g0 <= ts < g1 for gv, g0, g1 in gaps):
                    continue
                o, c = opens[m] * basis[m], close[m] * basis[m]
                usd = buy[m] + sell[m]
                out.append({"type": "trade_flow", "venue": venue, "symbol": spec.symbols[v], "asset": spec.name,
                            "ts": ts, "interval_ms": MINUTE, "buy_volume_usd": round(float(buy[m]), 2),
                            "sell_volume_usd": round(float(sell[m]), 2), "open": _px(o), "close": _px(c),
                            "high": _px(max(o, c) * (1 + wick[m, 0])), "low": _px(min(o, c) * (1 - wick[m, 1])),
                            "trade_count": max(1, int(usd / (8_000 * spec.noise ** 0.5)))})
        return out


def _px(x: float) -> float:
    return float(f"{x:.6g}")
