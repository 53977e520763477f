"""A file's world: markets per asset, chain transfers, episodes; the building blocks episodes use."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from _holdout import shapes
from _holdout.feeds import whale_transfer
from _holdout.market import ASSETS, LIQ_SHARE, MINUTE, Market, RawLiq


@dataclass
class Episode:
    id: str
    kind: str  # label kind (docs/evaluation.md)
    asset: str
    family: str
    window: tuple[int, int] | None = None  # alert window when not derived from the burst
    side: str | None = None  # the burst's own side, None when there is no burst
    deposit: dict | None = None
    meta: dict = field(default_factory=dict)


@dataclass
class World:
    family: str
    start: int
    minutes: int
    rng: np.random.Generator
    assets: tuple[str, ...]
    markets: dict[str, Market] = field(init=False)
    whales: list[dict] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)
    gaps: list[tuple[int, int, int]] = field(default_factory=list)  # (venue index, from, to)

    def __post_init__(self) -> None:
        self.markets = {a: Market(ASSETS[a], self.start, self.minutes, self.rng) for a in self.assets}
        if self.rng.random() < 0.3:  # a venue drops out for 5-15 minutes somewhere in the file
            t0 = self.start + int(self.rng.integers(0, self.minutes - 20)) * MINUTE
            self.gaps.append((int(self.rng.integers(0, 3)), t0, t0 + int(self.rng.integers(5, 16)) * MINUTE))

    @property
    def end(self) -> int:
        return self.start + self.minutes * MINUTE

    def episode(self, kind: str, asset: str, **kw) -> Episode:
        ep = Episode(f"{self.family}-{self.start // MINUTE}-{len(self.episodes)}", kind, asset, self.family, **kw)
        self.episodes.append(ep)
        return ep

    def place(self, need_min: int) -> int:
        """A start time that leaves need_min minutes (and 20 more) before the end, after at least an hour."""
        lo = max(60, self.minutes // 10)
        hi = max(lo, self.minutes - need_min - 20)
        return self.start + int(self.rng.integers(lo, hi + 1)) * MINUTE + int(self.rng.integers(0, 60_000))

    def hourly_size(self, asset: str, scale: float = 1.0) -> float:
        """A burst's liquidations per hour: log-uniform over the asset's range, one in ten an extreme day."""
        lo, hi = ASSETS[asset].burst_range
        if self.rng.random() < 0.1:
            lo, hi = hi, hi * 7.5
        return float(np.exp(self.rng.uniform(np.log(lo * scale), np.log(hi * scale))))

    def burst(self, ep: Episode, start: int, minutes: int, total_usd: float, shape: str, side: str = "long",
              move_pct: float | None = None) -> None:
        """The episode's liquidations (mostly `side`, a few of the other), price moving with them."""
        m, rng = self.markets[ep.asset], self.rng
        spec = m.spec
        med, cap = 15_000 * spec.noise ** 0.6, 8e6 * spec.noise
        other = rng.uniform(0.03, 0.12)
        own = shapes.spread(total_usd * (1 - other), start, minutes * 60, shape, med, cap, rng)
        counter = shapes.spread(total_usd * other, start, minutes * 60, "plateau", med / 2, cap, rng)
        flip = "short" if side == "long" else "long"
        for rows, s in ((own, side), (counter, flip)):
            venues = rng.choice(3, size=len(rows), p=LIQ_SHARE)
            m.liqs.extend(RawLiq(t, s, u, int(v), ep.id) for (t, u), v in zip(rows, venues))
        mass = np.zeros(m.minutes)
        np.add.at(mass, [m.minute_of(t) for t, _ in own], [u for _, u in own])
        move = (move_pct if move_pct is not None else rng.uniform(2, 7)) / 100
        sign = -1 if side == "long" else 1
        m.drift += sign * move * mass / mass.sum()
        m.moved()
        flow = np.outer(3 * mass, LIQ_SHARE)  # liquidation orders and the traders following them
        (m.sell_usd if side == "long" else m.buy_usd)[:] += flow
        ep.side = side
        ep.meta.update(shape=shape, duration_min=minutes, size_usd=round(total_usd), move_pct=round(move * 100, 2))

    def deposit(self, ep: Episode, ts: int, usd: float, entity: str, direction: str = "exchange_inflow") -> dict:
        ev = whale_transfer(ep.asset, usd, self.markets[ep.asset].price_at(ts), ts, entity, direction, self.rng)
        self.whales.append(ev)
        ep.deposit = ev
        ep.meta.update(deposit_usd=round(usd), to_entity=entity, direction=direction)
        return ev

    def sell(self, ep: Episode, start: int, minutes: int, usd: float, drop_pct: float, entity: str,
             rebound_min: int = 0) -> None:
        """Taker selling of `usd` over `minutes`, mostly on the receiving venue; the price drops with it
        and, when rebound_min > 0, dip buyers take it back over that many minutes."""
        m, rng = self.markets[ep.asset], self.rng
        home = {"binance": 0, "bybit": 1, "okx": 2}.get(entity)
        share = np.full(3, 0.15) if home is not None else LIQ_SHARE * 0.5  # coinbase: arbitrage reaches perps
        if home is not None:
            share[home] = 0.7
        i0 = m.minute_of(start)
        w = rng.lognormal(0, 0.5, minutes)
        w /= w.sum()
        for k in range(minutes):
            if i0 + k < m.minutes:
                m.sell_usd[i0 + k] += usd * w[k] * share
                m.drift[i0 + k] -= drop_pct / 100 * w[k]
        for k in range(rebound_min):
            j = i0 + minutes + k
            if j < m.minutes:
                m.buy_usd[j] += usd * 0.8 / rebound_min * share
                m.drift[j] += drop_pct / 100 * 0.8 / rebound_min
        m.moved()
        ep.meta.update(sell_start_ts=start, sell_end_ts=start + minutes * MINUTE, sell_usd=round(usd),
                       sell_drop_pct=round(drop_pct, 2))
