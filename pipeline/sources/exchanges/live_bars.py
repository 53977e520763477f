"""The live feed's trade_flow bars: trades in, finished bars out as events, closed on the venue's own time.

A bar goes out when a trade of a later interval arrives for its symbol, or once the venue's time is
`grace_ms` past the bar's end (quiet symbols). The venue's time is the wall clock less the venue's lag:
how far behind its receipt its latest trade was stamped (a venue lagging in a crash, a local clock
ahead). Closed on the wall clock alone, the trades still on their way would be dropped as late. A venue
quiet for VENUE_IDLE_MS no longer holds its bars back. A trade for an interval whose bar has gone out is
counted late and dropped (a second bar with the same key would replace the first downstream); one
stamped more than FUTURE_TOLERANCE_MS ahead of its receipt is an error (it would open a bar every later
trade is late for, until the clock caught up with it).
"""

from __future__ import annotations

from .base import BarAggregator, Trade
from .health import FeedStats

FUTURE_TOLERANCE_MS = 300_000
VENUE_IDLE_MS = 10_000


class TradeAhead(ValueError):
    """A trade stamped too far ahead of its receipt."""


class LiveBars:
    def __init__(self, stats: FeedStats, grace_ms: int):
        self.stats, self.grace_ms = stats, grace_ms
        self.aggregator = BarAggregator()
        self.emitted_upto: dict[tuple[str, str], int] = {}  # last bar start sent per (venue, symbol)
        self.lag_ms = 0  # how far behind its receipt the latest trade was stamped, and when it came (wall clock)
        self.lag_seen = -VENUE_IDLE_MS

    def add(self, trade: Trade, received_ms: int) -> list[dict]:
        """The bars a trade finishes, as events; [] for a trade whose bar has gone out (counted late).
        TradeAhead for a trade stamped too far ahead."""
        if trade.ts > received_ms + FUTURE_TOLERANCE_MS:
            raise TradeAhead(f"{trade.symbol}: trade time {trade.ts} is {(trade.ts - received_ms) / 1000:.0f} s "
                             "ahead of its receipt")
        st = self.stats
        self.lag_ms, self.lag_seen = received_ms - trade.ts, received_ms
        agg = self.aggregator
        start = trade.ts - trade.ts % agg.interval_ms
        if start <= self.emitted_upto.get((trade.venue, trade.symbol), -1):
            st.late_trades += 1  # its bar has already gone out
            return []
        before = agg.late_trades
        bars = agg.add(trade)
        if agg.late_trades > before:
            st.late_trades += 1
            return []
        st.trades += 1
        st.w_trades += 1
        st.trade_notional_usd += trade.notional_usd
        return self.out(bars)

    def cutoff(self, now_ms: int) -> int:
        """Bars ending by this time are done (see the module's doc)."""
        lag = self.lag_ms if self.lag_ms > 0 and now_ms - self.lag_seen < VENUE_IDLE_MS else 0
        return now_ms - lag - self.grace_ms

    def flush_due(self, now_ms: int) -> list[dict]:
        """The bars done by `cutoff(now_ms)`, as events."""
        return self.out(self.aggregator.flush_before(self.cutoff(now_ms)))

    def flush(self) -> list[dict]:
        """Every open bar, as events (the feed is stopping)."""
        return self.out(self.aggregator.flush())

    def out(self, bars) -> list[dict]:
        events = []
        for bar in bars:
            key = (bar.venue, bar.symbol)
            self.emitted_upto[key] = max(self.emitted_upto.get(key, -1), bar.ts)
            self.stats.bars += 1
            events.append(bar.model_dump(mode="json"))
        return events
