"""The compact snapshot encoding of the buffers gives back the very same rows, and is smaller."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.detect import CascadeDetector
from pipeline.detect.buffers import Bar, Liq
from pipeline.detect.codec import decode_bars, decode_liqs, encode_bars, encode_liqs
from pipeline.detect.state import AssetState
from tests.detect.stories import NO_LINKS, story

liq_rows = st.lists(st.builds(Liq, st.integers(0, 2**53), st.text(min_size=1, max_size=40),
                              st.sampled_from(["long", "short"]), st.sampled_from(["okx", "bybit", "a|b", "é"]),
                              st.sampled_from(["full", "sampled", ""]), st.integers(0, 10**15)), max_size=60)
floats = st.floats(allow_nan=False, allow_infinity=False)
bar_rows = st.lists(st.builds(Bar, st.integers(0, 2**53), st.sampled_from(["okx/BTC-USDT-SWAP", "bybit/BTCUSDT", "x|y"]),
                              st.integers(0, 2**53), floats, floats, floats, floats, floats), max_size=40)


def through_json(d):
    return orjson.loads(orjson.dumps(d))


@settings(max_examples=200, deadline=None)
@given(rows=liq_rows)
def test_liquidations_round_trip_exactly(rows):
    rows = sorted(rows)
    assert decode_liqs(through_json(encode_liqs(rows))) == rows


@settings(max_examples=200, deadline=None)
@given(rows=bar_rows)
def test_bars_round_trip_exactly(rows):
    rows = sorted(rows)
    got = decode_bars(through_json(encode_bars(rows)))
    assert got == rows and all(type(a) is type(b) for g, r in zip(got, rows) for a, b in zip(g, r))


def test_a_state_round_trips_and_its_snapshot_is_smaller_than_rows():
    det = CascadeDetector(NO_LINKS)
    for ev in story()[:4000]:
        det.process(ev)
    state = det.state("BTC")
    assert len(state.liqs) > 100 and len(state.bars) > 100
    snap = det.snapshot("BTC")
    again = AssetState.from_dict(snap, 14, 0.95, [w for w, _ in NO_LINKS.windows()])
    assert again.liqs == state.liqs and again.bars == state.bars
    rows_size = len(orjson.dumps([list(r) for r in state.liqs] + [list(b) for b in state.bars]))
    assert len(orjson.dumps(snap["liqs"])) + len(orjson.dumps(snap["bars"])) < 0.7 * rows_size


def test_snapshots_written_as_lists_of_rows_are_still_read():
    old_liq = [1_756_065_601_278, "bybit:BTC:1", "long", 4794.95, "bybit", "full", 479495]
    old_bar = [1_756_065_600_000, "bybit/BTCUSDT", 1_756_065_610_000, 1.5e6, 1.2e6, 114791.7, 114771.67, 114812.4]
    assert decode_liqs([old_liq]) == [Liq(1_756_065_601_278, "bybit:BTC:1", "long", "bybit", "full", 479495)]
    assert decode_bars([old_bar]) == [Bar(*old_bar)]
