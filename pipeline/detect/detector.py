"""The detector: events in, decisions out, per asset, in event time.

`process` applies one event and returns an `Output`: the alerts it caused, the links to deliver
to other assets (contagion links and progress markers), and the event itself when it arrived
behind the watermark (the late side output). The Faust agent and `cascadewatch replay` run the
same loop over it; replay delivers links at once (`feed`), the agent through a topic. An event is
a pydantic model or a light record of the same fields (pipeline/contracts/light.py, a third
cheaper to parse); `process_many` / `feed_many` take a batch and decide exactly as one by one.

Decisions depend on event times only, so the same events give the same alerts whatever order
they arrive in within the allowed lateness; the wall clock (`now`) only decides when a silent
source stops holding the watermark back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from sys import intern as _intern

import orjson

from pipeline.contracts.models import Alert, Event, Link
from pipeline.detect import cascades, contagion, progress, whale
from pipeline.detect.buffers import Bar, Liq, insert, prune
from pipeline.detect.clock import CHAIN, FLOW, LEV, LIQ
from pipeline.detect.config import MINUTE, DetectorConfig
from pipeline.detect.state import UNEXPLAINED, AssetState
from pipeline.detect.whale import REF_LOOKBACK_MS

_new = tuple.__new__  # a NamedTuple built without its Python-level __new__


@dataclass(slots=True)  # one per `process` call: slots make it cheaper to build
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
        self._exchange_lateness = cfg.exchange_lateness_ms
        # Exchange data is kept this long behind the frontier: a chain event may still arrive that late
        # and needs the market from a little before it.
        self.idle_timeout_ms = cfg.idle_timeout_ms
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
        """Apply one event. `now_ms` overrides the time source (None and no source: event time).

        The event is a model or a light record (pipeline/contracts/light.py): the same fields."""
        out = Output()
        self._apply(event, now_ms if now_ms is not None else (self.now() if self.now is not None else None), out)
        return out

    def process_many(self, events: Iterable[Event], now_ms: int | None = None) -> Output:
        """Apply a batch of events, in order, as `process` would one by one, with one wall-clock
        reading for the batch (it arrived at one moment): the same decisions, one Output."""
        out = Output()
        now = now_ms if now_ms is not None else (self.now() if self.now is not None else None)
        apply = self._apply
        for event in events:
            apply(event, now, out)
        return out

    def _apply(self, event: Event, now: int | None, out: Output) -> None:
        kind = event.type
        if kind == "liquidation":
            source = LIQ
        elif kind == "trade_flow":
            source = FLOW
        elif kind == "whale_transfer":
            source = CHAIN
        else:
            self._context(event, kind, now, out)
            return
        asset = event.asset
        st = self.assets.get(asset)
        if st is None:
            st = self.state(asset)
        ts = event.ts
        clock = st.clock
        frontier = clock.frontier
        if clock.born is None or (LIQ not in frontier and FLOW not in frontier):
            if clock.born is None or not frontier:  # new, or restored from a snapshot
                clock.start(now if now is not None else ts)
            lev = frontier.get(LEV)
            if lev is not None and lev < ts and LIQ not in frontier and FLOW not in frontier:
                # Leverage heard before the exchange feeds holds time from their first event on, never
                # before it: the minutes before it are no history of a quiet market.
                frontier[LEV], clock.memo = ts, None
        idle = self.idle_timeout_ms
        memo = clock.memo  # `clock.front`, its memo read in line: the usual case
        front = memo[2] if memo is not None and memo[0] == now and memo[1] == idle else clock.front(now, idle)
        late = front is not None and ts <= front - self._lateness[source]
        if late and (source is CHAIN or ts < front - self.retention_ms):
            st.late += 1
            out.late.append(event)
            return
        # Rows built and inserted in line: this runs for every event (buffers.Liq.of / Bar.of / insert
        # say the same thing one call at a time).
        if source is LIQ:
            eid = event.event_id
            # The strings that repeat are shared: an hour of rows then holds one copy of each. Side and
            # completeness already are (parsing hands back the schema's own strings), the venue is interned.
            side = event.side
            row = _new(Liq, (ts, eid, side, _intern(event.venue), event.completeness, round(event.notional_usd * 100)))
            rows = st.liqs
            if rows and ((last := rows[-1])[0] > ts or (last[0] == ts and last[1] >= eid)):
                if not insert(rows, row):
                    st.duplicates += 1
                    return
            else:
                rows.append(row)
            if late:
                # Behind the watermark but still buffered: it goes to the late side output and is
                # applied, and a decision it changes is published again as an amendment.
                st.late += 1
                out.late.append(event)
                if side == "long":
                    st.longs.add_cents(ts, row[5])
                cascades.amend_late(self.cfg, st, ts, out.alerts)
                self._advance(st, now, out)
                return
            front = clock.observe_front(LIQ, ts, now, idle)
            if side == "long":  # st.longs.add_cents, its usual case (the minute of the last row) in line
                longs = st.longs.rows
                if longs and (last := longs[-1])[0] == ts - ts % MINUTE:
                    last[1] += row[5]
                    last[2] += 1
                else:
                    st.longs.add_cents(ts, row[5])
        elif source is FLOW:
            row = _new(Bar, (ts, _intern(f"{event.venue}/{event.symbol}"), ts + event.interval_ms,
                             event.buy_volume_usd, event.sell_volume_usd, event.open, event.low, event.close))
            rows = st.bars
            if rows and ((last := rows[-1])[0] > ts or (last[0] == ts and last[1] >= row[1])):
                if not insert(rows, row):
                    st.duplicates += 1
                    return
            else:
                rows.append(row)
            if late:
                st.late += 1
                out.late.append(event)
                st.market.add(row[1], ts, row[3] + row[4], row[7])
                self._advance(st, now, out)
                return
            front = clock.observe_front(FLOW, ts, now, idle)
            market = st.market.rows.get(row[1])  # st.market.add, its usual case (the minute of the last row) in line
            if market and (last := market[-1])[0] == ts - ts % MINUTE:
                last[1] += round((row[3] + row[4]) * 100)
                if ts > last[2]:
                    last[2], last[3] = ts, row[7]
            else:
                st.market.add(row[1], ts, row[3] + row[4], row[7])
        else:
            key = event.event_id + (":retracted" if event.retracted else "")
            seen = st.seen
            fresh = key not in seen
            seen[key] = ts
            if not fresh:
                st.duplicates += 1
                return
            clock.observe(CHAIN, ts, now)
            whale.on_transfer(self.cfg, st, event, out.alerts)
            self._advance(st, now, out)
            return
        # Only a watermark move can make an exchange event on time matter (`_advance`'s first test).
        if front is not None and front - self._exchange_lateness == st.moved_to:
            return
        self._advance(st, now, out, True)

    def _context(self, event: Event, kind: str, now: int | None, out: Output) -> None:
        """Events that are not evidence of a stage: ETF flows, leverage, contagion links (alerts are
        outputs, not inputs)."""
        if kind == "leverage":  # context only; as an optional feed it may hold the watermark back
            st = self.assets.get(event.asset)
            if st is None:
                st = self.state(event.asset)
            if not st.leverage.add(event):
                st.duplicates += 1
                return
            # It holds time at its own figures' time, but never behind what has been judged (a backlog
            # read late must not pull time back: it holds time there until caught up) nor, before
            # anything was judged, behind the exchange feeds' first event (the minutes before it are no
            # history of a quiet market). (max() written out: this runs for every leverage event.)
            judged = st.moved_to if st.moved_to >= st.watermark else st.watermark
            if judged >= 0:
                ts, floor = event.ts, judged + self._exchange_lateness
                at = ts if ts >= floor else floor
            else:
                first = min([rows[0][0] for rows in (st.liqs, st.bars) if rows], default=None)
                at = event.ts if first is None else max(event.ts, first)
            clock, idle = st.clock, self.idle_timeout_ms
            memo = clock.memo  # a front in the clock's memo is the exchange feeds' front (`_exchange_front`)
            known = (memo is not None and memo[2] is not None and memo[0] == now and memo[1] == idle
                     and clock.born is not None and clock.frontier)
            if not known and self._exchange_front(st, now) is None:
                st.clock.hear(LEV, at, now)  # heard before the exchange feeds: holds time from their first event
                return
            front = clock.observe_front(LEV, at, now, idle)
            if front is None or front - self._exchange_lateness != st.moved_to:  # `_advance`'s first test
                self._advance(st, now, out, routine=True)
        elif kind == "etf_flow":
            st = self.state(event.asset)
            if not st.etf.add(event):
                st.duplicates += 1
        elif kind == "link":
            st = self.state(event.asset)
            if not contagion.on_link(self.cfg, st, event, now, out.alerts):
                st.duplicates += 1
            self._advance(st, now, out)

    def feed(self, event: Event, now_ms: int | None = None) -> list[Alert]:
        """`process`, with links delivered at once: for one detector holding every asset (replay,
        tests). The streaming agent sends them through a topic instead."""
        out = self.process(event, now_ms)
        alerts = out.alerts
        self._deliver(out.links, now_ms, alerts)
        return alerts

    def feed_many(self, events: Iterable[Event], now_ms: int | None = None) -> list[Alert]:
        """`feed` over a batch: each event's links are delivered before the next event."""
        now = now_ms if now_ms is not None else (self.now() if self.now is not None else None)
        out = Output()
        alerts, links, apply = out.alerts, out.links, self._apply
        for event in events:
            apply(event, now, out)
            if links:
                self._deliver(links[:], now, alerts)
                links.clear()
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
            progress.decide(self.cfg, st, math.inf, math.inf, out.alerts)
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
        for st in self.assets.values():
            out.links.extend(st.outbox)
            st.outbox.clear()
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
    def _exchange_front(self, st: AssetState, now: int | None) -> int | None:
        """How far the exchange feeds have got, to tell a leverage backlog from current figures: the
        clock's front, or while a feed has not spoken yet the latest of those that have (None: none
        has; a chain transfer alone says nothing of where the exchange feeds are)."""
        clock = st.clock
        # A clock restored from a snapshot is not started until its next exchange event.
        front = clock.front(now, self.idle_timeout_ms) if clock.frontier and clock.born is not None else None
        if front is None:
            seen = [clock.frontier[s] for s in (LIQ, FLOW) if s in clock.frontier]
            front = max(seen) if seen else None
        return front

    def _advance(self, st: AssetState, now: int | None, out: Output, routine: bool = False) -> None:
        front = st.clock.front(now, self.idle_timeout_ms)
        if front is not None:
            watermark = front - self.cfg.exchange_lateness_ms
            if routine and watermark == st.moved_to:
                return
            st.moved_to = watermark
            sources = self._sources.get(st.asset)
            gate = contagion.upstream_gate(self.cfg, st, sources, now) if sources else math.inf
            alerts = out.alerts
            before = len(alerts)
            progress.decide(self.cfg, st, watermark, gate, alerts)
            if len(alerts) > before:
                for alert in alerts[before:]:
                    out.links.extend(contagion.links_for(self.cfg, alert))
            if st.outbox:
                out.links.extend(st.outbox)
                st.outbox.clear()
            if watermark >= st.watermark + MINUTE or watermark < st.watermark:
                self._prune(st, front)
                st.watermark = watermark
        if st.asset in self._has_targets:
            out.links.extend(contagion.progress_for(self.cfg, st, now))

    def _prune(self, st: AssetState, front: int) -> None:
        cfg = self.cfg
        keep_from = front - self.retention_ms
        # Liquidations not judged yet (a target held back by its contagion sources) stay, with the
        # hour of history their baseline needs.
        judged = st.cascade.judged_to if st.cascade.judged_to >= 0 else -math.inf
        judged_from = judged - self.longest_ms - MINUTE
        # ...and the bars a deposit not decided yet (decided as far as the cascade test) will read.
        prune(st.bars, min(keep_from, judged_from))
        prune(st.liqs, min(keep_from, judged_from))
        if len(st.seen) > 64 and min(st.seen.values()) < keep_from - cfg.contagion_window_ms:
            st.seen = {k: t for k, t in st.seen.items() if t >= keep_from - cfg.contagion_window_ms}
        history_from = min(keep_from, judged_from) - cfg.market_lookback_ms - MINUTE
        st.market.prune(history_from)
        st.longs.prune(history_from)
        decided_from = min(keep_from, judged_from)
        if st.stirs:
            contagion.forget_stirs(cfg, st, decided_from)
        for aid, ep in list(st.done.items()):
            # Once its evidence has left the buffers nothing can amend it, except a contagion link
            # re-classifying a liquidation cascade, or re-linking one called on a source's stirring (kept
            # for the contagion window). Behind the judging, not the feeds: an asset read hours ahead of
            # its contagion source still has it when the source's link gets there.
            relinkable = ep.kind == UNEXPLAINED or (ep.linked_to or {}).get("kind") == "stir"
            horizon = cfg.contagion_window_ms if relinkable else cfg.cascade_window_ms
            if ep.closed_at < decided_from - horizon:
                del st.done[aid]
        for aid, at in list(st.closed.items()):
            if at < front - cfg.chain_lateness_ms - cfg.sell_window_ms - cfg.sell_max_ms:
                del st.closed[aid]

