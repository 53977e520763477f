"""The cascade test: windows of long liquidations extreme for this asset, judged behind the
watermark, published at once, and handed to whichever story explains it.

Each long liquidation the watermark passes ends a short window (`cascade_window_ms`, an intense
burst), a middle one (`cascade_mid_window_ms`, a burst building over a quarter of an hour) and a
long one (`cascade_long_window_ms`, a slow sustained one). A window is a cascade when its long
notional reaches the asset's threshold for that width (its factor times the learned level of
that width, floors.py, or the cold-start fallback; and the optional USD floor; scaled down inside
a contagion watch; at `cascade_price_fraction` of it when the price broke down over the window,
breaks.py, or open interest in contracts fell by `cascade_oi_drop_pct`), it holds enough long liquidations (the learned count, scaled down as the USD
goes past the threshold) and would still hold half its threshold without its largest one, it is at least `cascade_baseline_multiple` times the last hour's mean,
longs dominate (and are not a small share of any longer window), and it does not reach back into the last burst. The first such window of a burst
is published at once: as the cascade of a whale episode in its sell stage, as the cascade of a
contagion watch, or as a `liquidation_cascade`. Later windows of the same burst publish nothing,
except once when it grows to `critical_factor` times its threshold; the burst is over once no
window reaches half its threshold for `cascade_quiet_ms`.
"""

from __future__ import annotations

import math

from pipeline.detect import breaks, contagion, whale
from pipeline.detect.alerts import alert_id_for, publish
from pipeline.detect.buffers import since, upto
from pipeline.detect.config import MINUTE, DetectorConfig
from pipeline.detect.floors import FloorSketch, key
from pipeline.detect.state import CONTAGION, UNEXPLAINED, AssetState, Episode
from pipeline.detect.thresholds import enough_count, longs_lead, spread, threshold, watch_need
from pipeline.detect.windows import RollingWindow, push_each


def judge(cfg: DetectorConfig, st: AssetState, upto_ts: float, alerts: list) -> None:
    """Judge every window ending at a liquidation up to `upto_ts`, in event-time order, adding each
    minute to the asset's history as the judging passes it."""
    if not st.windows:
        for width, _ in cfg.windows():
            st.windows[width] = RollingWindow(width)
    if st.floors is None:  # also after a restore from a snapshot taken before any judging
        st.floors = FloorSketch(cfg.floor_history_days, cfg.floor_quantile)
    cs, liqs = st.cascade, st.liqs
    if upto_ts <= cs.judged_to:
        return
    windows = tuple(st.windows.values())
    lo, hi = upto(liqs, cs.judged_to), upto(liqs, upto_ts)
    sk = st.floors
    # The loop runs once per liquidation: the pushes are one call, and a long liquidation is first
    # held against its minute's thresholds here. With no burst under way and no contagion watch,
    # `_judge_at` would pass over every window below its threshold; with a burst under way that is
    # neither over nor critical, it would only mark the burst hot. Anything else goes to `_judge_at`.
    quiet_ms, max_ms, critical = cfg.cascade_quiet_ms, cfg.cascade_max_ms, cfg.critical_factor
    least = cfg.cascade_price_fraction  # below this share of its threshold no window can pass...
    stir = 1.0  # ...nor stir (contagion.stir)
    if cfg.contagion_stir_fraction and any(t != st.asset for t in cfg.contagion_targets.get(st.asset, ())):
        stir = cfg.contagion_stir_fraction
    pairs_of, pairs, short = None, (), windows[0]
    minute_end, thresholds = -math.inf, None
    for liq in liqs[lo:hi]:
        ts = liq[0]
        if ts >= minute_end:  # rows are in time order: a new minute (the checks below hold for all of it)
            minute = ts - ts % MINUTE
            minute_end, thresholds = minute + MINUTE, None
            if sk.minute is None or sk.minute < minute:  # else there is no minute to add
                _minutes_before(cfg, st, minute)
        push_each(windows, liq)
        cs.judged_to = ts
        if liq[2] != "long":
            continue
        if thresholds is None:  # the minute's first long liquidation: its thresholds, cached a minute
            thresholds = _thresholds(cfg, st, ts)
            if thresholds is not pairs_of:
                pairs_of = thresholds
                pairs = tuple((st.windows[width], need, 0.5 * need,
                               min(stir, least if width <= cfg.cascade_price_max_window_ms else 1.0) * need)
                              for (width, _), (need, _) in zip(cfg.windows(), thresholds))
        active = cs.active
        if active is None:
            if not st.linked and not st.episodes:
                for w, _, _, low in pairs:
                    if w.long_usd >= low:
                        break
                else:
                    continue
        elif (ts <= active["hot"] + quiet_ms and ts <= active["start"] + max_ms
              and (active.get("critical") or short.long_usd < critical * active["threshold"])
              and not (st.episodes and whale.sells_after(cfg, st, active["start"], ts))):
            scale = active.get("scale", 1.0)
            for w, _, half, _ in pairs:
                if w.long_usd >= half * scale:
                    active["hot"] = ts
                    break
            continue
        _judge_at(cfg, st, ts, alerts)
    if upto_ts != float("inf"):
        cs.judged_to = upto_ts
        _minutes_before(cfg, st, int(upto_ts) - int(upto_ts) % MINUTE)


