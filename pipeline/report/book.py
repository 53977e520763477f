"""Episode reports without a store: the per-minute market data a report shows, kept in memory from
the events a backtest replays, and the episodes of its alerts. Gives what `data.load_episode`
reads from the store's rollups for the same events (price: the last close of each venue's minute;
net taker flow; long and short liquidations per minute), so a backtest writes the same reports
`cascadewatch report` would after loading its events.

Memory: a few numbers per asset, venue and minute (a month of 20 markets is under a million), not
one per event. Events must come in event-time order (the backtest's sorted stream): duplicates,
which share their time, are dropped by remembering only the current millisecond's ids.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from pipeline.report.data import Episode, Stage, new_episode

MINUTE_MS = 60_000
REPORT_STAGES = ("cascades", "all", "none")


def _utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)


class MinuteBook:
    """Feed every replayed event to `add`; read episodes with `episode(alert_id, stages)`."""

    def __init__(self) -> None:
        # asset -> venue -> minute -> (ts of the last bar, its close)
        self._close: dict[str, dict[str, dict[int, tuple[int, float]]]] = defaultdict(lambda: defaultdict(dict))
        self._flow: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        self._liq: dict[str, dict[int, list[float]]] = defaultdict(dict)
        self._now = -1
        self._seen: set = set()

    def add(self, ev) -> None:
        kind = ev.type
        if kind != "trade_flow" and kind != "liquidation":
            return
        if ev.ts != self._now:
            self._now, self._seen = ev.ts, set()
        key = ev.event_id if kind == "liquidation" else (ev.venue, ev.symbol, ev.interval_ms)
        if key in self._seen:
            return  # a redelivered event: the store keeps it once too
        self._seen.add(key)
        minute = ev.ts - ev.ts % MINUTE_MS
        if kind == "trade_flow":
            closes = self._close[ev.asset][ev.venue]
            held = closes.get(minute)
            if held is None or ev.ts >= held[0]:
                closes[minute] = (ev.ts, ev.close)
            self._flow[ev.asset][minute] += ev.buy_volume_usd - ev.sell_volume_usd
        else:
            sums = self._liq[ev.asset].setdefault(minute, [0.0, 0.0])
            sums[ev.side != "long"] += ev.notional_usd

    def episode(self, alert_id: str, stages: list[Stage]) -> Episode:
        ep = new_episode(alert_id, stages)
        # as load_episode's query: minutes from the span's start to its end, both in whole seconds
        lo = int(ep.start.timestamp()) * 1000
        hi = int(ep.end.timestamp()) * 1000
        for venue, closes in sorted(self._close.get(ep.asset, {}).items()):
            points = [(_utc(m), c) for m, (_, c) in sorted(closes.items()) if lo <= m <= hi]
            if points:
                ep.price[venue] = points
        ep.net_flow = [(_utc(m), v) for m, v in sorted(self._flow.get(ep.asset, {}).items()) if lo <= m <= hi]
        ep.liquidations = [(_utc(m), lg, sh) for m, (lg, sh) in sorted(self._liq.get(ep.asset, {}).items())
                           if lo <= m <= hi]
        return ep


def episode_stages(alerts: list[dict]) -> dict[str, list[Stage]]:
    """alert_id -> its stages as the alerts table keeps them (the last published revision of each
    stage), in time order, for alerts given as published (dicts)."""
    latest: dict[tuple[str, str], dict] = {}
    for a in alerts:
        latest[(a["alert_id"], a["stage"])] = a
    out: dict[str, list[Stage]] = defaultdict(list)
    for (alert_id, stage), a in latest.items():
        out[alert_id].append(Stage(stage, _utc(a["ts"]), a["severity"], int(a.get("revision") or 0),
                                   bool(a.get("amended")), a))
    for stages in out.values():
        stages.sort(key=lambda s: (s.ts, s.stage))
    return dict(out)


def reported(stages_by_alert: dict[str, list[Stage]], which: str) -> list[str]:
    """The alert ids to write reports for: "cascades" (episodes that reached a cascade), "all", "none"."""
    if which not in REPORT_STAGES:
        raise ValueError(f"reports: {which!r}; one of {', '.join(REPORT_STAGES)}")
    if which == "none":
        return []
    return [a for a, stages in stages_by_alert.items()
            if which == "all" or any(s.stage == "cascade" for s in stages)]
