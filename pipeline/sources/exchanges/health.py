"""`feed_health` events: the live connector's own state, on topic exchange.feed_health.

status:
- connected     a connection is open and the subscriptions were sent
- disconnected  a connection ended (detail says why; "stopped" when the feed was asked to stop)
- gap_start     data stopped flowing (unplanned disconnect). For a venue with a liquidation feed,
                the liquidations of the gap are LOST: no venue replays them.
- gap_end       data flows again; gap_ms is how long the gap lasted
- rates         periodic message rates over the last window

Every event carries the rates of the current window so far and the reconnect count, so a single
row tells how healthy the feed was. The JSON Schema is schemas/feed_health.schema.json and the
ClickHouse table schemas/clickhouse/070_feed_health.sql.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field

from pipeline.contracts.health import (  # noqa: F401 - the contract, re-exported for the connectors
    FEED_HEALTH_TOPIC,
    FEED_HEALTH_TYPE,
    STATUSES,
    FeedHealth,
    Status,
)

LIQUIDATIONS_LOST = "liquidations during the gap are lost: the venue does not replay its liquidation feed"


@dataclass
class FeedStats:
    """Counters of one feed run (totals) and of the current rate window."""

    messages: int = 0
    data_messages: int = 0  # messages that carried a liquidation, a trade or a leverage figure
    liquidations: int = 0
    trades: int = 0
    trade_notional_usd: float = 0.0
    bars: int = 0
    errors: int = 0
    late_trades: int = 0
    skipped: int = 0
    reconnects: int = 0
    connections: int = 0
    gaps: int = 0
    gap_ms_total: int = 0
    # current window
    w_start_ms: int = 0
    w_messages: int = 0
    w_liquidations: int = 0
    w_trades: int = 0
    w_errors: int = 0

    def window(self, now_ms: int) -> dict:
        span_s = max(now_ms - self.w_start_ms, 0) / 1000.0
        div = span_s if span_s > 0 else 1.0
        return {
            "messages_per_s": round(self.w_messages / div, 3),
            "liquidations_per_s": round(self.w_liquidations / div, 3),
            "trades_per_s": round(self.w_trades / div, 3),
            "errors": self.w_errors,
            "window_s": round(span_s, 3),
        }

    def reset_window(self, now_ms: int) -> None:
        self.w_start_ms = now_ms
        self.w_messages = self.w_liquidations = self.w_trades = self.w_errors = 0


@dataclass
class HealthReporter:
    """Builds feed_health event dicts with ids unique per run: ``{venue}:{run}:{seq}``."""

    venue: str
    symbols: list[str]
    stats: FeedStats
    has_liquidations: bool = True
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    _seq: itertools.count = field(default_factory=lambda: itertools.count(1))

    def event(self, status: Status, now_ms: int, detail: str = "", *, gap_ms: int = 0) -> dict:
        if status not in STATUSES:
            raise ValueError(f"status {status!r}")
        ev = {
            "type": FEED_HEALTH_TYPE,
            "schema_version": 1,
            "event_id": f"{self.venue}:{self.run_id}:{next(self._seq)}",
            "venue": self.venue,
            "status": status,
            "ts": int(now_ms),
            "detail": detail,
            "symbols": list(self.symbols),
            **self.stats.window(now_ms),
            "reconnects": self.stats.reconnects,
            "gap_ms": int(gap_ms),
        }
        return ev

    def gap_start(self, now_ms: int, reason: str) -> dict:
        detail = f"no data since the connection ended ({reason})"
        if self.has_liquidations:
            detail += f"; {LIQUIDATIONS_LOST}"
        return self.event("gap_start", now_ms, detail)

    def gap_end(self, now_ms: int, gap_ms: int) -> dict:
        detail = f"data flows again after {gap_ms} ms"
        if self.has_liquidations:
            detail += f"; liquidations between {now_ms - gap_ms} and {now_ms} ms are missing (completeness gap)"
        return self.event("gap_end", now_ms, detail, gap_ms=gap_ms)

    def rates(self, now_ms: int) -> dict:
        s = self.stats
        ev = self.event("rates", now_ms, f"totals: {s.messages} messages, {s.liquidations} liquidations, "
                                         f"{s.trades} trades, {s.bars} bars, {s.errors} errors, "
                                         f"{s.late_trades} late trades, {s.gaps} gaps ({s.gap_ms_total} ms)")
        s.reset_window(now_ms)
        return ev
