"""Whale episodes: an exchange deposit opens a watch; taker selling with a price drop makes it a
sell stage. Its cascade stage comes from the cascade test (cascades.py), which hands a burst to
the episode whose selling it follows.

Selling that starts within `sell_window_ms` of the deposit counts, and is then followed up to
`sell_max_ms` past the window's end: its drop and net sell are measured over the selling itself, so
a sell that starts late in the window is not cut at a deadline. The drop needed grows with the time
since the deposit (a random walk's spread), from the volatility before the deposit.
"""

from __future__ import annotations

import bisect
import math

from pipeline.contracts.models import WhaleTransfer
from pipeline.detect.alerts import alert_id_for, publish, render
from pipeline.detect.buffers import Bar, upto
from pipeline.detect.config import MINUTE, DetectorConfig
from pipeline.detect.state import UNEXPLAINED, WHALE, AssetState, Episode

REF_LOOKBACK_MS = 5 * MINUTE  # the reference price is the last close at most this long before a deposit


def on_transfer(cfg: DetectorConfig, st: AssetState, t: WhaleTransfer, alerts: list) -> None:
    if t.retracted:
        retract(cfg, st, t, alerts)
        return
    if t.direction != "exchange_inflow" or st.asset not in cfg.assets or t.usd_value < cfg.deposit_threshold(st.asset):
        return
    dep = {"event_id": t.event_id, "usd_value": t.usd_value, "to_entity": t.to_entity, "amount": t.amount,
           "chain": t.chain, "tx_hash": t.tx_hash, "ts": t.block_time, "deposit_count": 1, "total_usd": t.usd_value}
    if t.token is not None:  # a wrapped coin (WBTC is deposited as BTC's supply): the alert names what moved
        dep["token"] = t.token
    # Decided once the watermark passes the block time, when the market before it is all known.
    bisect.insort(st.pending, [t.block_time, t.event_id, dep], key=lambda p: (p[0], p[1]))


def open_due(cfg: DetectorConfig, st: AssetState, watermark: float, alerts: list) -> None:
    while st.pending and st.pending[0][0] <= watermark:
        _open(cfg, st, st.pending.pop(0)[2], alerts)


def _open(cfg: DetectorConfig, st: AssetState, dep: dict, alerts: list) -> None:
    ts = dep["ts"]
    volume = st.market.hourly_volume(cfg.venues_of(dep["to_entity"]), ts, cfg.market_lookback_ms)
    if volume:
        dep["venue_volume_1h_usd"] = round(volume, 2)
        dep["volume_share"] = round(dep["usd_value"] / volume, 4)
        if dep["usd_value"] < cfg.deposit_min_volume_share * volume:
            return  # ordinary flow for a venue this busy
    for ep in st.episodes.values():
        # A later deposit, or an earlier one arriving late (chain lateness), joins: one episode, one alert.
        if ep.start - cfg.chain_lateness_ms <= ts <= ep.deadline or (ep.stage != "watch" and ep.start <= ts):
            ep.deposit = {**ep.deposit, "deposit_count": ep.deposit["deposit_count"] + 1,
                          "total_usd": ep.deposit["total_usd"] + dep["usd_value"]}
            return
    active = st.cascade.active
    if active is not None and active["start"] <= ts and \
            (not cfg.deposit_into_cascade_ms or ts < active["start"] + cfg.deposit_into_cascade_ms):
        return  # the crash this deposit would feed is already under way and reported
    aid = alert_id_for(st.asset, dep["event_id"])
    if aid in st.closed:
        return
    ep = Episode(alert_id=aid, kind=WHALE, start=ts, deadline=ts + cfg.sell_window_ms, deposit=dep)
    ep.sigma = st.market.volatility(ts, cfg.market_lookback_ms)
    if ep.sigma is not None:
        dep["volatility_1m_pct"] = round(ep.sigma * 100, 4)
    ep.fed_to = ts - REF_LOOKBACK_MS - 1
    st.episodes[aid] = ep
    alerts.append(render(cfg, st, ep, "watch", ts))


def retract(cfg: DetectorConfig, st: AssetState, t: WhaleTransfer, alerts: list) -> None:
    before = len(st.pending)
    st.pending = [p for p in st.pending if p[1] != t.event_id]
    if len(st.pending) != before:
        return  # never published
    aid = alert_id_for(st.asset, t.event_id)
    ep = st.episodes.get(aid)
    if ep is not None and ep.stage == "watch":
        del st.episodes[aid]
        st.closed[aid] = t.block_time
        alerts.append(render(cfg, st, ep, "expired", t.block_time, retracted=True))


def decision_times(st: AssetState, watermark: float, judged: float) -> list[float]:
    """In time order, when a whale decision falls due up to the watermark: each pending deposit's block
    time (up to `judged`), and the end of each bar a watching episode has not been fed yet."""
    times = {p[0] for p in st.pending if p[0] <= judged}
    fed = min((ep.fed_to for ep in st.episodes.values() if ep.stage == "watch"), default=None)
    if fed is not None:
        bars = st.bars
        times.update(b.end for b in bars[upto(bars, fed):upto(bars, watermark)] if b.end <= watermark)
    return sorted(times)


