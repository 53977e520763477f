"""The detector: events in, decisions out, per asset, in event time.

`process` applies one event and returns an `Output`: the alerts it caused, the links to deliver
to other assets (contagion links and progress markers), and the event itself when it arrived
behind the watermark (the late side output). The Faust agent and `cascadewatch replay` run the
same loop over it; replay delivers links at once (`feed`), the agent through a topic.

Decisions depend on event times only, so the same events give the same alerts whatever order
they arrive in within the allowed lateness; the wall clock (`now`) only decides when a silent
source stops holding the watermark back.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from pipeline.contracts.models import Alert, EtfFlow, Event, Leverage, Link, Liquidation, WhaleTransfer
from pipeline.detect import cascades, contagion, whale
from pipeline.detect.buffers import Bar, Liq, insert, prune
from pipeline.detect.clock import CHAIN, FLOW, LEV, LIQ
from pipeline.detect.config import MINUTE, DetectorConfig
from pipeline.detect.state import UNEXPLAINED, AssetState
from pipeline.detect.whale import REF_LOOKBACK_MS


@dataclass
class Output:
    alerts: list[Alert] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    late: list[Event] = field(default_factory=list)


class CascadeDetector:
    """Feed events with `process` (or `feed` offline); call `finish` at the end of input.

    `now` is the wall-clock time source in ms (None: event time is the clock, as offline).
    """

    def __init__(self, config: DetectorConfig | None = None, now: Callable[[], int] | None = None):
        self.cfg = cfg = config or DetectorConfig()
        self.now = now
        self.assets: dict[str, AssetState] = {}
        self._lateness = {CHAIN: cfg.chain_lateness_ms, LIQ: cfg.exchange_lateness_ms, FLOW: cfg.exchange_lateness_ms}
        # Exchange data is kept this long behind the frontier: a chain event may still arrive that late
        # and needs the market from a little before it.
        self.longest_ms = max(w for w, _ in cfg.windows())
        self.retention_ms = max(cfg.chain_lateness_ms + REF_LOOKBACK_MS, cfg.exchange_lateness_ms + self.longest_ms)
        self._sources = contagion.sources_of(cfg)
        self._has_targets = {a for a, ts in cfg.contagion_targets.items() if any(t != a for t in ts)}

    # -- state ------------------------------------------------------------------------------
    def state(self, asset: str) -> AssetState:
        st = self.assets.get(asset)
        if st is None:
            st = self.assets[asset] = AssetState(asset)
        return st

    def snapshot(self, asset: str) -> dict:
        """A JSON-ready copy of the asset's state (a copy: the caller may serialize it later)."""
        return orjson.loads(orjson.dumps(self.state(asset).to_dict(), default=list))

    def restore(self, asset: str, snap: dict) -> None:
        cfg = self.cfg
        self.assets[asset] = AssetState.from_dict(snap, cfg.floor_history_days, cfg.floor_quantile,
                                                  [w for w, _ in cfg.windows()])

    # -- input ------------------------------------------------------------------------------
    def process(self, event: Event, now_ms: int | None = None) -> Output:
        """Apply one event. `now_ms` overrides the time source (None and no source: event time)."""
        out = Output()
        if isinstance(event, Alert):
            return out
        now = now_ms if now_ms is not None else (self.now() if self.now is not None else None)
        st = self.state(event.asset)
        if isinstance(event, EtfFlow):
            if not st.etf.add(event):
                st.duplicates += 1
            return out
        if isinstance(event, Leverage):  # context only; as an optional feed it may hold the watermark back
            if not st.leverage.add(event):
                st.duplicates += 1
            elif st.clock.frontier:
                # History older than the watermark (a backlog read late) must not pull time back.
                front = st.clock.front(now, self.cfg.idle_timeout_ms)
                if front is None or event.ts > front - self.cfg.exchange_lateness_ms:
                    st.clock.observe(LEV, event.ts, now)
                    self._advance(st, now, out, routine=True)
            return out
        if isinstance(event, Link):
            if not contagion.on_link(self.cfg, st, event, now, out.alerts):
                st.duplicates += 1
            self._advance(st, now, out)
            return out
        source = CHAIN if isinstance(event, WhaleTransfer) else LIQ if isinstance(event, Liquidation) else FLOW
        ts = event.ts
        clock = st.clock
        if clock.born is None or not clock.frontier:  # new, or restored from a snapshot
            clock.born = now if now is not None else ts
        front = clock.front(now, self.cfg.idle_timeout_ms)
        late = front is not None and ts <= front - self._lateness[source]
        routine = source != CHAIN and not late  # only a watermark move can make it matter
        if late and (source == CHAIN or ts < front - self.retention_ms):
            st.late += 1
            out.late.append(event)
            return out
        if source == FLOW:
            fresh = insert(st.bars, Bar.of(event))
        elif source == LIQ:
            fresh = insert(st.liqs, Liq.of(event))
        else:
            key = event.event_id + (":retracted" if event.retracted else "")
            fresh = key not in st.seen
            st.seen[key] = event.ts
        if not fresh:
            st.duplicates += 1
            return out
        if late:
            # Behind the watermark but still buffered: it goes to the late side output and is
            # applied, and a decision it changes is published again as an amendment.
            st.late += 1
            out.late.append(event)
        else:
            clock.observe(source, ts, now)
        if source == FLOW:
            st.market.add(f"{event.venue}/{event.symbol}", ts, event.buy_volume_usd + event.sell_volume_usd, event.close)
        elif source == LIQ:
            if event.side == "long":
                st.longs.add(ts, event.notional_usd)
            if late:
                cascades.amend_late(self.cfg, st, ts, out.alerts)
        else:
            whale.on_transfer(self.cfg, st, event, out.alerts)
        self._advance(st, now, out, routine)
        return out

    def feed(self, event: Event, now_ms: int | None = None) -> list[Alert]:
        """`process`, with links delivered at once: for one detector holding every asset (replay,
        tests). The streaming agent sends them through a topic instead."""
        out = self.process(event, now_ms)
        alerts = out.alerts
        self._deliver(out.links, now_ms, alerts)
        return alerts

    def _deliver(self, links: list[Link], now_ms: int | None, alerts: list[Alert]) -> None:
        while links:
            nxt: list[Link] = []
            for link in links:
                out = self.process(link, now_ms)
                alerts.extend(out.alerts)
                nxt.extend(out.links)
            links = nxt

    def flush(self) -> Output:
        """End of input: every open episode and watch is decided with what was seen."""
        out = Output()
        for st in list(self.assets.values()):
            self._progress(st, math.inf, out.alerts, math.inf)
            end = max(st.clock.frontier.values(), default=None)
            for ep in list(st.episodes.values()):
                at = max(end if end is not None else ep.start, ep.start)
                whale.close(st, ep, ep.stage, at)
                whale.publish(self.cfg, st, ep, "expired", at, out.alerts)
            for ep in list(st.linked.values()):
                del st.linked[ep.alert_id]
                if ep.announced:
                    whale.publish(self.cfg, st, ep, "expired", ep.deadline, out.alerts)
        out.links = [link for a in out.alerts for link in contagion.links_for(self.cfg, a)]
        return out

    def finish(self) -> list[Alert]:
        """`flush`, with the links of the last decisions delivered (and their watches decided)."""
        out = self.flush()
        alerts = out.alerts
        if out.links:
            self._deliver(out.links, None, alerts)
            alerts.extend(self.flush().alerts)
        return alerts

    def links_for(self, alert: Alert) -> list[Link]:
        return contagion.links_for(self.cfg, alert)

    # -- time -------------------------------------------------------------------------------
    def _advance(self, st: AssetState, now: int | None, out: Output, routine: bool = False) -> None:
        front = st.clock.front(now, self.cfg.idle_timeout_ms)
        if front is not None:
            watermark = front - self.cfg.exchange_lateness_ms
            if routine and watermark == st.moved_to:
                return
            st.moved_to = watermark
            gate = contagion.upstream_gate(self.cfg, st, self._sources.get(st.asset), now)
            before = len(out.alerts)
            self._progress(st, watermark, out.alerts, gate)
            for alert in out.alerts[before:]:
                out.links.extend(contagion.links_for(self.cfg, alert))
            if watermark >= st.watermark + MINUTE or watermark < st.watermark:
                self._prune(st, front)
                st.watermark = watermark
        if st.asset in self._has_targets:
            out.links.extend(contagion.progress_for(self.cfg, st))

    def _progress(self, st: AssetState, watermark: float, alerts: list, gate: float) -> None:
        """Apply what the watermark has passed, in event-time order: deposits due, selling, the
        cascade test (no further than the contagion sources have judged), expiries."""
        cfg = self.cfg
        whale.open_due(cfg, st, watermark, alerts)
        whale.follow(cfg, st, watermark, alerts)
        judged = min(watermark, gate)
        cascades.judge(cfg, st, judged, alerts)
        if watermark != math.inf:
            whale.expire_due(cfg, st, watermark, alerts)
            contagion.expire_due(cfg, st, judged, alerts)

    def _prune(self, st: AssetState, front: int) -> None:
        cfg = self.cfg
        keep_from = front - self.retention_ms
        # Liquidations not judged yet (a target held back by its contagion sources) stay, with the
        # hour of history their baseline needs.
        judged = st.cascade.judged_to if st.cascade.judged_to >= 0 else -math.inf
        judged_from = judged - self.longest_ms - MINUTE
        prune(st.bars, keep_from)
        prune(st.liqs, min(keep_from, judged_from))
        if len(st.seen) > 64 and min(st.seen.values()) < keep_from - cfg.contagion_window_ms:
            st.seen = {k: t for k, t in st.seen.items() if t >= keep_from - cfg.contagion_window_ms}
        history_from = min(keep_from, judged_from) - cfg.market_lookback_ms - MINUTE
        st.market.prune(history_from)
        st.longs.prune(history_from)
        for aid, ep in list(st.done.items()):
            # Once its evidence has left the buffers nothing can amend it, except a contagion link
            # re-classifying a liquidation cascade (kept for the contagion window).
            horizon = cfg.contagion_window_ms if ep.kind == UNEXPLAINED else cfg.cascade_window_ms
            if ep.closed_at < keep_from - horizon:
                del st.done[aid]
        for aid, at in list(st.closed.items()):
            if at < front - cfg.chain_lateness_ms - cfg.sell_window_ms - cfg.sell_max_ms:
                del st.closed[aid]
