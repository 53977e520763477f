"""Burst shapes: weights per minute, and the liquidations drawn from them."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.scenarios.shapes import MAX_EVENTS, SHAPES, burst, profile


@pytest.mark.parametrize("minutes", [10, 45, 90])
def test_profiles(minutes):
    rng = np.random.default_rng(1)
    for shape in SHAPES:
        w = profile(rng, shape, minutes)
        assert len(w) == minutes and w.sum() == pytest.approx(1.0) and (w > 0).all()
    assert np.argmax(profile(rng, "front_loaded", minutes)) == 0
    assert np.argmax(profile(rng, "back_loaded", minutes)) == minutes - 1
    plateau = profile(rng, "plateau", minutes)
    assert plateau[3:].max() == pytest.approx(plateau[3:].min())
    waves = profile(rng, "waves", minutes)
    peaks = [i for i in range(1, minutes - 1) if waves[i] > waves[i - 1] and waves[i] >= waves[i + 1]]
    assert len(peaks) >= 2


def test_unknown_shape():
    with pytest.raises(ValueError, match="known"):
        profile(np.random.default_rng(1), "zigzag", 10)


def test_burst_total_side_and_size():
    rng = np.random.default_rng(2)
    w = profile(rng, "plateau", 20)
    out = burst(rng, 1_000_000, w, 5e8, "long", min_mean_usd=30_000)
    assert len(out) < 1.2 * MAX_EVENTS  # a huge burst has bigger liquidations, not endlessly many
    total = sum(u for _, _, u in out)
    assert total == pytest.approx(5e8, rel=0.15)
    longs = sum(u for _, s, u in out if s == "long")
    assert 0.8 < longs / total < 0.97
    ts = [t for t, _, _ in out]
    assert ts == sorted(ts) and ts[0] >= 1_000_000 and ts[-1] < 1_000_000 + 20 * 60_000