def follow(cfg: DetectorConfig, st: AssetState, watermark: float, alerts: list) -> None:
    """Feed each watching episode the bars the watermark has passed, in time order. A bar is fed once
    the watermark passes its end, not its start: what it says (selling, a low) is known only when it
    closes, so a cascade that begins inside it is judged before the selling it shows."""
    bars = st.bars
    for ep in list(st.episodes.values()):
        if ep.stage != "watch":
            continue
        lo = upto(bars, ep.fed_to)
        hi = upto(bars, watermark)
        for i in range(lo, hi):
            if bars[i].end > watermark:  # stop before it, and before the other bars that start with it
                start = bars[i].ts
                hi = i
                while hi > lo and bars[hi - 1].ts == start:
                    hi -= 1
                break
        for i in range(lo, hi):
            _bar(cfg, st, ep, bars[i], alerts)
            if ep.stage != "watch":
                break
        if hi > lo:
            ep.fed_to = bars[hi - 1].ts


def _need_drop(cfg: DetectorConfig, ep: Episode, at: int) -> float:
    need = cfg.sell_min_drop_pct
    if ep.sigma is not None:
        minutes = max(1.0, (at - ep.start) / MINUTE)
        need = max(need, cfg.sell_drop_sigmas * ep.sigma * math.sqrt(minutes) * 100)
    return round(need, 4)


def _bar(cfg: DetectorConfig, st: AssetState, ep: Episode, bar: Bar, alerts: list) -> None:
    venue = bar.venue
    if bar.ts < ep.start:
        if bar.ts >= ep.start - REF_LOOKBACK_MS and bar.ts > ep.ref.get(venue, (-1, 0))[0]:
            ep.ref[venue] = [bar.ts, bar.close]
        return
    if bar.ts >= ep.deadline:
        return
    ep.buy_usd += bar.buy
    ep.sell_usd += bar.sell
    if venue not in ep.low or bar.low < ep.low[venue]:
        ep.low[venue] = bar.low
    if venue not in ep.ref:
        ep.ref[venue] = [bar.ts, bar.open]
    net = _selling(ep)
    need = max(cfg.sell_min_net_usd, cfg.sell_min_deposit_fraction * ep.deposit["usd_value"])
    if ep.sell_start is None and net >= cfg.sell_start_fraction * need:
        ep.sell_start = bar.ts
        # Followed as long as a selling that counts may run, whenever it began: the first start the feeds
        # show may be flow noise ahead of the real selling, which may begin as late as the window's end.
        ep.deadline = ep.start + cfg.sell_window_ms + cfg.sell_max_ms
    if net < need:
        return
    if _drop(ep)[0] < _need_drop(cfg, ep, bar.end):
        return
    _confirm(cfg, st, ep, bar.end, alerts)
    _claim(cfg, st, ep, alerts)


def _selling(ep: Episode) -> float:
    """Net taker sell over the selling itself: since the lowest the net (sell - buy since the deposit)
    has been, so that buying before the selling began (flow noise, or dip buyers of an earlier move)
    does not hide a late start."""
    net = ep.sell_usd - ep.buy_usd
    ep.net_low = min(ep.net_low, net)
    return net - ep.net_low


def _confirm(cfg: DetectorConfig, st: AssetState, ep: Episode, at: int, alerts: list, by: str = "selling") -> None:
    """The episode's sell stage, with the selling measured up to `at`: confirmed by the selling itself
    (net sell and drop past their thresholds), or by a cascade that began while it was under way."""
    drop, at_venue, ref_px, low_px = _drop(ep)
    ep.stage = "sell"
    ep.sell = {"ts": at, "net_sell_usd": round(_selling(ep), 2), "sell_usd": round(ep.sell_usd, 2),
               "buy_usd": round(ep.buy_usd, 2), "drop_pct": round(drop, 4), "drop_needed_pct": _need_drop(cfg, ep, at),
               "venue": at_venue, "price_ref": ref_px, "price_low": low_px, "selling_from": ep.sell_start,
               "minutes_after_deposit": round((at - ep.start) / MINUTE, 2)}
    if by != "selling":
        ep.sell["confirmed_by"] = by
    ep.evidence = {"sampled_venues": [], "gapped_markets": st.market.gaps(ep.start, at)}
    publish(cfg, st, ep, "sell", at, alerts)


def _drop(ep: Episode) -> tuple[float, str | None, float | None, float | None]:
    best = (0.0, None, None, None)
    for venue, low in ep.low.items():
        ref = ep.ref[venue][1]
        drop = (ref - low) / ref * 100.0
        if drop > best[0]:
            best = (drop, venue, ref, low)
    return best


