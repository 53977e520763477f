"""Open-interest and funding paths for simulated markets: `leverage` events per venue.

The path of an asset's open interest (USD, summed over its venues) is a mean-reverting drift with
episodes written on top of it:

- build-up: over the day before a burst, open interest climbs by 4-12% while the price barely moves,
  and funding rises to several times its normal level (a crowded long);
- flush: during a long burst, the build-up and 3-12% more are closed, funding drops to or below
  zero, and open interest comes back over the next days;
- false alarms: some days build up the same way and nothing happens, and some cascades come out of
  a market with no build-up, so the context separates cascades from look-alikes only in part.

Funding is per 8 h, as most venues quote it. Events come every `calm_step` minutes and every minute
around bursts; each venue reports its share of the total with a little noise of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MINUTE = 60_000
HOUR = 60 * MINUTE
FUNDING_NORMAL = 0.0001  # 0.01% per 8 h: the venues' base rate
BUILD_MINUTES = 24 * 60
RECOVERY_MINUTES = 2 * 24 * 60  # flushed leverage comes back over a few days


@dataclass
class Episode:
    """A build-up ending at `at` (a burst, or nothing for a false alarm) and a flush from `at` for `minutes`."""

    at: int  # minute index
    build_pct: float
    flush_pct: float  # 0: no flush
    minutes: int


def path(rng: np.random.Generator, minutes: int, episodes: list[Episode]) -> tuple[np.ndarray, np.ndarray]:
    """(open interest relative to 1.0, funding per 8 h) per minute."""
    log_oi = np.zeros(minutes)
    shocks = rng.normal(0, 0.0004, minutes)
    x = 0.0
    for i in range(minutes):  # mean-reverting drift: about 1-2% a day
        x = 0.9995 * x + shocks[i]
        log_oi[i] = x
    funding = FUNDING_NORMAL * (1 + 0.3 * np.tanh(log_oi * 20)) + rng.normal(0, 0.00001, minutes)
    t = np.arange(minutes)
    for ep in episodes:  # offsets in log open interest, each back to zero in the days after
        b0, at = max(0, ep.at - BUILD_MINUTES), min(ep.at, minutes)
        build = np.log1p(ep.build_pct / 100) if ep.build_pct else 0.0
        offset = np.zeros(minutes)
        if build:
            offset[b0:at] = build * np.linspace(0, 1, ep.at - b0)[: at - b0]
            funding[b0:at] += FUNDING_NORMAL * 4 * np.linspace(0, 1, ep.at - b0)[: at - b0]
        if ep.flush_pct:  # the build-up and then some flushed during the burst, rebuilt over days
            f1 = min(minutes, ep.at + ep.minutes)
            low = np.log1p(-ep.flush_pct / 100)
            offset[at:f1] = build + (low - build) * np.linspace(0, 1, ep.minutes)[: f1 - at]
            offset[f1:] = low * np.exp(-(t[f1:] - f1) / RECOVERY_MINUTES)
            funding[at:f1 + 6 * 60] = np.minimum(funding[at:f1 + 6 * 60], FUNDING_NORMAL * -0.5)
        elif build:  # a false alarm: the leverage unwinds slowly over the next day
            u1 = min(minutes, ep.at + BUILD_MINUTES)
            offset[at:u1] = build * np.linspace(1, 0, BUILD_MINUTES)[: u1 - at]
        log_oi += offset
    return np.exp(log_oi), funding


CASCADES = ("whale_cascade", "no_whale_cascade", "contagion_cascade")


def for_asset(rng: np.random.Generator, asset: str, labels: list, close: np.ndarray, start_ms: int,
              venues: list[tuple[str, str]], oi_usd: float, build_share: float = 0.75,
              false_alarm_share: float = 0.15) -> list[dict]:
    """The simulator's leverage events of one asset, from its episode labels and its close per minute:
    most cascades (`build_share`) come after a build-up and all flush open interest; some look-alike
    episodes (`false_alarm_share`) and about one random day in ten build up and unwind quietly."""
    minutes = len(close)
    eps, busy = [], np.zeros(minutes, dtype=bool)
    for lab in labels:
        if lab.asset != asset:
            continue
        at = (lab.burst_start_ts if lab.burst_start_ts is not None else lab.start_ts) - start_ms
        at //= MINUTE
        if not 0 <= at < minutes:
            continue
        build = float(rng.uniform(4, 12))
        if lab.kind in CASCADES:
            length = max(1, (lab.burst_end_ts - lab.burst_start_ts) // MINUTE)
            eps.append(Episode(at, build if rng.random() < build_share else 0.0, float(rng.uniform(3, 12)), length))
        elif lab.kind == "short_squeeze":  # shorts closed by force: open interest falls, no long build-up
            length = max(1, (lab.burst_end_ts - lab.burst_start_ts) // MINUTE)
            eps.append(Episode(at, 0.0, float(rng.uniform(2, 6)), length))
        elif rng.random() < false_alarm_share:
            eps.append(Episode(at, build, 0.0, 0))
        busy[max(0, at - 30):at + 150] = True
    for _ in range(int(rng.poisson(minutes / (10 * 1440)))):
        if minutes <= BUILD_MINUTES:
            break  # a file of a day or less has no room for a build-up before its false alarm
        eps.append(Episode(int(rng.integers(BUILD_MINUTES, minutes)), float(rng.uniform(4, 12)), 0.0, 0))
    rel, funding = path(rng, minutes, eps)
    return events(rng, asset, venues, start_ms, oi_usd, rel, funding, close, busy)


def events(rng: np.random.Generator, asset: str, venues: list[tuple[str, str]], start_ms: int, oi_usd: float,
           rel: np.ndarray, funding: np.ndarray, price: np.ndarray, busy: np.ndarray,
           calm_step: int = 10) -> list[dict]:
    """`leverage` events: each venue's share of `oi_usd * rel`, every minute where `busy`, else every
    `calm_step` minutes. `price` is the mark price per minute."""
    out = []
    shares = rng.dirichlet(np.full(len(venues), 8.0))
    for m in range(len(rel)):
        if not busy[m] and m % calm_step:
            continue
        ts = start_ms + m * MINUTE + int(rng.integers(0, 3_000))
        for (venue, symbol), share in zip(venues, shares):
            usd = float(oi_usd * rel[m] * share * (1 + rng.normal(0, 0.001)))
            mark = float(price[m])
            out.append({"type": "leverage", "event_id": f"{venue}:{symbol}:sim:{ts}", "venue": venue,
                        "symbol": symbol, "asset": asset, "ts": ts, "open_interest": round(usd / mark, 6),
                        "open_interest_usd": round(usd, 2), "funding_rate": round(float(funding[m]), 8),
                        "funding_interval_ms": 8 * HOUR, "next_funding_ts": ts - ts % (8 * HOUR) + 8 * HOUR,
                        "mark_price": round(mark, 2), "source": "simulated", "received_ts": ts + 150})
    return out


def scripted(rng, asset: str, venues: list[tuple[str, str]], times: list[int], oi_fn, funding_fn, price_fn,
             shares: tuple[float, ...]) -> list[dict]:
    """`leverage` events at the given times from functions of time (a hand-written scenario); `rng` is a
    `random.Random` that adds each venue's small noise."""
    out = []
    for t in times:
        for (venue, symbol), share in zip(venues, shares):
            ts = t + rng.randint(0, 2_000)
            mark = price_fn(ts) * (1 + rng.gauss(0, 0.0001))
            usd = oi_fn(ts) * share * (1 + rng.gauss(0, 0.0005))
            out.append({"type": "leverage", "event_id": f"{venue}:{symbol}:scenario:{ts}", "venue": venue,
                        "symbol": symbol, "asset": asset, "ts": ts, "open_interest": round(usd / mark, 4),
                        "open_interest_usd": round(usd, 2), "funding_rate": round(funding_fn(ts), 8),
                        "funding_interval_ms": 8 * HOUR, "next_funding_ts": ts - ts % (8 * HOUR) + 8 * HOUR,
                        "mark_price": round(mark, 2), "source": "scenario", "received_ts": ts + rng.randint(20, 300)})
    return out
