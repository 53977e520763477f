"""Minute statistics behind the relative thresholds and the evidence of gapped feeds."""

from __future__ import annotations

import math

from pipeline.detect import DetectorConfig
from pipeline.detect.market import MINUTE, LongBook, MarketBook

T0 = 1_756_065_600_000


def test_hourly_volume_is_per_entity_and_scaled_from_the_minutes_seen():
    book = MarketBook()
    for i in range(30):  # half an hour of bars on one Binance market, none on Bybit's
        book.add("binance-usdm/BTCUSDT", T0 + i * MINUTE, 1e6, 100.0)
    book.add("bybit/BTCUSDT", T0, 5e6, 100.0)
    end = T0 + 30 * MINUTE
    cfg = DetectorConfig()
    assert book.hourly_volume(cfg.venues_of("binance"), end, 60 * MINUTE) == 60e6
    assert book.hourly_volume(cfg.venues_of("bybit"), end, 60 * MINUTE) == 5e6 * 60
    assert book.hourly_volume(cfg.venues_of("coinbase"), end, 60 * MINUTE) is None
    # The mapping is explicit: a venue is measured for an entity only where the settings say so.
    assert book.hourly_volume(("binance-coinm",), end, 60 * MINUTE) is None
    renamed = cfg.model_copy(update={"entity_venues": {"binance": ["bybit"]}})
    assert book.hourly_volume(renamed.venues_of("binance"), end, 60 * MINUTE) == 5e6 * 60


def test_sums_do_not_depend_on_arrival_order():
    a, b = MarketBook(), MarketBook()
    bars = [(T0 + i * 1000, 0.1 * (i + 1), 100.0 + i) for i in range(60)]
    for ts, usd, px in bars:
        a.add("m", ts, usd, px)
    for ts, usd, px in reversed(bars):
        b.add("m", ts, usd, px)
    assert a.rows == b.rows and a.rows["m"][0][3] == 159.0  # the close is the latest bar's


def test_volatility_of_one_minute_returns():
    book = MarketBook()
    for i in range(21):
        book.add("m", T0 + i * MINUTE, 1.0, 100.0 * (1.01 if i % 2 else 1.0))
    sigma = book.volatility(T0 + 21 * MINUTE, 60 * MINUTE)
    assert math.isclose(sigma, math.log(1.01), rel_tol=1e-9)
    assert book.volatility(T0 + 5 * MINUTE, 60 * MINUTE) is None  # too few returns to say


def test_gaps_name_markets_missing_a_whole_minute():
    book = MarketBook()
    for i in range(20):
        book.add("ok/X", T0 + i * MINUTE, 1.0, 1.0)
        if i not in (12, 13):
            book.add("gappy/X", T0 + i * MINUTE + 30_000, 1.0, 1.0)
    assert book.gaps(T0 + 10 * MINUTE, T0 + 18 * MINUTE) == ["gappy/X"]
    assert book.gaps(T0 + 14 * MINUTE, T0 + 18 * MINUTE) == []


def test_long_baseline_per_window():
    longs = LongBook()
    for i in range(60):
        longs.add(T0 + i * MINUTE, 1e6)
    assert longs.per_window(T0 + 60 * MINUTE, 60 * MINUTE, 5 * MINUTE) == 5e6
