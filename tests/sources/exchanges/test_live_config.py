"""A live feed's settings: which venues have a connector, symbol spelling and checks, backoff."""

import random

import pytest

from pipeline.sources.exchanges.live_config import (
    LIVE_VENUES,
    LiveConfig,
    backoff_delays,
    normalize_symbols,
)
from pipeline.sources.exchanges.spec import FeedError, SubscribeError


def test_settings_are_checked_when_made():
    assert "bybit" in LIVE_VENUES and "kraken" not in LIVE_VENUES
    with pytest.raises(FeedError, match="no live connector for venue 'kraken'"):
        LiveConfig(venue="kraken", symbols=["PF_XBTUSD"])
    with pytest.raises(FeedError, match="at least one symbol"):
        LiveConfig(venue="bybit", symbols=[])
    with pytest.raises(FeedError, match="backoff"):
        LiveConfig(venue="bybit", symbols=["BTCUSDT"], backoff_base_s=5.0, backoff_max_s=1.0)


def test_symbols_are_spelled_as_the_venue_does_once_each():
    assert normalize_symbols("bybit", ["btcusdt,ETHUSDT", " BTCUSDT ", ""]) == ["BTCUSDT", "ETHUSDT"]
    assert normalize_symbols("hyperliquid", ["BTC", "kPEPE"]) == ["BTC", "kPEPE"]  # coins as given


def test_a_symbol_the_venue_parser_rejects_is_refused_with_the_reason():
    with pytest.raises(SubscribeError, match="binance-usdm: bad symbol 'BTCUSD'.*COIN-M"):
        normalize_symbols("binance-usdm", ["BTCUSD"])


def test_backoff_doubles_to_its_cap_with_jitter():
    delays = backoff_delays(1.0, 8.0, random.Random(1))
    got = [next(delays) for _ in range(8)]
    caps = [1, 2, 4, 8, 8, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(got, caps))
    assert len(set(got)) == len(got)  # jittered
