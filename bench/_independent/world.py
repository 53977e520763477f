"""One scenario's state: clock, random streams, the markets' constants, and the overlays episodes add.

Episodes do not write prices or bars directly: they add a log-return overlay per second, a volume
multiplier and sell share per minute, an open-interest flush per minute and raw liquidations; the
market and the feeds turn those into events once every episode is placed.
"""

from __future__ import annotations

import math
import random

import numpy as np

DAY = 86_400_000
MINUTE = 60_000
SECOND = 1000
HOUR = 3_600_000
T0 = 1_761_955_200_000  # 2025-11-01T00:00Z; seed N starts (N % 40) * 3 days later

ASSETS = {
    # price, per-minute return std when calm, liquidation scale vs BTC, volume per minute (all venues, USD),
    # beta to BTC, median noise liquidation (USD), largest noise liquidation (USD)
    "BTC": {"price": 91_500.0, "vol": 0.0014, "scale": 1.0, "volmin": 22e6, "beta": 1.0,
            "liq_med": 2500.0, "cap": 2.5e6},
    "ETH": {"price": 3_050.0, "vol": 0.0016, "scale": 0.5, "volmin": 14e6, "beta": 1.15,
            "liq_med": 1800.0, "cap": 1.5e6},
    "SOL": {"price": 138.0, "vol": 0.0021, "scale": 0.11, "volmin": 4e6, "beta": 1.3,
            "liq_med": 700.0, "cap": 4e5},
}
VENUES = {
    # share of volume, symbol format, completeness of the liquidation feed
    "binance-usdm": {"vol": 0.45, "sym": "{}USDT", "comp": "sampled"},
    "bybit": {"vol": 0.30, "sym": "{}USDT", "comp": "full"},
    "okx": {"vol": 0.25, "sym": "{}-USDT-SWAP", "comp": "full"},
}


def symbol(venue: str, asset: str) -> str:
    return VENUES[venue]["sym"].format(asset)


class World:
    """Everything one seed's scenario is built from; `t`-style times are ms after `t0`."""

    def __init__(self, seed: int, days: int):
        self.seed = seed
        self.days = days
        self.rng = np.random.default_rng(seed)  # every numeric draw
        self.prng = random.Random(seed)  # schedule, shapes, directions, address picks
        self.t0 = T0 + (seed % 40) * 3 * DAY
        self.nsec = days * 86_400
        self.nmin = days * 1440
        self.liqs: list[tuple[int, str, str, str, float, str | None]] = []  # (t, venue, asset, side, usd, episode)
        self.labels: list[dict] = []
        self.whales: list[dict] = []
        self.overlay = {a: np.zeros(self.nsec) for a in ASSETS}  # log-return added per second
        self.flow = {a: np.zeros((self.nmin, 2)) for a in ASSETS}  # (volume multiplier - 1, sell share) per minute
        self.oi_flush = {a: np.zeros(self.nmin) for a in ASSETS}  # fractional open-interest change per minute
        self.act_h: dict[str, np.ndarray] = {}  # hourly activity (volatility regime x time of day)
        self.base_ret: dict[str, np.ndarray] = {}  # per-second log returns before episodes
        self.price: dict[str, np.ndarray] = {}  # per-second price with episodes
        self.calm_days: list[int] = []
        self.drops: list[tuple[str, float, float]] = []  # (venue, from, to): venue drop-outs
        self.delivered: list[tuple] = []  # the liquidations the feeds delivered, as in `liqs`

    def add_liq(self, t: float, asset: str, side: str, usd: float, tag: str | None) -> None:
        """A raw liquidation on a venue drawn by liquidation share (45/30/25); dropped outside the scenario."""
        u = self.rng.uniform()
        venue = "binance-usdm" if u < 0.45 else ("bybit" if u < 0.75 else "okx")
        if 0 <= t < self.nsec * SECOND:
            self.liqs.append((int(t), venue, asset, side, float(usd), tag))

    def price_move(self, asset: str, t: float, dur: float, pct: float, profile: np.ndarray | None = None) -> None:
        """A log-price move of pct (negative: a fall) over [t, t + dur), along a per-minute profile, noisy."""
        s0 = int(t // SECOND)
        n = max(1, int(dur // SECOND))
        if profile is None:
            w = np.ones(n)
        else:
            w = np.repeat(profile, 60)[:n]
            if len(w) < n:
                w = np.concatenate([w, np.full(n - len(w), w[-1] if len(w) else 1)])
        w = w / w.sum()
        w = w * np.exp(self.rng.normal(0, 0.5, n))
        w = w / w.sum()
        e = min(self.nsec, s0 + n)
        self.overlay[asset][s0:e] += math.log(1 + pct / 100) * w[: e - s0]

    def flow_effect(self, asset: str, t: float, dur: float, vol_mult: float, sell_share: float) -> None:
        """Taker flow over [t, t + dur): volume at least vol_mult, and this sell share where it is the stronger one."""
        m0 = int(t // MINUTE)
        m1 = min(self.nmin, int((t + dur) // MINUTE) + 1)
        seg = self.flow[asset][m0:m1]
        seg[:, 0] = np.maximum(seg[:, 0], vol_mult - 1)
        cur = seg[:, 1]
        stronger = (cur == 0) | (abs(sell_share - 0.5) > np.abs(cur - 0.5))
        seg[:, 1] = np.where(stronger, sell_share, cur)

    def label(self, **kw) -> dict:
        """A label (docs/evaluation.md fields); keys starting with _ are facts for diagnosis, not label fields."""
        lab = {"episode_id": None, "kind": None, "asset": None, "start_ts": None, "end_ts": None,
               "deposit_event_id": None, "deposit_usd": None, "burst_start_ts": None, "peak_ts": None,
               "burst_long_usd": 0.0, "burst_end_ts": None, "burst_usd": 0.0, "shape": None,
               "burst_minutes_usd": None, "sell_start_ts": None, "sell_end_ts": None, "sell_drop_pct": None}
        lab.update(kw)
        self.labels.append(lab)
        return lab