def _minutes_before(cfg: DetectorConfig, st: AssetState, minute: int) -> None:
    """Add to the history every whole minute before `minute` not added yet: each window's long sum
    and count ending with it.

    A minute inside a burst under way, or whose long window still holds a past burst, is not
    history: the level learns what ordinary looks like. Bursts that were never called stay in, and
    the level (a median over days, floors.py) is robust to them.
    """
    sk = st.floors
    if sk.minute is not None and sk.minute >= minute:
        return  # nothing to add
    longs, width = st.longs, cfg.level_window_ms
    widths = [w for w, _ in cfg.windows()]
    keys = [key(m, w) for w in widths for m in ("usd", "n")]
    if sk.minute is None:
        # History starts with the asset's first liquidation, not where the watermark happened to be
        # when the asset was first judged: that depends on how the feeds arrived, this does not.
        first = st.liqs[0][0] if st.liqs else None
        if first is None or first >= minute:
            return
        sk.minute = first - first % MINUTE
    while sk.minute < minute:
        m = sk.minute
        _end_if_quiet(cfg, st, m)
        nxt = longs.next_minute(m - width + MINUTE)
        if nxt is None or nxt > m:
            # No long liquidation in this minute's window: a quiet stretch, up to the next one, at once.
            if st.cascade.active is not None or m < st.cascade.shadow_until:
                sk.add(m, None)
            else:
                sk.add_zeros(m, ((minute if nxt is None else min(minute, nxt)) - m) // MINUTE, keys)
            continue
        levels, minutes = sk.level_at(m)
        cold = key("usd", width) not in levels or minutes * MINUTE < cfg.floor_min_history_ms
        active = st.cascade.active
        # On a cold start a "burst" that goes on past one long window is more likely the asset's
        # ordinary (busier than the fallback floor): it is history after that, so the asset learns.
        if (active is not None and not (cold and m >= active["start"] + width)) or m < st.cascade.shadow_until:
            sk.add(m, None)  # the burst, or a window still holding its tail
            continue
        values = {}
        for w, (usd, n) in zip(widths, longs.windows(m + MINUTE, widths)):
            values[key("usd", w)], values[key("n", w)] = usd, n
        if cold:
            # Until there is a level, a minute above the fallback floor is not history, unless most
            # are: an asset whose ordinary is above the fallback is simply busier than it.
            usd = values[key("usd", width)]
            cutoff = cfg.cold_floor(st.asset)
            sk.cold[0] += 1
            sk.cold[1] += usd >= cutoff
            if usd >= cutoff and not (sk.cold[0] >= 60 and 2 * sk.cold[1] > sk.cold[0]):
                values = None
        sk.add(m, values)


def _end_if_quiet(cfg: DetectorConfig, st: AssetState, at: int) -> None:
    active = st.cascade.active
    if active is None:
        return
    if at > active["hot"] + cfg.cascade_quiet_ms or at > active["start"] + cfg.cascade_max_ms:
        st.cascade.active = None
        st.cascade.shadow_until = active["hot"] + cfg.level_window_ms
    elif st.episodes and whale.sells_after(cfg, st, active["start"], at):
        # A whale that deposited into it is selling: what follows is the whale's cascade, judged apart
        # from it, on windows that begin from now (the earlier ones hold this burst).
        st.cascade.active = None
        st.cascade.shadow_until = max(st.cascade.shadow_until, at + cfg.level_window_ms)


def _thresholds(cfg: DetectorConfig, st: AssetState, ts: int) -> list:
    """Each window's (threshold, info) at `ts`: they change at most once a minute, so kept that long."""
    minute = ts - ts % MINUTE
    cached = st.cascade.thresholds
    if cached is None or cached[0] != minute:
        cached = st.cascade.thresholds = (minute, [threshold(cfg, st, w, f, ts) for w, f in cfg.windows()])
    return cached[1]


def _judge_at(cfg: DetectorConfig, st: AssetState, ts: int, alerts: list) -> None:
    _end_if_quiet(cfg, st, ts)
    active = st.cascade.active
    if active is None and cfg.contagion_stir_fraction and ts >= st.stir_sent + contagion.STIR_EVERY_MS:
        _stir_if_any(cfg, st, ts)
    link = contagion.watch_covering(st, ts) if active is None and st.linked else None
    factor = None
    if active is None and link is None and st.episodes:
        if cfg.sell_threshold_factor < 1 and whale.selling_covers(cfg, st, ts):
            factor = cfg.sell_threshold_factor
        elif cfg.selling_started_factor < 1 and whale.selling_started(cfg, st, ts):
            factor = cfg.selling_started_factor
    selling = factor is not None
    for (width, _), (need, info) in zip(cfg.windows(), _thresholds(cfg, st, ts)):
        w = st.windows[width]
        plain = need
        if link is not None:
            need = watch_need(cfg, need, info)
        elif selling:
            need = watch_need(cfg, need, info, factor)
        long_usd = w.long_usd
        full_need, price = need, None
        # Not inside a whale's selling: the selling moved the price, and already lowered the threshold.
        if active is None and not selling and cfg.cascade_price_fraction * need <= long_usd < need \
                and width <= cfg.cascade_price_max_window_ms:
            price = breaks.price_break(cfg, st, ts, width) or breaks.oi_break(cfg, st, ts, width)
            if price is not None:
                need *= cfg.cascade_price_fraction
        if active is not None:
            if long_usd >= 0.5 * need * active.get("scale", 1.0):
                active["hot"] = ts
            if not active.get("critical") and width == cfg.cascade_window_ms and \
                    long_usd >= cfg.critical_factor * active["threshold"]:
                _escalate(cfg, st, active, alerts)
            continue
        count = info["count_needed"]
        if selling and width < cfg.level_window_ms:  # see docs/detection.md, "Selling lowers the threshold"
            count = max(cfg.cascade_min_count, math.ceil(count * factor))
        if (long_usd < need or not enough_count(cfg, w.long_n, count, long_usd, need)
                or w.long_share() < cfg.cascade_min_long_share or len(w.long_venues) < cfg.cascade_min_venues
                or not spread(cfg, w, need) or not longs_lead(cfg, st.windows.values(), width)):
            continue
        if ts - width < st.cascade.shadow_until - cfg.level_window_ms:
            continue  # the window still holds the last burst: that one is over, this is not a new one
        base = st.longs.per_window(ts - width, cfg.market_lookback_ms, width)
        if long_usd < cfg.cascade_baseline_multiple * base:
            continue
        figures = w.figures()
        figures.update(baseline_long_usd=round(base, 2), threshold_usd=round(need, 2), **{**info, "count_needed": count})
        if price is not None:
            figures.update(price)
        if width == cfg.cascade_window_ms:
            short_need = full_need
        else:
            short_need, short_info = threshold(cfg, st, cfg.cascade_window_ms, cfg.floor_factor, ts)
            if link is not None:
                short_need = watch_need(cfg, short_need, short_info)
            elif selling:
                short_need = watch_need(cfg, short_need, short_info, factor)
        _start(cfg, st, ts, figures, link, short_need, alerts)
        if cfg.hot_at_called and selling and full_need < plain and st.cascade.active is not None:
            st.cascade.active["scale"] = st.cascade.active.get("scale", 1.0) * full_need / plain
        return


def judge_again_for(cfg: DetectorConfig, st: AssetState, watch: Episode, alerts: list) -> None:
    """A contagion watch just opened: windows already judged since shortly before its source's
    cascade are judged again at the watch's threshold (the target's burst often starts a few
    minutes before the source's alert reaches it)."""
    judged = st.cascade.judged_to
    lo_ts = watch.start - cfg.contagion_rejudge_ms
    if st.cascade.active is not None or judged < lo_ts or not st.windows:
        return
    needs = [(watch_need(cfg, need, info), info["count_needed"])
             for need, info in _thresholds(cfg, st, int(judged))]
    wins = {w: RollingWindow.rebuild(st.liqs, lo_ts - 1, w) for w, _ in cfg.windows()}
    liqs = st.liqs
    for i in range(since(liqs, lo_ts), upto(liqs, judged)):
        liq = liqs[i]
        for w in wins.values():
            w.push(liq)
        if liq.side != "long":
            continue
        for (width, _), (need, count) in zip(cfg.windows(), needs):
            w = wins[width]
            if (w.long_usd >= need and enough_count(cfg, w.long_n, count, w.long_usd, need)
                    and w.long_share() >= cfg.cascade_min_long_share and len(w.long_venues) >= cfg.cascade_min_venues
                    and spread(cfg, w, need) and longs_lead(cfg, wins.values(), width)):
                info = _thresholds(cfg, st, int(judged))[0][1]
                figures = w.figures()
                figures.update(threshold_usd=round(need, 2), judged_again=True, **info)
                del st.linked[watch.alert_id]
                watch.start = min(watch.start, liq.ts)
                _start(cfg, st, liq.ts, figures, watch, needs[0][0], alerts)
                return


def _start(cfg: DetectorConfig, st: AssetState, ts: int, figures: dict, link: Episode | None, short_need: float,
           alerts: list) -> None:
    """A new burst: publish it as the story that explains it."""
    st.cascade.active = {"start": ts, "hot": ts, "threshold": short_need}
    if "threshold_scaled_by_price" in figures:  # it stays hot at half the threshold it was called at
        st.cascade.active["scale"] = figures["threshold_scaled_by_price"]
    st.floors.forget_since(ts - cfg.level_window_ms)  # the burst's ramp is not ordinary history
    evidence = {"sampled_venues": figures["sampled_venues"],
                "gapped_markets": st.market.gaps(ts - figures["window_ms"], ts),
                "floor_source": figures["floor_source"]}
    ep = whale.sell_episode_for(cfg, st, ts, alerts, linked=link is not None)
    if ep is not None:
        sell_ts = ep.sell["ts"]
        at = max(ts, sell_ts)
        ep.stage, ep.evidence = "cascade", evidence
        ep.cascade = {**figures, "ts": at, "minutes_after_sell": round((at - sell_ts) / MINUTE, 2)}
        whale.close(st, ep, "cascade", at)
    else:
        if link is not None:
            ep = link
            st.linked.pop(ep.alert_id, None)
        else:
            stirred = contagion.stir_before(cfg, st, ts) if st.stirs else None
            ep = Episode(alert_id=alert_id_for(st.asset, f"liquidation_cascade:{ts}"), start=ts, deadline=ts,
                         kind=UNEXPLAINED if stirred is None else CONTAGION, linked_to=stirred)
        ep.stage, ep.cascade, ep.evidence = "cascade", figures, evidence
        at = ts
    st.cascade.active["alert_id"] = ep.alert_id
    publish(cfg, st, ep, "cascade", at, alerts)
    if ep.kind == UNEXPLAINED:
        contagion.reclassify_if_linked_soon(cfg, st, ep, alerts)


def _stir_if_any(cfg: DetectorConfig, st: AssetState, ts: int) -> None:
    """A window holding `contagion_stir_fraction` of its threshold (enough long liquidations, longs
    dominating) tells the asset's contagion targets it is stirring."""
    frac = cfg.contagion_stir_fraction
    for (width, _), (need, _) in zip(cfg.windows(), _thresholds(cfg, st, ts)):
        w = st.windows[width]
        if w.long_usd >= frac * need and w.long_n >= cfg.cascade_min_count and \
                w.long_share() >= cfg.cascade_min_long_share:
            contagion.stir(cfg, st, ts, w.long_usd)
            return


def _escalate(cfg: DetectorConfig, st: AssetState, active: dict, alerts: list) -> None:
    """The burst under way has grown to `critical_factor` times its threshold: say so once, as an
    amendment of its alert carrying the window at that moment."""
    active["critical"] = True
    ep = st.done.get(active.get("alert_id"))
    if ep is None or ep.cascade is None:
        return
    peak = st.windows[cfg.cascade_window_ms].figures()
    ep.cascade = {**ep.cascade, "peak": {k: peak[k] for k in ("window_end", "window_ms", "long_notional_usd",
                                                               "long_share", "liquidation_count", "venues")}}
    publish(cfg, st, ep, "cascade", ep.closed_at, alerts, amended=True)


def amend_late(cfg: DetectorConfig, st: AssetState, ts: int, alerts: list) -> None:
    """A liquidation at `ts` arrived behind the watermark: revise the published cascades whose
    window holds it, and rebuild the rolling windows it falls inside."""
    judged = st.cascade.judged_to
    for width in list(st.windows):
        if ts > judged - width:
            st.windows[width] = RollingWindow.rebuild(st.liqs, judged, width)
    for ep in list(st.done.values()):
        if ep.published != "cascade" or ep.cascade is None:
            continue
        end, width = ep.cascade["window_end"], ep.cascade["window_ms"]
        if not end - width < ts <= end:
            continue
        figures = RollingWindow.rebuild(st.liqs, end, width).figures()
        if figures["long_notional_usd"] == ep.cascade["long_notional_usd"] and \
                figures["short_notional_usd"] == ep.cascade["short_notional_usd"]:
            continue
        ep.cascade = {**ep.cascade, **{k: v for k, v in figures.items() if k not in ("ts", "window_end")}}
        publish(cfg, st, ep, "cascade", ep.closed_at, alerts, amended=True)
