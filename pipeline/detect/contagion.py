"""Contagion: a cascade on one asset opens a watch on its correlated assets.

The source's first cascade decision gives a Link per target (`links_for`); the glue delivers it
to the target's partition, where, once the target's judging reaches the source's time, it opens a watch for `contagion_window_ms` inside which the
cascade threshold is scaled by `contagion_threshold_factor`. A target cascade up to
`contagion_lookback_ms` BEFORE the source's is re-classified by an amended alert.

A source whose long liquidations reach `contagion_stir_fraction` of its threshold without a cascade
tells its targets it is stirring (`stir`); a target cascade called within `contagion_stir_window_ms`
after that is reported as contagion, linked to the stirring (`stir_before`). A slow source burst is
often too small to call on its own while its target's, sharper, is not.

Across partitions, progress markers keep this deterministic: each minute a source announces how
far it has judged (`progress_for`), and a target judges its own cascades no further than its
sources have (`upstream_gate`); a source silent for `link_idle_timeout_ms` stops holding it back.
"""

from __future__ import annotations

import bisect
import math

from pipeline.contracts.models import Alert, Link
from pipeline.detect.alerts import alert_id_for, publish, render
from pipeline.detect.config import MINUTE, DetectorConfig
from pipeline.detect.state import CONTAGION, UNEXPLAINED, AssetState, Episode

STIR_EVERY_MS = 5 * MINUTE  # a source stirring for an hour tells its targets every five minutes, not per print


def sources_of(cfg: DetectorConfig) -> dict[str, list[str]]:
    """target asset -> the assets whose cascades it follows."""
    out: dict[str, list[str]] = {}
    for source, targets in cfg.contagion_targets.items():
        for target in targets:
            if target != source:
                out.setdefault(target, []).append(source)
    return out


def links_for(cfg: DetectorConfig, alert: Alert) -> list[Link]:
    """Contagion links a first cascade decision opens on the correlated assets."""
    if alert.stage != "cascade" or alert.revision or alert.kind == CONTAGION:
        return []
    long_usd = float((alert.cascade or {}).get("long_notional_usd", 0.0))
    return [Link(asset=target, source_alert_id=alert.alert_id, source_asset=alert.asset, source_kind=alert.kind,
                 source_ts=alert.ts, source_long_usd=long_usd)
            for target in cfg.contagion_targets.get(alert.asset, []) if target != alert.asset]


def progress_for(cfg: DetectorConfig, st: AssetState | None, now: int | None = None) -> list[Link]:
    """Progress markers for the asset's targets when its judged-up-to time reached a new minute, or a new
    `progress_live_step_ms` step while its judging is live (within `progress_live_within_ms` of the wall
    clock `now`): a target's live decisions then wait about that long for its sources, not up to a minute.
    The step changes only when the targets hear of the progress, never what they decide."""
    if st is None:
        return []
    targets = [t for t in cfg.contagion_targets.get(st.asset, []) if t != st.asset]
    judged = st.cascade.judged_to
    if not targets or judged < 0 or judged == math.inf:
        return []
    step = MINUTE
    if now is not None and cfg.progress_live_step_ms and now - judged <= cfg.progress_live_within_ms:
        step = cfg.progress_live_step_ms
    decided = int(judged) - int(judged) % step
    if decided <= st.progress_sent:
        return []
    st.progress_sent = decided
    return [Link(asset=t, source_alert_id="progress", source_asset=st.asset, source_kind="progress", source_ts=decided)
            for t in targets]


def upstream_gate(cfg: DetectorConfig, st: AssetState, sources: list[str] | None, now: int | None) -> float:
    """How far the asset's contagion sources have judged (inf: nothing holds it back)."""
    if not sources:
        return math.inf
    clock = st.clock.wall(now)
    born = st.clock.born if st.clock.born is not None else clock
    gate = math.inf
    for src in sources:
        ts, seen_at = st.upstream.get(src, (-math.inf, None))
        if clock - (seen_at if seen_at is not None else born) < cfg.link_idle_timeout_ms:
            gate = min(gate, ts)
    return gate


def on_link(cfg: DetectorConfig, st: AssetState, link: Link, now: int | None, alerts: list) -> bool:
    """Take a link or a progress marker; False if it was a duplicate. A link is applied once the
    asset's own judging reaches its source's time (`apply_due`), wherever the asset was when it came:
    the watch is decided with the asset's context as of then, and the windows judged again are the
    same, however early or late the link is read."""
    if link.source_kind == "progress":
        prev = st.upstream.get(link.source_asset)
        st.upstream[link.source_asset] = [max(link.source_ts, prev[0] if prev else -1), st.clock.wall(now)
                                          if now is not None or st.clock.frontier else link.source_ts]
        return True
    if link.event_id in st.seen:
        return False
    st.seen[link.event_id] = link.source_ts
    fields = {"alert_id": link.source_alert_id, "asset": link.source_asset, "kind": link.source_kind,
              "ts": link.source_ts, "long_notional_usd": link.source_long_usd}
    if link.source_kind == "stir":
        bisect.insort(st.stirs, [link.source_ts, fields], key=lambda p: p[0])
        return True
    bisect.insort(st.links, [link.source_ts, link.source_alert_id, fields], key=lambda p: (p[0], p[1]))
    return True


