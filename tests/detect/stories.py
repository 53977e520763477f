"""Story builders shared by the detector tests: bars, deposits, liquidations, whole episodes."""

from __future__ import annotations

import random

from pipeline.contracts.models import Liquidation, TradeFlow, WhaleTransfer
from pipeline.detect import CascadeDetector, DetectorConfig
from pipeline.replay import run

T0 = 1_756_065_600_000  # 2025-08-24 20:00 UTC
MIN = 60_000
NO_LINKS = DetectorConfig(contagion_targets={})  # stories about one asset: no contagion watches


def bars(start, end, *, price_fn, sell_extra=0.0, venues=("binance-usdm", "bybit"), asset="BTC", step=10_000):
    out = []
    for t in range(start, end, step):
        for v in venues:
            p0, p1 = price_fn(t), price_fn(t + step)
            extra = sell_extra(t) if callable(sell_extra) else sell_extra
            out.append(TradeFlow(venue=v, symbol=f"{asset}USDT", asset=asset, ts=t, interval_ms=step,
                                 buy_volume_usd=1e6, sell_volume_usd=1e6 + extra, open=p0, high=max(p0, p1),
                                 low=min(p0, p1), close=p1, trade_count=100))
    return out


def deposit(ts, usd=2.7e9, *, direction="exchange_inflow", eid="bitcoin:whale:0", asset="BTC", retracted=False):
    return WhaleTransfer(event_id=eid, chain="bitcoin" if asset == "BTC" else "ethereum", asset=asset,
                         amount=usd / 110_000, usd_value=usd, from_address="bc1qwhale",
                         to_address="1Pzaqw98PeRfyHypfqyEgg5yycJRsENrE7", from_entity=None, to_entity="binance",
                         direction=direction, tx_hash=eid.split(":")[1], block_number=1, block_time=ts,
                         confirmations=1, observed_ts=ts + 30_000, retracted=retracted)


def liqs(start, end, every_ms, usd, side="long", venues=("bybit", "okx"), asset="BTC", tag="c"):
    return [Liquidation(event_id=f"{tag}:{t}", venue=venues[i % len(venues)], symbol=f"{asset}USDT", asset=asset,
                        side=side, price=110_000.0, quantity=usd / 110_000, notional_usd=usd, ts=t,
                        received_ts=t + 100, completeness="full")
            for i, t in enumerate(range(start, end, every_ms))]


def burst(asset, start, minutes, per_minute_usd, tag="b"):
    """Long liquidations on `asset`: `per_minute_usd` a minute for `minutes`, one every 5 s."""
    return [e.model_copy(update={"asset": asset, "symbol": f"{asset}USDT", "event_id": f"{tag}{asset}:{e.event_id}"})
            for e in liqs(start, start + minutes * MIN, 5_000, per_minute_usd / 12, tag=tag)]


def crash_price(t):
    if t < T0 + 5 * MIN:
        return 115_000.0
    return max(110_000.0, 115_000.0 - 250.0 * (t - T0 - 5 * MIN) / MIN)


def story(*, sell=True, cascade=True, dep_usd=2.7e9, direction="exchange_inflow", sell_from=5, burst_at=20):
    """Deposit at T0, selling from T0+`sell_from` min for 20 min, long liquidations from T0+`burst_at`
    min for 20 min; quiet data to T0+3h."""
    s0 = T0 + sell_from * MIN

    def price(t):
        return 115_000.0 if t < s0 else max(110_000.0, 115_000.0 - 250.0 * (t - s0) / MIN)

    evs = [deposit(T0, dep_usd, direction=direction)]
    evs += bars(T0 - 10 * MIN, T0 + 180 * MIN, price_fn=price if sell else (lambda t: 115_000.0),
                sell_extra=(lambda t: 40e6 if sell and s0 <= t < s0 + 20 * MIN else 0.0))
    evs += liqs(T0 - 10 * MIN, T0 + 180 * MIN, 30_000, 20_000, side="short", tag="bg")
    if cascade:
        evs += liqs(T0 + burst_at * MIN, T0 + (burst_at + 20) * MIN, 2_000, 150_000)
    return sorted(evs, key=lambda e: e.ts)


def replay(events, cfg=None):
    return run(sorted(events, key=lambda e: e.ts), cfg or NO_LINKS).alerts


def drive(det: CascadeDetector, events, now_ms=None) -> list:
    """Alerts of `process` over events in the order given (links not delivered)."""
    return [a for e in events for a in det.process(e, now_ms).alerts]


def stages(alerts):
    return [(a.asset, a.stage, a.reached) for a in alerts]


def on_asset(events, asset, tag=None):
    """The same events on another asset (liquidations get fresh ids)."""
    out = []
    for e in events:
        upd = {"asset": asset, "symbol": f"{asset}USDT"}
        if isinstance(e, Liquidation):
            upd["event_id"] = f"{tag or asset}:{e.event_id}"
        out.append(e.model_copy(update=upd))
    return out


def noise(asset, start, end, median_usd, seed=1, every_ms=20_000):
    """Background liquidations of both sides, log-normal sizes, one every ~20 s."""
    rng = random.Random(seed)
    out, t, n = [], start, 0
    while t < end:
        out.append(Liquidation(event_id=f"bg{asset}:{n}", venue=rng.choice(("bybit", "okx")), symbol=f"{asset}USDT",
                               asset=asset, side=rng.choice(("long", "short")), price=100.0,
                               quantity=1.0, notional_usd=round(rng.lognormvariate(0, 1.2) * median_usd, 2), ts=t,
                               received_ts=t + 50, completeness="full"))
        t += rng.randint(every_ms // 2, every_ms * 3 // 2)
        n += 1
    return out
