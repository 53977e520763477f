"""The cascade test: a window of long liquidations extreme for this asset, judged behind the
watermark, published at once, and handed to whichever story explains it.

Each long liquidation the watermark passes ends a window (`cascade_window_ms`). The window is a
cascade when its long notional reaches the asset's threshold (its learned floor, floors.py, or the
cold-start fallback, and the optional USD floor; halved inside a contagion watch), is at least
`cascade_baseline_multiple` times the last hour's mean, and longs dominate. The first such window
of a burst is published at once: as the cascade of a whale episode in its sell stage, as the cascade
of a contagion watch, or as a `liquidation_cascade`. Later windows of the same burst publish
nothing; the burst is over once no window reaches half its threshold for `cascade_quiet_ms`.
"""

from __future__ import annotations

from pipeline.detect import contagion, whale
from pipeline.detect.alerts import alert_id_for, publish
from pipeline.detect.buffers import upto
from pipeline.detect.config import MINUTE, DetectorConfig
from pipeline.detect.floors import FloorSketch
from pipeline.detect.state import CONTAGION, UNEXPLAINED, AssetState, Episode
from pipeline.detect.windows import RollingWindow


def threshold(cfg: DetectorConfig, st: AssetState, ts: int) -> tuple[float, dict]:
    """The asset's cascade threshold at `ts` and how it was set."""
    level, minutes = st.floors.level_at(ts)
    if level is None or minutes * MINUTE < cfg.floor_min_history_ms:
        usd, source = cfg.cold_floor(st.asset), "cold_start"
    else:
        usd, source = cfg.floor_factor * level, "learned"
    floor = cfg.usd_floor(st.asset)
    info = {"floor_source": source, "history_minutes": minutes,
            "floor_level_usd": round(level, 2) if level is not None else None}
    if floor > usd:
        usd, info["floor_source"] = floor, f"{source}+usd_floor"
    return usd, info


def judge(cfg: DetectorConfig, st: AssetState, upto_ts: float, alerts: list) -> None:
    """Judge every window ending at a liquidation up to `upto_ts`, in event-time order, adding each
    minute to the asset's history as the judging passes it."""
    if st.floors is None:
        st.floors = FloorSketch(cfg.floor_history_days, cfg.floor_quantile)
    if st.window is None:
        st.window = RollingWindow(cfg.cascade_window_ms)
    cs, liqs, window = st.cascade, st.liqs, st.window
    if upto_ts <= cs.judged_to:
        return
    lo, hi = upto(liqs, cs.judged_to), upto(liqs, upto_ts)
    for i in range(lo, hi):
        liq = liqs[i]
        _minutes_before(cfg, st, liq.ts - liq.ts % MINUTE)
        window.push(liq)
        cs.judged_to = liq.ts
        if liq.side == "long":
            _judge_window(cfg, st, liq.ts, alerts)
    if upto_ts != float("inf"):
        cs.judged_to = upto_ts
        _minutes_before(cfg, st, int(upto_ts) - int(upto_ts) % MINUTE)


def _minutes_before(cfg: DetectorConfig, st: AssetState, minute: int) -> None:
    """Add to the history every whole minute before `minute` not added yet."""
    sk = st.floors
    if sk.minute is None:
        sk.minute = minute  # history starts where the data does
        return
    while sk.minute < minute:
        m = sk.minute
        _end_if_quiet(cfg, st, m)
        w = cfg.cascade_window_ms
        if st.longs.rows and st.longs.rows[-1][0] >= m - w + MINUTE and st.longs.rows[0][0] <= m:
            usd = st.longs.between(m + MINUTE - w, m + MINUTE)
            sk.add(m, None if st.cascade.active is not None else usd)
        else:
            # A stretch with no long liquidations: up to the next minute that has some, at once.
            nxt = st.longs.next_minute(m)
            stop = minute if nxt is None else min(minute, max(m + MINUTE, nxt))
            count = (stop - m) // MINUTE
            if st.cascade.active is not None:
                sk.add(m, None)
            else:
                sk.add_zeros(m, count)


def _end_if_quiet(cfg: DetectorConfig, st: AssetState, at: int) -> None:
    active = st.cascade.active
    if active is not None and at > active["hot"] + cfg.cascade_quiet_ms:
        st.cascade.active = None