def due_times(st: AssetState, judged: float) -> list[int]:
    """The source times of the links waiting, up to `judged`."""
    return [p[0] for p in st.links if p[0] <= judged]


def apply_due(cfg: DetectorConfig, st: AssetState, judged: float, alerts: list) -> None:
    """Apply the links whose source time the asset's judging has reached."""
    while st.links and st.links[0][0] <= judged:
        _apply(cfg, st, st.links.pop(0)[2], alerts)


def _apply(cfg: DetectorConfig, st: AssetState, linked_to: dict, alerts: list) -> None:
    source_ts = linked_to["ts"]
    aid = alert_id_for(st.asset, f"contagion:{linked_to['alert_id']}")
    ep = Episode(alert_id=aid, kind=CONTAGION, start=source_ts, deadline=source_ts + cfg.contagion_window_ms,
                 linked_to=dict(linked_to))
    st.linked[aid] = ep
    ep.announced = "liquidations" in st.clock.frontier  # no watch alerts for an asset nobody feeds
    if ep.announced:
        alerts.append(render(cfg, st, ep, "watch", source_ts))
    for done in list(st.done.values()):
        stirred = done.kind == CONTAGION and (done.linked_to or {}).get("kind") == "stir"
        if (done.kind == UNEXPLAINED or stirred) and done.published == "cascade" and \
                source_ts - cfg.contagion_lookback_ms <= done.start < source_ts:
            _reclassify(cfg, st, done, ep.linked_to, alerts)
    from pipeline.detect import (
        cascades,  # the cascade test imports this module: a cycle otherwise
    )

    cascades.judge_again_for(cfg, st, ep, alerts)


def watch_covering(st: AssetState, ts: int) -> Episode | None:
    """The contagion watch open at `ts` (its source cascade at or before `ts`)."""
    for ep in st.linked.values():
        if ep.start <= ts <= ep.deadline:
            return ep
    return None


def reclassify_if_linked_soon(cfg: DetectorConfig, st: AssetState, done: Episode, alerts: list) -> None:
    """A cascade with no whale just before a source's cascade whose link came first."""
    early = [e for e in st.linked.values() if done.start < e.start <= done.start + cfg.contagion_lookback_ms]
    if early:
        _reclassify(cfg, st, done, min(early, key=lambda e: e.start).linked_to, alerts)


def _reclassify(cfg: DetectorConfig, st: AssetState, done: Episode, linked_to: dict, alerts: list) -> None:
    done.kind, done.linked_to = CONTAGION, linked_to
    publish(cfg, st, done, "cascade", done.closed_at, alerts, amended=True)


def expire_due(cfg: DetectorConfig, st: AssetState, judged: float, alerts: list) -> None:
    for ep in list(st.linked.values()):
        if judged > ep.deadline:
            del st.linked[ep.alert_id]
            if ep.announced:
                publish(cfg, st, ep, "expired", ep.deadline, alerts)


def stir(cfg: DetectorConfig, st: AssetState, ts: int, long_usd: float) -> None:
    """The asset's long liquidations reached `contagion_stir_fraction` of its threshold at `ts` with no
    cascade called: tell its targets (at most once per STIR_EVERY_MS), through `st.outbox`."""
    targets = [t for t in cfg.contagion_targets.get(st.asset, []) if t != st.asset]
    if not targets or ts < st.stir_sent + STIR_EVERY_MS:
        return
    st.stir_sent = ts
    st.outbox.extend(Link(asset=t, source_alert_id=f"stir:{st.asset}:{ts}", source_asset=st.asset, source_kind="stir",
                          source_ts=ts, source_long_usd=round(long_usd, 2)) for t in targets)


def stir_before(cfg: DetectorConfig, st: AssetState, ts: int) -> dict | None:
    """The latest stirring of a source within `contagion_stir_window_ms` before `ts` (None: none)."""
    for at, fields in reversed(st.stirs):
        if at <= ts:
            return dict(fields) if at >= ts - cfg.contagion_stir_window_ms else None
    return None


def forget_stirs(cfg: DetectorConfig, st: AssetState, before: float) -> None:
    """Drop the stirrings no cascade judged from `before` on can be linked to."""
    while st.stirs and st.stirs[0][0] < before - cfg.contagion_stir_window_ms:
        st.stirs.pop(0)
