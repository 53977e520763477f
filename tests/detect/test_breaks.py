"""Breaks: a price break or open interest closing over a window lets a burst at half its threshold through."""

from __future__ import annotations

import pytest

from tests.detect.leverage_paths import path
from tests.detect.stories import MIN, NO_LINKS, T0, bars, burst, replay


@pytest.mark.parametrize("falls", [True, False])
def test_a_price_break_lets_a_burst_at_half_its_threshold_through(falls):
    """A BTC burst filling 70% of the cold floor in five minutes: with the price falling 3% over it
    (against a hundredth of a percent a minute of volatility before), a price break, it is called at
    `cascade_price_fraction` of the threshold and the alert carries the drop; with the price flat, not."""
    start, need = T0 + 90 * MIN, NO_LINKS.cold_floor("BTC")

    def price(t):
        wiggle = 100.0 * (1 + 0.0001 * ((t // MIN) % 2))
        return wiggle * (1 - 0.03 * min(1.0, max(0, t - start) / (5 * MIN))) if falls else wiggle

    evs = bars(T0, T0 + 120 * MIN, price_fn=price) + burst("BTC", start, 5, 0.7 * need / 5)
    called = [a for a in replay(evs) if a.stage == "cascade"]
    if not falls:
        assert called == []
        return
    assert len(called) == 1
    c = called[0].cascade
    assert c["threshold_scaled_by_price"] == NO_LINKS.cascade_price_fraction
    assert c["long_notional_usd"] < need <= c["threshold_usd"] / NO_LINKS.cascade_price_fraction + 1
    assert c["price_drop_pct"] >= max(NO_LINKS.cascade_price_drop_pct, c["price_drop_needed_pct"])


@pytest.mark.parametrize("oi", ["closing", "price_only", "flat"])
def test_open_interest_closing_lets_a_burst_at_half_its_threshold_through(oi):
    """The same burst at 70% of the cold floor with the price flat: called at `cascade_price_fraction` of
    the threshold when open interest in contracts fell 2% over it (positions closing), not when only
    its USD value fell with the mark price, nor when it held."""
    start, need = T0 + 90 * MIN, NO_LINKS.cold_floor("BTC")

    def done(t):
        return min(1.0, max(0, t - start) / (5 * MIN))

    fall = {"closing": lambda t: 30e9 * (1 - 0.02 * done(t)), "price_only": lambda t: 30e9 * (1 - 0.02 * done(t)),
            "flat": lambda t: 30e9}[oi]
    mark = (lambda t: 110_000.0 * (1 - 0.02 * done(t))) if oi == "price_only" else (lambda t: 110_000.0)
    evs = (bars(T0, T0 + 120 * MIN, price_fn=lambda t: 100.0) + burst("BTC", start, 5, 0.7 * need / 5)
           + path(T0, T0 + 120 * MIN, MIN, fall, mark_fn=mark))
    called = [a for a in replay(evs) if a.stage == "cascade"]
    if oi != "closing":
        assert called == []
        return
    assert len(called) == 1
    c = called[0].cascade
    assert c["threshold_scaled_by_price"] == NO_LINKS.cascade_price_fraction and "price_drop_pct" not in c
    assert c["long_notional_usd"] < need <= c["threshold_usd"] / NO_LINKS.cascade_price_fraction + 1
    assert NO_LINKS.cascade_oi_drop_pct <= c["oi_drop_pct"] <= 2.0
