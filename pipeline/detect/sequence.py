"""Per-asset matching of whale deposit -> taker selling -> long liquidation cascade, in event time.

Each asset keeps short buffers of recent trade-flow bars and liquidations, the open episodes
(one per qualifying deposit, later deposits join it), and per-source event-time frontiers.
Decisions depend on event times only, so the same events give the same alerts whatever the
order they arrive in within the allowed lateness; the wall clock (`now_ms`) is used only to
decide that a silent source no longer holds the watermark back.
"""

from __future__ import annotations

import bisect
import hashlib
import math

import orjson
from collections import deque
from dataclasses import dataclass, field

from pipeline.contracts.models import Alert, EtfFlow, Event, Liquidation, TradeFlow, WhaleTransfer
from pipeline.detect.config import DetectorConfig
from pipeline.detect.etf import EtfLedger

STAGES = ("watch", "sell", "cascade")
UNEXPLAINED = "liquidation_cascade"  # closed-episode marker for a cascade with no whale deposit
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
    alert_id: str
    dep_ts: int
    sell_deadline: int
    deposit: dict
    stage: str = "watch"
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
        }

    @classmethod
    def from_dict(cls, d: dict) -> "AssetState":
        # Arrival clocks are not restored: after downtime every feed gets a fresh idle timeout, so
        # the backlog of one topic cannot push time past another's.
        st = cls(asset=d["asset"], frontier=dict(d["frontier"]),
                 bars=[tuple(b) for b in d["bars"]], liqs=[tuple(x) for x in d["liqs"]], seen=dict(d["seen"]),
                 closed={k: tuple(v) for k, v in d["closed"].items()}, late=d["late"], duplicates=d["duplicates"],
                 unexplained_from=d.get("unexplained_from"), covered=[tuple(c) for c in d.get("covered", [])],
                 etf=EtfLedger.from_dict(d["etf"]))
        st.episodes = {k: Episode.from_dict(e) for k, e in d["episodes"].items()}
        return st