def _judge_window(cfg: DetectorConfig, st: AssetState, ts: int, alerts: list) -> None:
    w = st.window
    _end_if_quiet(cfg, st, ts)
    active = st.cascade.active
    link = contagion.watch_covering(st, ts) if active is None else None
    need, info = threshold(cfg, st, ts)
    if link is not None:
        need *= cfg.contagion_threshold_factor
    long_usd = w.long_usd
    if active is not None:
        if long_usd >= 0.5 * need:
            active["hot"] = ts
        if not active.get("critical") and long_usd >= cfg.critical_factor * active["threshold"]:
            _escalate(cfg, st, active, ts, alerts)
        return
    if (long_usd < need or w.long_n < cfg.cascade_min_count or w.long_share() < cfg.cascade_min_long_share
            or len(w.long_venues) < cfg.cascade_min_venues):
        return
    base = st.longs.per_window(ts - cfg.cascade_window_ms, cfg.market_lookback_ms, cfg.cascade_window_ms)
    if long_usd < cfg.cascade_baseline_multiple * base:
        return
    figures = w.figures()
    figures.update(baseline_long_usd=round(base, 2), threshold_usd=round(need, 2), **info)
    st.cascade.active = {"start": ts, "hot": ts, "threshold": need}
    evidence = {"sampled_venues": figures["sampled_venues"],
                "gapped_markets": st.market.gaps(ts - cfg.cascade_window_ms, ts),
                "floor_source": info["floor_source"]}
    ep = whale.sell_episode_for(cfg, st, ts)
    if ep is not None:
        sell_ts = ep.sell["ts"]
        at = max(ts, sell_ts)
        ep.stage, ep.cascade, ep.evidence = "cascade", {**figures, "ts": at,
                                                        "minutes_after_sell": round((at - sell_ts) / MINUTE, 2)}, evidence
        whale.close(st, ep, "cascade", at)
        publish(cfg, st, ep, "cascade", at, alerts)
        st.cascade.active["alert_id"] = ep.alert_id
        return
    if link is not None:
        ep = link
        del st.linked[ep.alert_id]
    else:
        ep = Episode(alert_id=alert_id_for(st.asset, f"liquidation_cascade:{ts}"), kind=UNEXPLAINED, start=ts,
                     deadline=ts)
    ep.start = ts if ep.kind == UNEXPLAINED else ep.start
    ep.stage, ep.cascade, ep.evidence = "cascade", figures, evidence
    st.cascade.active["alert_id"] = ep.alert_id
    publish(cfg, st, ep, "cascade", ts, alerts)
    if ep.kind == UNEXPLAINED:
        ep.start = ts
        contagion.reclassify_if_linked_soon(cfg, st, ep, alerts)


def _escalate(cfg: DetectorConfig, st: AssetState, active: dict, ts: int, alerts: list) -> None:
    """The burst under way has grown to `critical_factor` times its threshold: say so once, as an
    amendment of its alert carrying the window at that moment."""
    active["critical"] = True
    ep = st.done.get(active.get("alert_id"))
    if ep is None or ep.cascade is None:
        return
    peak = st.window.figures()
    ep.cascade = {**ep.cascade, "peak": {k: peak[k] for k in ("window_end", "long_notional_usd", "long_share",
                                                               "liquidation_count", "venues")}}
    ep.cascade["long_notional_usd"] = max(ep.cascade["long_notional_usd"], peak["long_notional_usd"])
    publish(cfg, st, ep, "cascade", ep.closed_at, alerts, amended=True)


def amend_late(cfg: DetectorConfig, st: AssetState, ts: int, alerts: list) -> None:
    """A liquidation at `ts` arrived behind the watermark: revise the published cascades whose
    window holds it, and rebuild the rolling window if it falls inside."""
    cs = st.cascade
    w = cfg.cascade_window_ms
    if ts > cs.judged_to - w:
        st.window = RollingWindow.rebuild(st.liqs, cs.judged_to, w)
    for ep in list(st.done.values()):
        if ep.published != "cascade" or ep.kind == CONTAGION and ep.cascade is None:
            continue
        end = ep.cascade["window_end"]
        if not end - w < ts <= end:
            continue
        win = RollingWindow.rebuild(st.liqs, end, w)
        figures = win.figures()
        if figures["long_notional_usd"] == ep.cascade["long_notional_usd"] and \
                figures["short_notional_usd"] == ep.cascade["short_notional_usd"]:
            continue
        ep.cascade = {**ep.cascade, **{k: v for k, v in figures.items() if k not in ("ts", "window_end")}}
        publish(cfg, st, ep, "cascade", ep.closed_at, alerts, amended=True)
