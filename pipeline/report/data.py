"""What an episode report shows, read from the store: the alert's stages and evidence, and per
minute around it the price, net taker flow, long/short liquidations and the feeds' gaps. (book.py
builds the same from events in memory, for a backtest.)"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import orjson

MARGIN = dt.timedelta(minutes=30)


class ReportError(LookupError):
    """No such alert, or nothing to report."""


@dataclass
class Stage:
    stage: str
    ts: dt.datetime
    severity: str
    revision: int
    amended: bool
    alert: dict  # the stored alert as published (raw)


@dataclass
class Episode:
    alert_id: str
    asset: str
    kind: str
    stages: list[Stage]
    start: dt.datetime
    end: dt.datetime
    deposit: dict | None
    deposit_ts: dt.datetime | None
    price: dict[str, list[tuple[dt.datetime, float]]] = field(default_factory=dict)  # venue -> (minute, close)
    net_flow: list[tuple[dt.datetime, float]] = field(default_factory=list)  # (minute, buy - sell)
    liquidations: list[tuple[dt.datetime, float, float]] = field(default_factory=list)  # (minute, long, short)
    gaps: list[tuple[str, dt.datetime, dt.datetime]] = field(default_factory=list)  # (venue, start, end)

    @property
    def last(self) -> dict:
        return self.stages[-1].alert


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def latest_alert_id(store) -> str:
    """The alert whose last stage is the most recent, preferring cascades."""
    _, rows = store.query("SELECT alert_id FROM {db}.alerts FINAL ORDER BY stage = 'cascade' DESC, ts DESC LIMIT 1")
    if not rows:
        raise ReportError("the store holds no alerts yet (run `cascadewatch demo` or a worker first)")
    return rows[0][0]


def _ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def new_episode(alert_id: str, stages: list[Stage]) -> Episode:
    """The episode of these stages (in time order), its span with the margin, no market data yet."""
    first = stages[0].alert
    deposit = first.get("deposit") or None
    deposit_ts = dt.datetime.fromtimestamp(deposit["ts"] / 1000, dt.timezone.utc) if deposit else None
    start = min([s.ts for s in stages] + ([deposit_ts] if deposit_ts else [])) - MARGIN
    end = max(s.ts for s in stages) + MARGIN
    return Episode(alert_id=alert_id, asset=first["asset"], kind=first.get("kind", "whale_cascade"), stages=stages,
                   start=start, end=end, deposit=deposit, deposit_ts=deposit_ts)


def load_episode(store, alert_id: str) -> Episode:
    _, rows = store.query(f"SELECT stage, ts, severity, revision, amended, raw FROM {{db}}.alerts FINAL "
                          f"WHERE alert_id = {_quote(alert_id)} ORDER BY ts, stage")
    if not rows:
        raise ReportError(f"no alert {alert_id!r} in the store; `cascadewatch sql \"SELECT DISTINCT alert_id, asset, "
                          "kind FROM alerts\"` lists them")
    stages = [Stage(stage, _utc(ts), severity, int(revision), bool(amended), orjson.loads(raw))
              for stage, ts, severity, revision, amended, raw in rows]
    ep = new_episode(alert_id, stages)
    start, end = ep.start, ep.end
    where = (f"asset = {_quote(ep.asset)} AND minute >= toDateTime({_ms(start) // 1000}, 'UTC') "
             f"AND minute <= toDateTime({_ms(end) // 1000}, 'UTC')")
    _, rows = store.query(f"SELECT venue, minute, close_price FROM {{db}}.trade_flow_1m WHERE {where} ORDER BY venue, minute")
    for venue, minute, close in rows:
        ep.price.setdefault(venue, []).append((_utc(minute), float(close)))
    _, rows = store.query(f"SELECT minute, sum(buy_usd) - sum(sell_usd) FROM {{db}}.trade_flow_1m WHERE {where} "
                          "GROUP BY minute ORDER BY minute")
    ep.net_flow = [(_utc(m), float(v)) for m, v in rows]
    _, rows = store.query(f"SELECT minute, sumIf(notional_usd_sum, side = 'long'), sumIf(notional_usd_sum, side = 'short') "
                          f"FROM {{db}}.liquidations_1m WHERE {where} GROUP BY minute ORDER BY minute")
    ep.liquidations = [(_utc(m), float(lo), float(sh)) for m, lo, sh in rows]
    _, rows = store.query(
        "SELECT venue, ts - toIntervalMillisecond(gap_ms), ts FROM {db}.feed_health FINAL WHERE status = 'gap_end' "
        f"AND ts >= fromUnixTimestamp64Milli({_ms(start)}, 'UTC') "
        f"AND ts - toIntervalMillisecond(gap_ms) <= fromUnixTimestamp64Milli({_ms(end)}, 'UTC') ORDER BY 2")
    ep.gaps = [(venue, _utc(a), _utc(b)) for venue, a, b in rows]
    if not (ep.price or ep.liquidations):
        raise ReportError(f"alert {alert_id!r} is stored, but no market data around it is "
                          f"({start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC)")
    return ep