class CascadeDetector:
    """Feed events with `process`; it returns the alerts they cause. Call `flush` at end of input."""

    def __init__(self, config: DetectorConfig | None = None):
        self.cfg = config or DetectorConfig()
        self.assets: dict[str, AssetState] = {}
        self.late_events: deque[Event] = deque(maxlen=10_000)
        self._lateness = {CHAIN: self.cfg.chain_lateness_ms, LIQ: self.cfg.exchange_lateness_ms,
                          FLOW: self.cfg.exchange_lateness_ms}

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
        source = CHAIN if isinstance(event, WhaleTransfer) else LIQ if isinstance(event, Liquidation) else FLOW
        ts = event.ts
        if st.born is None or not st.frontier:
            st.born = now_ms if now_ms is not None else ts
        front = self._frontier(st, now_ms)
        if front is not None and ts <= front - self._lateness[source]:
            st.late += 1
            self.late_events.append(event)
            return []
        if self._is_duplicate(st, event):
            st.duplicates += 1
            return []
        if ts > st.frontier.get(source, -1):
            st.frontier[source] = ts
        st.arrival[source] = now_ms if now_ms is not None else ts

        alerts: list[Alert] = []
        if isinstance(event, TradeFlow):
            self._on_bar(st, event, alerts)
        elif isinstance(event, Liquidation):
            self._on_liquidation(st, event, alerts)
        else:
            self._on_transfer(st, event, alerts)
        self._advance(st, now_ms, alerts)
        return alerts

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
        """End of input: every open episode is decided with what was seen."""
        alerts: list[Alert] = []
        for st in self.assets.values():
            self._progress(st, math.inf, alerts)
            for ep in list(st.episodes.values()):
                self._expire(st, ep, max(st.frontier.values(), default=ep.dep_ts), alerts)
        return alerts

    def _progress(self, st: AssetState, watermark: float, alerts: list[Alert]) -> None:
        """Apply what the watermark has passed to each episode, in event-time order.

        Stages are decided only on data no later event can precede, so the same events give the
        same alerts (and the same alert times) in any arrival order within the lateness bound.
        """
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
        self._decide_unexplained(st, watermark - self.cfg.unexplained_wait_ms, alerts)

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
        self._progress(st, watermark, alerts)
        keep_from = front - self.cfg.chain_lateness_ms - REF_LOOKBACK_MS
        if st.bars and st.bars[0][0] < keep_from:
            del st.bars[: bisect.bisect_left(st.bars, (keep_from,))]
        if st.liqs and st.liqs[0][0] < keep_from:
            del st.liqs[: bisect.bisect_left(st.liqs, (keep_from,))]
        if len(st.seen) > 64 and min(st.seen.values()) < keep_from:
            st.seen = {k: t for k, t in st.seen.items() if t >= keep_from}
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
        host = self._episode_covering(st, t.block_time)
        if host is not None:
            host.deposit = {**host.deposit, "deposit_count": host.deposit["deposit_count"] + 1,
                            "total_usd": host.deposit["total_usd"] + t.usd_value}
            return
        if any(closed_ts >= t.block_time - self.cfg.cooldown_ms and stage == "cascade"
               for closed_ts, stage in st.closed.values()):
            return  # after-match skip: the cascade this deposit would feed has already been reported
        ep = Episode(alert_id=alert_id_for(st.asset, t.event_id), dep_ts=t.block_time,
                     sell_deadline=t.block_time + self.cfg.sell_window_ms, deposit=dep)
        if ep.alert_id in st.closed:
            return
        ep.fed_to = t.block_time - REF_LOOKBACK_MS - 1
        st.episodes[ep.alert_id] = ep
        alerts.append(self._alert(st, ep, "watch", t.block_time))

    def _episode_covering(self, st: AssetState, ts: int) -> Episode | None:
        for ep in st.episodes.values():
            # An earlier deposit arriving late (chain lateness) joins too: one episode, one alert.
            if ep.dep_ts - self.cfg.chain_lateness_ms <= ts <= ep.sell_deadline or (ep.stage != "watch" and ep.dep_ts <= ts):
                return ep
        return None

    def _retract(self, st: AssetState, t: WhaleTransfer, alerts: list[Alert]) -> None:
        aid = alert_id_for(st.asset, t.event_id)
        ep = st.episodes.get(aid)
        if ep is not None and ep.stage == "watch":
            del st.episodes[aid]
            st.closed[aid] = (t.block_time, "watch")
            alerts.append(self._alert(st, ep, "expired", t.block_time, retracted=True))

    def _on_bar(self, st: AssetState, e: TradeFlow, alerts: list[Alert]) -> None:
        bar = (e.ts, _market(e), e.ts + e.interval_ms, e.buy_volume_usd, e.sell_volume_usd, e.open, e.low, e.close)
        bisect.insort(st.bars, bar)

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
        if net >= need and drop >= self.cfg.sell_min_drop_pct:
            ep.stage = "sell"
            ep.sell = {"ts": end, "net_sell_usd": round(net, 2), "sell_usd": round(ep.sell_usd, 2),
                       "buy_usd": round(ep.buy_usd, 2), "drop_pct": round(drop, 4), "venue": venue_at,
                       "price_ref": ref_px, "price_low": low_px,
                       "minutes_after_deposit": round((end - ep.dep_ts) / 60_000, 2)}
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

    def _on_liquidation(self, st: AssetState, e: Liquidation, alerts: list[Alert]) -> None:
        liq = (e.ts, e.event_id, e.side, e.notional_usd, e.venue, e.completeness)
        bisect.insort(st.liqs, liq)
        if e.side == "long" and (st.unexplained_from is None or e.ts < st.unexplained_from):
            st.unexplained_from = e.ts  # decided once the watermark has passed (see _decide_unexplained)

    def _window(self, st: AssetState, end_index: int) -> dict:
        """Totals of the cascade window ending at liquidation `end_index` of the asset's buffer."""
        liqs, w = st.liqs, self.cfg.cascade_window_ms
        end_ts = liqs[end_index][0]
        lo = bisect.bisect_right(liqs, (end_ts - w, "\uffff"))
        long_usd = short_usd = 0.0
        venues, sampled = set(), False
        for _, _, side, notional, venue, completeness in liqs[lo: end_index + 1]:
            sampled |= completeness == "sampled"
            if side == "long":
                long_usd += notional
                venues.add(venue)
            else:
                short_usd += notional
        total = long_usd + short_usd
        return {"ts": end_ts, "window_ms": w, "long_notional_usd": round(long_usd, 2),
                "short_notional_usd": round(short_usd, 2), "long_share": round(long_usd / total, 4) if total else 0.0,
                "venues": sorted(venues), "liquidation_count": end_index + 1 - lo,
                "completeness": "sampled" if sampled else "full"}

    def _is_cascade(self, window: dict) -> bool:
        return (window["long_notional_usd"] >= self.cfg.cascade_min_long_usd
                and window["long_share"] >= self.cfg.cascade_min_long_share
                and len(window["venues"]) >= self.cfg.cascade_min_venues)

    def _decide_unexplained(self, st: AssetState, watermark: float, alerts: list[Alert]) -> None:
        """A long-liquidation cascade with no whale episode open: its own alert kind.

        Decided only for window ends the watermark has passed, so that every liquidation that could
        fall in the window has arrived: the first qualifying window is then the same in any order.
        """
        start = st.unexplained_from
        if start is None or start > watermark:
            return
        liqs = st.liqs
        hi = bisect.bisect_right(liqs, (watermark, "\uffff")) if watermark != math.inf else len(liqs)
        for i in range(bisect.bisect_left(liqs, (start,)), hi):
            if liqs[i][2] != "long":
                continue
            ts = liqs[i][0]
            if self._whale_covers(st, ts) or any(
                    ts - self.cfg.cooldown_ms <= closed_ts <= ts and stage in ("cascade", UNEXPLAINED)
                    for closed_ts, stage in st.closed.values()):
                continue  # a whale episode, or an earlier cascade's cooldown, covers this moment
            window = self._window(st, i)
            if not self._is_cascade(window):
                continue
            aid = alert_id_for(st.asset, f"liquidation_cascade:{ts}")
            # Recorded apart from whale cascades: it must not stop a whale deposit opening an episode.
            st.closed[aid] = (ts, UNEXPLAINED)
            etf = st.etf.context(ts)
            level = 3 if window["long_notional_usd"] >= self.cfg.critical_long_usd else 2
            alerts.append(Alert(alert_id=aid, kind="liquidation_cascade", asset=st.asset, stage="cascade",
                                reached="cascade", ts=ts, deposit=None, cascade=window, etf_context=etf,
                                severity=_SEVERITY[self._etf_adjusted(level, etf)]))
            break
        st.unexplained_from = liqs[hi][0] if hi < len(liqs) else None

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
        for i in range(bisect.bisect_left(liqs, (first,)), hi):
            window = self._window(st, i)
            if self._is_cascade(window):
                at = max(window["ts"], sell_ts)
                ep.stage = "cascade"
                ep.cascade = {**window, "ts": at, "minutes_after_sell": round((at - sell_ts) / 60_000, 2)}
                alerts.append(self._alert(st, ep, "cascade", at))
                del st.episodes[ep.alert_id]
                st.closed[ep.alert_id] = (at, "cascade")
                st.covered.append((ep.dep_ts, at))
                return
        if hi:
            ep.scanned_to = max(ep.scanned_to, liqs[hi - 1][0])

    def _expire(self, st: AssetState, ep: Episode, at: int, alerts: list[Alert]) -> None:
        st.episodes.pop(ep.alert_id, None)
        st.closed[ep.alert_id] = (at, ep.stage)
        st.covered.append((ep.dep_ts, at))
        alerts.append(self._alert(st, ep, "expired", at))

    # -- output -----------------------------------------------------------------------------
    def _alert(self, st: AssetState, ep: Episode, stage: str, ts: int, **extra) -> Alert:
        etf = st.etf.context(ts)
        level = {"watch": 0, "sell": 1, "cascade": 2, "expired": 0}[stage]
        if stage == "cascade" and ep.cascade["long_notional_usd"] >= self.cfg.critical_long_usd:
            level = 3
        if stage != "expired":
            level = self._etf_adjusted(level, etf)
        return Alert(alert_id=ep.alert_id, asset=st.asset, stage=stage, reached=ep.stage, ts=ts,
                     deposit=ep.deposit, sell=ep.sell, cascade=ep.cascade, etf_context=etf,
                     severity=_SEVERITY[max(0, min(level, 3))], **extra)

    def _etf_adjusted(self, level: int, etf: dict | None) -> int:
        """ETF flows raise or lower severity by one level; they never trigger."""
        if etf is not None:
            if (etf["outflow_streak_days"] >= self.cfg.etf_outflow_streak_days
                    or etf["sum_5d_usd"] <= self.cfg.etf_sum5_raise_usd):
                level += 1
            elif etf["sum_5d_usd"] >= self.cfg.etf_sum5_lower_usd:
                level -= 1
        return max(0, min(level, 3))
