"""The numpy bar builder gives exactly the per-trade BarAggregator's bars (and late-trade count)
for any trade sequence, however the trades are split into blocks."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.sources.exchanges.vbars import VectorBars
from pipeline.sources.exchanges.base import BarAggregator, Trade

from tests.sources.archives.builders import assert_same_bars

KEYS = [("binance-usdm", "BTCUSDT", "BTC"), ("okx", "BTC-USDT-SWAP", "BTC")]

trade = st.tuples(st.integers(0, 1), st.integers(0, 6_000), st.floats(1, 1e5), st.floats(0.001, 1e6), st.booleans())


@settings(max_examples=150, deadline=None)
@given(trades=st.lists(trade, min_size=1, max_size=80), cuts=st.lists(st.integers(0, 80), max_size=5))
def test_same_bars_as_the_per_trade_aggregator(trades, cuts):
    agg, want = BarAggregator(), []
    for k, ts, px, usd, sold in trades:
        v, s, a = KEYS[k]
        want.extend(b.model_dump(mode="json") for b in agg.add(Trade(v, s, a, ts, px, usd / px, usd,
                                                                          "sell" if sold else "buy")))
    want.extend(b.model_dump(mode="json") for b in agg.flush())
    vb, got = VectorBars(), []
    bounds = sorted({0, len(trades), *[c for c in cuts if c < len(trades)]})
    for lo, hi in zip(bounds, bounds[1:]):
        block = trades[lo:hi]
        for k, (v, s, a) in enumerate(KEYS):
            rows = [t for t in block if t[0] == k]
            if rows:
                got.extend(vb.add((v, s), a, np.array([r[1] for r in rows], dtype=np.int64),
                                  np.array([r[2] for r in rows]), np.array([r[3] for r in rows]),
                                  np.array([r[4] for r in rows])))
    got.extend(vb.flush())
    assert_same_bars(got, want)
    assert vb.late_trades == agg.late_trades
