"""Per-asset matching of whale deposit -> taker selling -> long liquidation cascade, in event time.

Each asset keeps short buffers of recent trade-flow bars and liquidations, the open episodes
(one per qualifying deposit, later deposits join it), and per-source event-time frontiers.
Decisions depend on event times only, so the same events give the same alerts whatever the
order they arrive in within the allowed lateness; the wall clock (`now_ms`) is used only to
decide that a silent source no longer holds the watermark back.

Beyond the whale sequence: a long-liquidation cascade with no whale is its own alert kind; a
cascade on one asset opens a contagion watch on its correlated assets (`links_for` gives the
Link events; the glue delivers them back to `process`, partitioned by the target asset); and an
exchange event that arrives after the watermark still enters the buffers, so that a decision it
changes is published again as an amended alert.
"""

from __future__ import annotations

import bisect
import hashlib
import math

import orjson
from collections import deque
from dataclasses import dataclass, field

from pipeline.contracts.models import Alert, EtfFlow, Event, Link, Liquidation, TradeFlow, WhaleTransfer
from pipeline.detect.config import DetectorConfig
from pipeline.detect.etf import EtfLedger
from pipeline.detect.market import LongBook, MarketBook

STAGES = ("watch", "sell", "cascade")
UNEXPLAINED = "liquidation_cascade"  # closed-episode marker for a cascade with no whale deposit
CONTAGION = "contagion_cascade"
WHALE = "whale_cascade"
REF_LOOKBACK_MS = 5 * 60_000  # the reference price is the last close at most this long before a deposit
CHAIN, LIQ, FLOW = "chain", "liquidations", "trade_flow"
_SEVERITY = ("info", "warning", "high", "critical")

# Bar tuple: (ts, "venue/symbol", end_ts, buy_usd, sell_usd, open, low, close); the first two identify a bar.
# Liquidation tuple: (ts, event_id, side, notional_usd, venue, completeness).
# The buffers double as the duplicate check for bars and liquidations, which keeps snapshots small.


def _market(bar: TradeFlow) -> str:
    return f"{bar.venue}/{bar.symbol}"


def alert_id_for(asset: str, deposit_event_id: str) -> str:
    return hashlib.sha256(f"{asset}|{deposit_event_id}".encode()).hexdigest()[:20]


@dataclass
class Episode:
    """A whale episode, a contagion watch (kind, linked_to; no deposit) or, once decided, any
    published cascade kept for amendments (`published` is the last stage published)."""

    alert_id: str
    dep_ts: int
    sell_deadline: int
    deposit: dict | None
    stage: str = "watch"
    kind: str = WHALE
    linked_to: dict | None = None
    published: str = "watch"
    revision: int = 0
    closed_at: int | None = None
    need_drop_pct: float = 0.0
    evidence: dict | None = None
    ref: dict = field(default_factory=dict)  # venue -> (bar_ts, close) of the last bar before the deposit
    buy_usd: float = 0.0
    sell_usd: float = 0.0
    low: dict = field(default_factory=dict)  # venue -> lowest low since the deposit
    sell: dict | None = None
    cascade: dict | None = None
    fed_to: int = -1  # bars up to this time have been applied, in time order
    scanned_to: int = -1  # cascade windows ending up to this time have been tested

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict) -> "Episode":
        ep = cls(**d)
        ep.ref = {v: tuple(x) for v, x in ep.ref.items()}
        return ep


