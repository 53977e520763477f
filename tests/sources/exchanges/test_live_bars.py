"""The live feed's bars: closed on the venue's own time while it lags, late trades counted, a trade stamped far
ahead refused."""

from __future__ import annotations

import pytest

from pipeline.sources.exchanges.base import Trade
from pipeline.sources.exchanges.health import FeedStats
from pipeline.sources.exchanges.live_bars import VENUE_IDLE_MS, LiveBars, TradeAhead

NOW = 1_764_547_200_000


def trade(ts: int, usd: float = 1_000.0) -> Trade:
    return Trade("bybit", "BTCUSDT", "BTC", ts, 100_000.0, usd / 100_000.0, usd, "sell", None)


def test_a_lagging_venue_holds_its_bars_until_its_own_time_passes_them():
    bars = LiveBars(FeedStats(), grace_ms=1_000)
    assert bars.add(trade(NOW - 5_000), NOW) == []  # the venue is 5 s behind: the bar is open
    assert bars.flush_due(NOW) == []  # on the wall clock it would be done, and its next trades late
    assert bars.add(trade(NOW - 4_900), NOW + 100) == []  # a trade of the same second still counts
    [bar] = bars.add(trade(NOW - 3_000), NOW + 2_000)  # the venue's time moved on: the bar is done
    assert bar["ts"] == NOW - 5_000 and bar["trade_count"] == 2 and bars.stats.late_trades == 0
    assert bars.add(trade(NOW - 4_800), NOW + 2_100) == [] and bars.stats.late_trades == 1  # its bar went out
    # Quiet since: the wall clock closes the last bar.
    [last] = bars.flush_due(NOW + 2_100 + VENUE_IDLE_MS)
    assert last["ts"] == NOW - 3_000 and bars.stats.bars == 2


def test_a_trade_stamped_far_ahead_is_refused_and_blocks_nothing():
    bars = LiveBars(FeedStats(), grace_ms=1_000)
    with pytest.raises(TradeAhead, match="s ahead of its receipt"):
        bars.add(trade(NOW + 3_600_000), NOW)
    assert bars.add(trade(NOW - 2_000), NOW) == [] and bars.add(trade(NOW - 1_000), NOW)  # the first bar is out
    assert bars.stats.trades == 2 and bars.stats.late_trades == 0


def test_a_quiet_symbol_of_a_prompt_venue_closes_on_the_wall_clock():
    """Trades stamped just before their receipt: a bar goes out once the grace has passed, not at the next trade."""
    bars = LiveBars(FeedStats(), grace_ms=2_000)
    assert bars.add(trade(NOW + 100), NOW + 150) == []
    assert bars.flush_due(NOW + 2_900) == []
    [bar] = bars.flush_due(NOW + 3_100)
    assert bar["ts"] == NOW