def _claim(cfg: DetectorConfig, st: AssetState, ep: Episode, alerts: list) -> None:
    """A cascade with no whale, already reported since the deposit (the deposit was seen late, or
    the burst began before the selling showed), was this whale's: amend it (same alert, the deposit
    and selling filled in) rather than report the burst twice."""
    lo, hi = ep.start - cfg.cascade_window_ms, ep.sell["ts"] + cfg.cascade_max_delay_ms
    for done in st.done.values():
        if done.kind == UNEXPLAINED and done.published == "cascade" and lo <= done.start <= hi:
            done.kind, done.deposit, done.sell = WHALE, ep.deposit, ep.sell
            done.cascade = {**done.cascade, "minutes_after_sell": round((done.start - ep.sell["ts"]) / MINUTE, 2)}
            publish(cfg, st, done, "cascade", done.closed_at, alerts, amended=True)
            close(st, ep, "cascade", ep.sell["ts"])
            return


def sell_episode_for(cfg: DetectorConfig, st: AssetState, ts: int, alerts: list,
                     linked: bool = False) -> Episode | None:
    """The whale episode in its sell stage whose cascade a burst at `ts` would be. An episode whose
    selling has started (`sell_start_fraction` of the net sell it needs) but not yet shown its full
    drop is confirmed by the burst: forced selling is the rest of the story. Past the selling window
    (waiting for a slow cascade, `watch_until`), a contagion watch (`linked`) explains the burst first."""
    for ep in st.episodes.values():
        if ep.stage == "sell" and ep.sell["ts"] - cfg.cascade_window_ms <= ts <= ep.sell["ts"] + cfg.cascade_max_delay_ms:
            return ep
    if cfg.sell_confirmed_by_cascade:
        for ep in st.episodes.values():
            until = ep.deadline if linked else watch_until(cfg, ep)
            if ep.stage == "watch" and ep.sell_start is not None and ep.sell_start <= ts <= until and \
                    ts >= known_from(cfg, ep):
                _confirm(cfg, st, ep, ts, alerts, by="cascade")
                return ep
    return None


def selling_covers(cfg: DetectorConfig, st: AssetState, ts: int) -> bool:
    """A whale episode's confirmed selling makes a burst at `ts` its cascade: the cascade test looks closer
    (from `known_from` on)."""
    return any(ep.stage == "sell" and ep.sell["ts"] - cfg.cascade_window_ms <= ts <= ep.sell["ts"] + cfg.cascade_max_delay_ms
               and ts >= known_from(cfg, ep) for ep in st.episodes.values())


def sells_after(cfg: DetectorConfig, st: AssetState, start: int, ts: int) -> bool:
    """A whale episode opened after a cascade that began at `start` is selling, and a burst at `ts` would
    be its cascade (its sell stage is confirmed, or its selling has started and a cascade may confirm
    it): the burst under way since `start` is not the whale's story."""
    if not cfg.deposit_into_cascade_ms:
        return False
    for ep in st.episodes.values():
        if ep.start <= start or ts < known_from(cfg, ep):
            continue
        if ep.stage == "sell":
            if ep.sell["ts"] <= ts <= ep.sell["ts"] + cfg.cascade_max_delay_ms:
                return True
        elif ep.sell_start is not None and cfg.sell_confirmed_by_cascade and ep.sell_start <= ts <= watch_until(cfg, ep):
            return True
    return False


def selling_started(cfg: DetectorConfig, st: AssetState, ts: int) -> bool:
    """A watching episode's selling has started (not yet confirmed), and a cascade at `ts` would confirm it."""
    return cfg.sell_confirmed_by_cascade and any(
        ep.stage == "watch" and ep.sell_start is not None and ep.sell_start <= ts <= watch_until(cfg, ep)
        and ts >= known_from(cfg, ep) for ep in st.episodes.values())


def known_from(cfg: DetectorConfig, ep: Episode) -> int:
    """From when a deposit may change how a burst is judged: once it is known in any read order. A
    transfer may arrive up to the chain lateness after its block; before that, a stream may judge a
    burst without it that a replay judges with it. So earlier bursts take the usual way (published as
    they are, then claimed by the selling) and the alerts are the same whatever the order."""
    return ep.start + cfg.chain_lateness_ms


def watch_until(cfg: DetectorConfig, ep: Episode) -> int:
    """When a watching episode expires: at its deadline, or, once its selling has started and a cascade may
    confirm it, `cascade_max_delay_ms` after the selling started. The selling itself is measured up to the
    deadline only; the wait is for its cascade, which a slow burst reaches late (an hour into a bleed)."""
    if ep.sell_start is not None and cfg.sell_confirmed_by_cascade:
        return max(ep.deadline, ep.sell_start + cfg.cascade_max_delay_ms)
    return ep.deadline


def ends_at(cfg: DetectorConfig, ep: Episode) -> int:
    """When an open episode expires without its cascade: the watch's end, or the sell stage's wait."""
    return watch_until(cfg, ep) if ep.stage == "watch" else ep.sell["ts"] + cfg.cascade_max_delay_ms


def expire_due(cfg: DetectorConfig, st: AssetState, watermark: float, alerts: list) -> None:
    for ep in list(st.episodes.values()):
        deadline = ends_at(cfg, ep)
        if watermark > deadline:
            close(st, ep, ep.stage, deadline)
            publish(cfg, st, ep, "expired", deadline, alerts)


def close(st: AssetState, ep: Episode, stage: str, at: int) -> None:
    st.episodes.pop(ep.alert_id, None)
    st.closed[ep.alert_id] = at