@dataclass
class AssetState:
    asset: str
    frontier: dict = field(default_factory=dict)  # source -> max event ts seen
    arrival: dict = field(default_factory=dict)  # source -> wall-clock ms of the last arrival
    bars: list = field(default_factory=list)  # sorted bar tuples
    liqs: list = field(default_factory=list)  # sorted liquidation tuples
    seen: dict = field(default_factory=dict)  # chain and ETF event_id -> event ts, for idempotence
    episodes: dict = field(default_factory=dict)  # alert_id -> Episode (open)
    closed: dict = field(default_factory=dict)  # alert_id -> (closed_ts, stage reached)
    etf: EtfLedger = field(default_factory=EtfLedger)
    market: MarketBook = field(default_factory=MarketBook)
    longs: LongBook = field(default_factory=LongBook)
    pending: list = field(default_factory=list)  # sorted (block ts, event_id, deposit) decided once the watermark passes
    linked: dict = field(default_factory=dict)  # alert_id -> Episode: open contagion watches
    done: dict = field(default_factory=dict)  # alert_id -> Episode: decided, kept while late data may amend it
    unexplained_to: float = -1  # cascade windows ending up to here have been judged
    upstream: dict = field(default_factory=dict)  # source asset -> [decided up to, clock at arrival]
    progress_sent: int = -1  # decided-up-to last announced to the contagion targets
    covered: list = field(default_factory=list)  # (deposit ts, close ts) of recent whale episodes
    unexplained_from: int | None = None  # earliest long liquidation not yet judged as an unexplained cascade
    born: int | None = None  # clock when this state was created or restored: unseen feeds idle from here
    late: int = 0
    duplicates: int = 0

    def to_dict(self) -> dict:
        return {
            "asset": self.asset, "frontier": self.frontier, "arrival": self.arrival, "bars": self.bars,
            "liqs": self.liqs, "seen": self.seen, "closed": self.closed, "late": self.late, "born": self.born,
            "unexplained_from": self.unexplained_from, "covered": self.covered,
            "duplicates": self.duplicates, "etf": self.etf.to_dict(),
            "episodes": {k: ep.to_dict() for k, ep in self.episodes.items()},
            "market": self.market.rows, "longs": self.longs.rows, "pending": self.pending,
            "linked": {k: ep.to_dict() for k, ep in self.linked.items()},
            "done": {k: ep.to_dict() for k, ep in self.done.items()}, "unexplained_to": self.unexplained_to,
            "upstream": self.upstream, "progress_sent": self.progress_sent,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "AssetState":
        # Arrival clocks are not restored: after downtime every feed gets a fresh idle timeout, so
        # the backlog of one topic cannot push time past another's.
        st = cls(asset=d["asset"], frontier=dict(d["frontier"]),
                 bars=[tuple(b) for b in d["bars"]], liqs=[tuple(x) for x in d["liqs"]], seen=dict(d["seen"]),
                 closed={k: tuple(v) for k, v in d["closed"].items()}, late=d["late"], duplicates=d["duplicates"],
                 unexplained_from=d.get("unexplained_from"), covered=[tuple(c) for c in d.get("covered", [])],
                 etf=EtfLedger.from_dict(d["etf"]), market=MarketBook(d.get("market", {})),
                 longs=LongBook(d.get("longs", [])), pending=[tuple(p) for p in d.get("pending", [])],
                 unexplained_to=d.get("unexplained_to", -1), progress_sent=d.get("progress_sent", -1),
                 upstream={k: [v[0], None] for k, v in d.get("upstream", {}).items()})
        st.episodes = {k: Episode.from_dict(e) for k, e in d["episodes"].items()}
        st.linked = {k: Episode.from_dict(e) for k, e in d.get("linked", {}).items()}
        st.done = {k: Episode.from_dict(e) for k, e in d.get("done", {}).items()}
        return st


class CascadeDetector:
    """Feed events with `process`; it returns the alerts they cause. Call `flush` at end of input."""

    def __init__(self, config: DetectorConfig | None = None):
        self.cfg = config or DetectorConfig()
        self.assets: dict[str, AssetState] = {}
        self.late_events: deque[Event] = deque(maxlen=10_000)
        self._lateness = {CHAIN: self.cfg.chain_lateness_ms, LIQ: self.cfg.exchange_lateness_ms,
                          FLOW: self.cfg.exchange_lateness_ms}
        # Exchange data is kept this long behind the frontier: a chain event may still arrive that late,
        # and a cascade with no whale is judged this far behind (its window must still be whole).
        cfg = self.cfg
        self.retention_ms = max(cfg.chain_lateness_ms + REF_LOOKBACK_MS,
                              cfg.unexplained_wait_ms + cfg.exchange_lateness_ms + cfg.cascade_window_ms)
        self._sources: dict[str, list[str]] = {}  # target asset -> the assets whose cascades it follows
        for source, targets in cfg.contagion_targets.items():
            for target in targets:
                if target != source:
                    self._sources.setdefault(target, []).append(source)

    # -- state ------------------------------------------------------------------------------
    def state(self, asset: str) -> AssetState:
        st = self.assets.get(asset)
        if st is None:
            st = self.assets[asset] = AssetState(asset)
        return st

    def snapshot(self, asset: str) -> dict:
        """A JSON-ready copy of the asset's state (a copy: the caller may serialize it later)."""
        return orjson.loads(orjson.dumps(self.state(asset).to_dict()))

    def restore(self, asset: str, snap: dict) -> None:
        self.assets[asset] = AssetState.from_dict(snap)

    # -- input ------------------------------------------------------------------------------
    def process(self, event: Event, now_ms: int | None = None) -> list[Alert]:
        """Apply one event. `now_ms` is the wall clock (None offline: event time is the clock)."""
        if isinstance(event, Alert):
            return []
        st = self.state(event.asset)
        if isinstance(event, EtfFlow):
            if not st.etf.add(event):
                st.duplicates += 1
            return []
        if isinstance(event, Link):
            return self._on_link(st, event, now_ms)
        source = CHAIN if isinstance(event, WhaleTransfer) else LIQ if isinstance(event, Liquidation) else FLOW
        ts = event.ts
        if st.born is None or not st.frontier:
            st.born = now_ms if now_ms is not None else ts
        front = self._frontier(st, now_ms)
        late = front is not None and ts <= front - self._lateness[source]
        if late and (source == CHAIN or ts < front - self.retention_ms):
            st.late += 1
            self.late_events.append(event)
            return []
        if self._is_duplicate(st, event):
            st.duplicates += 1
            return []
        alerts: list[Alert] = []
        if late:
            # Behind the watermark but still inside the buffers: it goes to the late side output and
            # is applied, and any decision it changes is published again as an amendment.
            st.late += 1
            self.late_events.append(event)
        else:
            if ts > st.frontier.get(source, -1):
                st.frontier[source] = ts
            st.arrival[source] = now_ms if now_ms is not None else ts
        if isinstance(event, TradeFlow):
            self._on_bar(st, event)
        elif isinstance(event, Liquidation):
            self._on_liquidation(st, event)
            if late:
                self._amend(st, event.ts, alerts)
        else:
            self._on_transfer(st, event, alerts)
        self._advance(st, now_ms, alerts)
        return alerts

    def feed(self, event: Event, now_ms: int | None = None) -> list[Alert]:
        """`process`, with contagion links delivered at once: for one detector holding every asset
        (replay, tests). The streaming worker sends `links_for` through a topic instead."""
        alerts = self._deliver(self.process(event, now_ms), now_ms)
        for marker in self.progress_for(event.asset):
            alerts.extend(self.process(marker, now_ms))
        return alerts

    def finish(self) -> list[Alert]:
        """`flush`, with the links of the last decisions delivered (and their watches decided)."""
        alerts = self.flush()
        linked = self._deliver([], None, alerts)
        return alerts + linked + (self.flush() if linked else [])

    def _deliver(self, alerts: list[Alert], now_ms: int | None, sources: list[Alert] | None = None) -> list[Alert]:
        for alert in list(sources if sources is not None else alerts):
            for link in self.links_for(alert):
                alerts.extend(self.process(link, now_ms))
        return alerts

    def progress_for(self, asset: str) -> list[Link]:
        """Progress markers for the asset's contagion targets, when its decided-up-to time has moved
        to a new minute: a target decides its own cascades only as far as its sources have."""
        targets = [t for t in self.cfg.contagion_targets.get(asset, []) if t != asset]
        st = self.assets.get(asset)
        if not targets or st is None or st.unexplained_to < 0:
            return []
        decided = int(st.unexplained_to) - int(st.unexplained_to) % 60_000
        if decided <= st.progress_sent:
            return []
        st.progress_sent = decided
        return [Link(asset=t, source_alert_id="progress", source_asset=asset, source_kind="progress", source_ts=decided)
                for t in targets]

    def links_for(self, alert: Alert) -> list[Link]:
        """Contagion links a first cascade decision opens on the correlated assets."""
        if alert.stage != "cascade" or alert.revision or alert.kind == CONTAGION:
            return []
        long_usd = float((alert.cascade or {}).get("long_notional_usd", 0.0))
        return [Link(asset=target, source_alert_id=alert.alert_id, source_asset=alert.asset, source_kind=alert.kind,
                     source_ts=alert.ts, source_long_usd=long_usd)
                for target in self.cfg.contagion_targets.get(alert.asset, []) if target != alert.asset]

    @staticmethod
    def _is_duplicate(st: AssetState, event: Event) -> bool:
        if isinstance(event, TradeFlow):
            market = _market(event)
            i = bisect.bisect_left(st.bars, (event.ts, market))
            return i < len(st.bars) and st.bars[i][0] == event.ts and st.bars[i][1] == market
        if isinstance(event, Liquidation):
            i = bisect.bisect_left(st.liqs, (event.ts, event.event_id))
            return i < len(st.liqs) and st.liqs[i][0] == event.ts and st.liqs[i][1] == event.event_id
        key = event.event_id + (":retracted" if event.retracted else "")
        if key in st.seen:
            return True
        st.seen[key] = event.ts
        return False

    def flush(self) -> list[Alert]:
        """End of input: every open episode and watch is decided with what was seen."""
        alerts: list[Alert] = []
        for st in self.assets.values():
            self._progress(st, math.inf, alerts)
            end = max(st.frontier.values(), default=None)
            for ep in list(st.episodes.values()):
                self._expire(st, ep, max(end if end is not None else ep.dep_ts, ep.dep_ts), alerts)
            for ep in list(st.linked.values()):
                self._expire(st, ep, ep.sell_deadline, alerts)
        return alerts

    def _upstream_gate(self, st: AssetState, now_ms: int | None) -> float:
        """How far the asset's contagion sources have decided. Like a feed, a source holds the
        target back until it is idle for link_idle_timeout_ms; one not heard from yet holds it
        back that long from when this state began."""
        sources = self._sources.get(st.asset)
        if not sources:
            return math.inf
        clock = now_ms if now_ms is not None else max(st.frontier.values(), default=0)
        gate = math.inf
        for src in sources:
            ts, seen_at = st.upstream.get(src, (-math.inf, None))
            if clock - (seen_at if seen_at is not None else st.born) < self.cfg.link_idle_timeout_ms:
                gate = min(gate, ts)
        return gate

    def _progress(self, st: AssetState, watermark: float, alerts: list[Alert], gate: float = math.inf) -> None:
        """Apply what the watermark has passed to each episode, in event-time order.

        Stages are decided only on data no later event can precede, so the same events give the
        same alerts (and the same alert times) in any arrival order within the lateness bound.
        """
        while st.pending and st.pending[0][0] <= watermark:
            self._open(st, st.pending.pop(0)[2], alerts)
        for ep in list(st.episodes.values()):
            if ep.stage == "watch":
                lo = bisect.bisect_right(st.bars, (ep.fed_to, "\uffff"))
                hi = bisect.bisect_right(st.bars, (watermark, "\uffff")) if watermark != math.inf else len(st.bars)
                for bar in st.bars[lo:hi]:
                    self._bar_into_episode(st, ep, bar, alerts)
                    if ep.stage != "watch":
                        break
                if st.bars[lo:hi]:
                    ep.fed_to = st.bars[hi - 1][0]
            if ep.stage == "sell":
                self._scan_cascade(st, ep, alerts, upto=watermark)
            if ep.alert_id not in st.episodes:
                continue
            deadline = ep.sell_deadline if ep.stage == "watch" else ep.sell["ts"] + self.cfg.cascade_max_delay_ms
            if watermark != math.inf and watermark > deadline:
                self._expire(st, ep, deadline, alerts)
        # A whale deposit may still arrive late (chain lateness) and explain the cascade.
        # ...and a contagion source may still link it: no further than the sources have decided.
        judged = min(watermark - self.cfg.unexplained_wait_ms, gate)
        self._decide_unexplained(st, judged, alerts)
        for ep in list(st.linked.values()):
            if judged != -math.inf and judged > ep.sell_deadline and watermark != math.inf:
                self._expire(st, ep, ep.sell_deadline, alerts)

    # -- watermark --------------------------------------------------------------------------
    def _frontier(self, st: AssetState, now_ms: int | None) -> int | None:
        """Min of the active exchange feeds' max event times: nothing much older is still coming.

        Chain transfers are too sparse to hold time back; they are accepted up to chain_lateness_ms
        behind this frontier instead, and the buffers keep that much exchange data for them.
        """
        seen = [st.frontier[src] for src in (LIQ, FLOW) if src in st.frontier]
        if not seen:
            return None
        clock = now_ms if now_ms is not None else max(seen)
        active = []
        for src in (LIQ, FLOW):
            if clock - st.arrival.get(src, st.born) < self.cfg.idle_timeout_ms:
                if src not in st.frontier:
                    return None  # an expected feed has not spoken yet (e.g. a worker catching up): hold time
                active.append(st.frontier[src])
        return min(active) if active else max(seen)

    def _advance(self, st: AssetState, now_ms: int | None, alerts: list[Alert]) -> None:
        front = self._frontier(st, now_ms)
        if front is None:
            return
        watermark = front - self.cfg.exchange_lateness_ms
        self._progress(st, watermark, alerts, self._upstream_gate(st, now_ms))
        keep_from = front - self.retention_ms
        if st.unexplained_from is not None:  # liquidations still to be judged keep their window
            keep_from = min(keep_from, st.unexplained_from - self.cfg.cascade_window_ms)
        if st.bars and st.bars[0][0] < keep_from:
            del st.bars[: bisect.bisect_left(st.bars, (keep_from,))]
        if st.liqs and st.liqs[0][0] < keep_from:
            del st.liqs[: bisect.bisect_left(st.liqs, (keep_from,))]
        if len(st.seen) > 64 and min(st.seen.values()) < keep_from:
            st.seen = {k: t for k, t in st.seen.items() if t >= keep_from}
        history_from = keep_from - self.cfg.unexplained_wait_ms - self.cfg.market_lookback_ms - 60_000
        st.market.prune(history_from)
        st.longs.prune(history_from)
        for aid, ep in list(st.done.items()):
            # Once its evidence has left the buffers nothing can amend it, except a contagion link
            # re-classifying a liquidation cascade (kept for the contagion window).
            horizon = self.cfg.contagion_window_ms if ep.kind == UNEXPLAINED else self.cfg.cascade_window_ms
            if ep.closed_at < keep_from - horizon:
                del st.done[aid]
        horizon = front - self.cfg.cooldown_ms
        for aid, (closed_ts, _) in list(st.closed.items()):
            if closed_ts < horizon:
                del st.closed[aid]
        if st.covered and st.covered[0][1] < horizon:
            st.covered = [c for c in st.covered if c[1] >= horizon]

    # -- stages -----------------------------------------------------------------------------
    def _on_transfer(self, st: AssetState, t: WhaleTransfer, alerts: list[Alert]) -> None:
        if t.retracted:
            self._retract(st, t, alerts)
            return
        if (t.direction != "exchange_inflow" or st.asset not in self.cfg.assets
                or t.usd_value < self.cfg.deposit_threshold(st.asset)):
            return
        dep = {"event_id": t.event_id, "usd_value": t.usd_value, "to_entity": t.to_entity, "amount": t.amount,
               "chain": t.chain, "tx_hash": t.tx_hash, "ts": t.block_time, "deposit_count": 1,
               "total_usd": t.usd_value}
        # Decided once the watermark passes the block time, when the market before it is all known.
        bisect.insort(st.pending, (t.block_time, t.event_id, dep), key=lambda p: (p[0], p[1]))

    def _open(self, st: AssetState, dep: dict, alerts: list[Alert]) -> None:
        ts, cfg = dep["ts"], self.cfg
        volume = st.market.hourly_volume(dep["to_entity"], ts, cfg.market_lookback_ms)
        if volume:
            dep["venue_volume_1h_usd"] = round(volume, 2)
            dep["volume_share"] = round(dep["usd_value"] / volume, 4)
            if dep["usd_value"] < cfg.deposit_min_volume_share * volume:
                return  # ordinary flow for a venue this busy
        host = self._episode_covering(st, ts)
        if host is not None:
            host.deposit = {**host.deposit, "deposit_count": host.deposit["deposit_count"] + 1,
                            "total_usd": host.deposit["total_usd"] + dep["usd_value"]}
            return
        if any(closed_ts >= ts - cfg.cooldown_ms and stage == "cascade" for closed_ts, stage in st.closed.values()):
            return  # after-match skip: the cascade this deposit would feed has already been reported
        ep = Episode(alert_id=alert_id_for(st.asset, dep["event_id"]), dep_ts=ts, sell_deadline=ts + cfg.sell_window_ms,
                     deposit=dep)
        if ep.alert_id in st.closed:
            return
        sigma = st.market.volatility(ts, cfg.market_lookback_ms)
        need = cfg.sell_min_drop_pct
        if sigma is not None:
            dep["volatility_1m_pct"] = round(sigma * 100, 4)
            need = max(need, cfg.sell_drop_sigmas * sigma * math.sqrt(cfg.sell_window_ms / 60_000) * 100)
        ep.need_drop_pct = round(need, 4)
        ep.fed_to = ts - REF_LOOKBACK_MS - 1
        st.episodes[ep.alert_id] = ep
        alerts.append(self._alert(st, ep, "watch", ts))

    def _episode_covering(self, st: AssetState, ts: int) -> Episode | None:
        for ep in st.episodes.values():
            # An earlier deposit arriving late (chain lateness) joins too: one episode, one alert.
            if ep.dep_ts - self.cfg.chain_lateness_ms <= ts <= ep.sell_deadline or (ep.stage != "watch" and ep.dep_ts <= ts):
                return ep
        return None

    def _retract(self, st: AssetState, t: WhaleTransfer, alerts: list[Alert]) -> None:
        before = len(st.pending)
        st.pending = [p for p in st.pending if p[1] != t.event_id]
        if len(st.pending) != before:
            return  # never published
        aid = alert_id_for(st.asset, t.event_id)
        ep = st.episodes.get(aid)
        if ep is not None and ep.stage == "watch":
            del st.episodes[aid]
            st.closed[aid] = (t.block_time, "watch")
            alerts.append(self._alert(st, ep, "expired", t.block_time, retracted=True))

    def _on_bar(self, st: AssetState, e: TradeFlow) -> None:
        bar = (e.ts, _market(e), e.ts + e.interval_ms, e.buy_volume_usd, e.sell_volume_usd, e.open, e.low, e.close)
        bisect.insort(st.bars, bar)
        st.market.add(bar[1], e.ts, e.buy_volume_usd + e.sell_volume_usd, e.close)

    def _bar_into_episode(self, st: AssetState, ep: Episode, bar: tuple, alerts: list[Alert]) -> None:
        ts, venue, end, buy, sell, open_, low, close = bar
        if ts < ep.dep_ts:
            if ts >= ep.dep_ts - REF_LOOKBACK_MS and ts > ep.ref.get(venue, (-1, 0))[0]:
                ep.ref[venue] = (ts, close)
            return
        if ep.stage != "watch" or ts >= ep.sell_deadline:
            return
        ep.buy_usd += buy
        ep.sell_usd += sell
        ep.low[venue] = min(low, ep.low.get(venue, low))
        if venue not in ep.ref:
            ep.ref[venue] = (ts, open_)
        net = ep.sell_usd - ep.buy_usd
        need = max(self.cfg.sell_min_net_usd, self.cfg.sell_min_deposit_fraction * ep.deposit["usd_value"])
        drop, venue_at, ref_px, low_px = self._drop(ep)
        if net >= need and drop >= ep.need_drop_pct:
            ep.stage = "sell"
            ep.sell = {"ts": end, "net_sell_usd": round(net, 2), "sell_usd": round(ep.sell_usd, 2),
                       "buy_usd": round(ep.buy_usd, 2), "drop_pct": round(drop, 4), "drop_needed_pct": ep.need_drop_pct,
                       "venue": venue_at, "price_ref": ref_px, "price_low": low_px,
                       "minutes_after_deposit": round((end - ep.dep_ts) / 60_000, 2)}
            ep.evidence = {"sampled_venues": [], "gapped_markets": st.market.gaps(ep.dep_ts, end)}
            alerts.append(self._alert(st, ep, "sell", end))

    @staticmethod
    def _drop(ep: Episode) -> tuple[float, str | None, float | None, float | None]:
        best = (0.0, None, None, None)
        for venue, low in ep.low.items():
            ref = ep.ref[venue][1]
            drop = (ref - low) / ref * 100.0
            if drop > best[0]:
                best = (drop, venue, ref, low)
        return best

    def _on_liquidation(self, st: AssetState, e: Liquidation) -> None:
        liq = (e.ts, e.event_id, e.side, e.notional_usd, e.venue, e.completeness)
        bisect.insort(st.liqs, liq)
        if e.side == "long":
            st.longs.add(e.ts, e.notional_usd)
            if st.unexplained_from is None or e.ts < st.unexplained_from:
                st.unexplained_from = e.ts  # decided once the watermark has passed (see _decide_unexplained)

    # -- cascade windows --------------------------------------------------------------------
    def _window(self, st: AssetState, end_index: int) -> dict:
        """Totals of the cascade window ending at liquidation `end_index` of the asset's buffer."""
        liqs, w = st.liqs, self.cfg.cascade_window_ms
        end_ts = liqs[end_index][0]
        mid = end_ts - w / 2
        lo = bisect.bisect_right(liqs, (end_ts - w, "\uffff"))
        long_usd = short_usd = early = 0.0
        venues, sampled = set(), set()
        for ts, _, side, notional, venue, completeness in liqs[lo: end_index + 1]:
            if completeness == "sampled":
                sampled.add(venue)
            if side == "long":
                long_usd += notional
                venues.add(venue)
                if ts <= mid:
                    early += notional
            else:
                short_usd += notional
        total = long_usd + short_usd
        late_half = long_usd - early
        return {"ts": end_ts, "window_end": end_ts, "window_ms": w, "long_notional_usd": round(long_usd, 2),
                "short_notional_usd": round(short_usd, 2), "long_share": round(long_usd / total, 4) if total else 0.0,
                "venues": sorted(venues), "liquidation_count": end_index + 1 - lo,
                "acceleration": round(late_half / early, 3) if early else None,
                "completeness": "sampled" if sampled else "full", "sampled_venues": sorted(sampled)}

    def _is_cascade(self, st: AssetState, window: dict, factor: float = 1.0) -> bool:
        cfg = self.cfg
        if not (window["long_notional_usd"] >= cfg.cascade_min_long_usd * factor
                and window["long_share"] >= cfg.cascade_min_long_share
                and len(window["venues"]) >= cfg.cascade_min_venues
                and (window["acceleration"] is None or window["acceleration"] >= cfg.cascade_min_acceleration)):
            return False
        # Computed last (and only for windows that pass the rest): it sums an hour of history.
        base = st.longs.per_window(window["window_end"] - window["window_ms"], cfg.market_lookback_ms, window["window_ms"])
        window["baseline_long_usd"] = round(base, 2)
        return window["long_notional_usd"] >= cfg.cascade_baseline_multiple * base

    def _evidence(self, st: AssetState, window: dict, start: int | None = None) -> dict:
        begin = window["window_end"] - window["window_ms"] if start is None else start
        return {"sampled_venues": window["sampled_venues"], "gapped_markets": st.market.gaps(begin, window["ts"])}

    def _decide_unexplained(self, st: AssetState, watermark: float, alerts: list[Alert]) -> None:
        """A long-liquidation cascade with no whale episode open: its own alert kind, or the
        cascade of a contagion watch when one covers that moment.

        Decided only for window ends the watermark has passed, so that every liquidation that could
        fall in the window has arrived: the first qualifying window is then the same in any order.
        A window older than what was already judged is only seen again when a late liquidation
        entered it: an alert from it is an amendment.
        """
        start = st.unexplained_from
        if start is None or start > watermark:
            if math.inf != watermark > st.unexplained_to:
                st.unexplained_to = watermark
            return
        liqs = st.liqs
        hi = bisect.bisect_right(liqs, (watermark, "\uffff")) if watermark != math.inf else len(liqs)
        for i in range(bisect.bisect_left(liqs, (start,)), hi):
            if liqs[i][2] != "long":
                continue
            ts = liqs[i][0]
            if self._whale_covers(st, ts) or any(
                    (ts - self.cfg.cooldown_ms <= closed_ts <= ts and stage in ("cascade", UNEXPLAINED))
                    or (stage == UNEXPLAINED and ts <= closed_ts <= ts + self.cfg.cooldown_ms)
                    for closed_ts, stage in st.closed.values()):
                continue  # a whale episode, or another cascade's cooldown, covers this moment
            link = self._link_covering(st, ts)
            window = self._window(st, i)
            if not self._is_cascade(st, window, self.cfg.contagion_threshold_factor if link else 1.0):
                continue
            amended = ts <= st.unexplained_to
            if link is not None:
                ep = link
                del st.linked[ep.alert_id]
            else:
                ep = Episode(alert_id=alert_id_for(st.asset, f"liquidation_cascade:{ts}"), dep_ts=ts, sell_deadline=ts,
                             deposit=None, kind=UNEXPLAINED)
            ep.stage, ep.cascade, ep.evidence = "cascade", window, self._evidence(st, window)
            # Recorded apart from whale cascades: it must not stop a whale deposit opening an episode.
            st.closed[ep.alert_id] = (ts, UNEXPLAINED)
            self._publish(st, ep, "cascade", ts, alerts, amended=amended)
            if link is None:
                early = [e for e in st.linked.values() if ts < e.dep_ts <= ts + self.cfg.contagion_lookback_ms]
                if early:
                    self._reclassify(st, ep, min(early, key=lambda e: e.dep_ts).linked_to, alerts)
            break
        st.unexplained_from = liqs[hi][0] if hi < len(liqs) else None
        if math.inf != watermark > st.unexplained_to:
            st.unexplained_to = watermark

    @staticmethod
    def _link_covering(st: AssetState, ts: int) -> Episode | None:
        """The contagion watch open at `ts` (its source cascade at or before `ts`)."""
        for ep in st.linked.values():
            if ep.dep_ts <= ts <= ep.sell_deadline:
                return ep
        return None

    def _reclassify(self, st: AssetState, done: Episode, linked_to: dict, alerts: list[Alert]) -> None:
        """A liquidation cascade shortly BEFORE a linked source's cascade was linked after all: the
        amended alert says so. Same result whether the link or the decision came first."""
        done.kind, done.linked_to = CONTAGION, linked_to
        self._publish(st, done, "cascade", done.cascade["ts"], alerts, amended=True)

    @staticmethod
    def _whale_covers(st: AssetState, ts: int) -> bool:
        """Was a whale episode open at event time `ts` (its own cascade test applies there)?"""
        return (any(ep.dep_ts <= ts for ep in st.episodes.values())
                or any(dep <= ts <= end for dep, end in st.covered))

    def _scan_cascade(self, st: AssetState, ep: Episode, alerts: list[Alert], upto: float) -> None:
        """Test windows ending at liquidations up to `upto`, from where the last scan stopped."""
        liqs, w, sell_ts = st.liqs, self.cfg.cascade_window_ms, ep.sell["ts"]
        limit = sell_ts + self.cfg.cascade_max_delay_ms
        first = max(ep.scanned_to + 1, sell_ts - w, ep.dep_ts)
        end = min(upto, limit)
        hi = bisect.bisect_right(liqs, (end, "\uffff")) if end != math.inf else len(liqs)
        i = self._first_cascade(st, bisect.bisect_left(liqs, (first,)), hi)
        if i is not None:
            self._whale_cascade(st, ep, self._window(st, i), alerts)
            return
        if hi:
            ep.scanned_to = max(ep.scanned_to, liqs[hi - 1][0])

    def _first_cascade(self, st: AssetState, lo: int, hi: int) -> int | None:
        for i in range(lo, hi):
            if self._is_cascade(st, self._window(st, i)):
                return i
        return None

    def _whale_cascade(self, st: AssetState, ep: Episode, window: dict, alerts: list[Alert], amended: bool = False):
        self._is_cascade(st, window)  # fills the baseline figure
        sell_ts = ep.sell["ts"]
        at = max(window["ts"], sell_ts)
        ep.stage = "cascade"
        ep.cascade = {**window, "ts": at, "minutes_after_sell": round((at - sell_ts) / 60_000, 2)}
        ep.evidence = self._evidence(st, window)
        st.episodes.pop(ep.alert_id, None)
        st.closed[ep.alert_id] = (at, "cascade")
        if not amended:
            st.covered.append((ep.dep_ts, at))
        self._publish(st, ep, "cascade", at, alerts, amended=amended)

    def _expire(self, st: AssetState, ep: Episode, at: int, alerts: list[Alert]) -> None:
        if ep.kind == CONTAGION:
            st.linked.pop(ep.alert_id, None)
        else:
            st.episodes.pop(ep.alert_id, None)
            st.closed[ep.alert_id] = (at, ep.stage)
            st.covered.append((ep.dep_ts, at))
        self._publish(st, ep, "expired", at, alerts)

    # -- contagion --------------------------------------------------------------------------
    def _on_link(self, st: AssetState, link: Link, now_ms: int | None) -> list[Alert]:
        if link.source_kind == "progress":
            clock = now_ms if now_ms is not None else max(st.frontier.values(), default=link.source_ts)
            prev = st.upstream.get(link.source_asset)
            st.upstream[link.source_asset] = [max(link.source_ts, prev[0] if prev else -1), clock]
            alerts: list[Alert] = []
            self._advance(st, now_ms, alerts)
            return alerts
        if link.event_id in st.seen:
            st.duplicates += 1
            return []
        st.seen[link.event_id] = link.source_ts
        aid = alert_id_for(st.asset, f"contagion:{link.source_alert_id}")
        ep = Episode(alert_id=aid, dep_ts=link.source_ts, sell_deadline=link.source_ts + self.cfg.contagion_window_ms,
                     deposit=None, kind=CONTAGION,
                     linked_to={"alert_id": link.source_alert_id, "asset": link.source_asset, "kind": link.source_kind,
                                "ts": link.source_ts, "long_notional_usd": link.source_long_usd})
        st.linked[aid] = ep
        alerts = [self._alert(st, ep, "watch", link.source_ts)]
        for done in list(st.done.values()):
            if done.kind == UNEXPLAINED and done.published == "cascade" and \
                    link.source_ts - self.cfg.contagion_lookback_ms <= done.cascade["ts"] < link.source_ts:
                self._reclassify(st, done, ep.linked_to, alerts)
        return alerts

    # -- amendments -------------------------------------------------------------------------
    def _amend(self, st: AssetState, ts: int, alerts: list[Alert]) -> None:
        """A late liquidation at `ts`: re-decide the published cascades and expiries it touches."""
        w = self.cfg.cascade_window_ms
        liqs = st.liqs
        for ep in list(st.done.values()):
            if ep.published == "cascade":
                end = ep.cascade["window_end"]
                if not end - w < ts <= end:
                    continue
                window = self._window(st, bisect.bisect_right(liqs, (end, "\uffff")) - 1)
                if window["long_notional_usd"] == ep.cascade["long_notional_usd"] and \
                        window["short_notional_usd"] == ep.cascade["short_notional_usd"]:
                    continue
                self._is_cascade(st, window)
                ep.cascade = {**ep.cascade, **{k: v for k, v in window.items() if k != "ts"}}
                ep.evidence = self._evidence(st, window)
                self._publish(st, ep, "cascade", ep.cascade["ts"], alerts, amended=True)
            elif ep.kind == WHALE and ep.published == "expired" and ep.stage == "sell":
                sell_ts = ep.sell["ts"]
                limit = sell_ts + self.cfg.cascade_max_delay_ms
                if not sell_ts - w < ts <= limit:
                    continue
                lo = bisect.bisect_left(liqs, (max(ts, sell_ts - w, ep.dep_ts),))
                hi = bisect.bisect_right(liqs, (min(ts + w, limit), "\uffff"))
                i = self._first_cascade(st, lo, hi)
                if i is not None:
                    self._whale_cascade(st, ep, self._window(st, i), alerts, amended=True)

    # -- output -----------------------------------------------------------------------------
    def _publish(self, st: AssetState, ep: Episode, stage: str, ts: int, alerts: list[Alert],
                 amended: bool = False) -> None:
        """A decision: the alert, and the episode kept for amendments while its evidence is buffered."""
        if amended:
            ep.revision += 1
        ep.published, ep.closed_at = stage, ts
        alerts.append(self._alert(st, ep, stage, ts, amended=amended))
        st.done[ep.alert_id] = ep

    def _alert(self, st: AssetState, ep: Episode, stage: str, ts: int, **extra) -> Alert:
        etf = st.etf.context(ts)
        level = {"watch": 0, "sell": 1, "cascade": 2, "expired": 0}[stage]
        if stage == "cascade" and ep.cascade["long_notional_usd"] >= self.cfg.critical_long_usd:
            level = 3
        if stage != "expired":
            level = self._etf_adjusted(level, etf)
        return Alert(alert_id=ep.alert_id, kind=ep.kind, asset=st.asset, stage=stage, reached=ep.stage, ts=ts,
                     deposit=ep.deposit, sell=ep.sell, cascade=ep.cascade, etf_context=etf,
                     severity=_SEVERITY[max(0, min(level, 3))], revision=ep.revision, evidence=ep.evidence,
                     linked_to=ep.linked_to, **extra)

    def _etf_adjusted(self, level: int, etf: dict | None) -> int:
        """ETF flows raise or lower severity by one level; they never trigger."""
        if etf is not None:
            if (etf["outflow_streak_days"] >= self.cfg.etf_outflow_streak_days
                    or etf["sum_5d_usd"] <= self.cfg.etf_sum5_raise_usd):
                level += 1
            elif etf["sum_5d_usd"] >= self.cfg.etf_sum5_lower_usd:
                level -= 1
        return max(0, min(level, 3))
