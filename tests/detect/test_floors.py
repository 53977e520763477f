"""The learned floors: per-day histograms of window sums and counts, the level as a median over days."""

from __future__ import annotations

from pipeline.detect.floors import DAY_MIN, MINUTE, FloorSketch, bin_of, bin_top, key, top_key

USD5 = key("usd", 5 * MINUTE)
DAY_MS = DAY_MIN * MINUTE


def fill_day(sk: FloorSketch, day: int, ordinary: float, extreme: float | None = None, extreme_minutes: int = 0):
    """One day of minutes at `ordinary`, its last `extreme_minutes` at `extreme` (a burst never called)."""
    for i in range(DAY_MIN):
        usd = extreme if extreme is not None and i >= DAY_MIN - extreme_minutes else ordinary * (1 + i % 7)
        sk.add(day * DAY_MS + i * MINUTE, {USD5: usd})


def test_the_level_is_each_days_extreme_and_the_median_over_days():
    sk = FloorSketch(days=14, quantile=0.999)
    for day in range(5):
        fill_day(sk, day, 10_000)
    levels, minutes = sk.level_at(5 * DAY_MS)
    assert minutes == 5 * DAY_MIN
    # A day's 99.9th percentile of 10k..70k is its top bin: the 70k minutes, read at the bin's upper edge.
    assert levels[USD5] == bin_top(bin_of(70_000, 1_000.0), 1_000.0)
    assert 70_000 <= levels[USD5] < 70_000 * 1.1


def test_an_even_count_of_days_gives_the_level_halfway_between_the_middle_two():
    sk = FloorSketch(days=14, quantile=0.999)
    fill_day(sk, 0, 10_000)  # its extreme: the 70k minutes
    fill_day(sk, 1, 30_000)  # 210k
    quiet, busy = bin_top(bin_of(70_000, 1_000.0), 1_000.0), bin_top(bin_of(210_000, 1_000.0), 1_000.0)
    assert sk.level_at(2 * DAY_MS)[0][USD5] == (quiet + busy) / 2  # not the quiet day's alone
    fill_day(sk, 2, 20_000)
    assert sk.level_at(3 * DAY_MS)[0][USD5] == bin_top(bin_of(140_000, 1_000.0), 1_000.0)


def test_bursts_on_fewer_than_half_the_days_do_not_move_the_level():
    clean, dirty = FloorSketch(days=14, quantile=0.999), FloorSketch(days=14, quantile=0.999)
    for day in range(7):
        fill_day(clean, day, 10_000)
        # Three days in seven hold an uncalled burst of an hour at a hundred times the ordinary.
        fill_day(dirty, day, 10_000, extreme=7e6 if day in (1, 3, 5) else None, extreme_minutes=60)
    at = 7 * DAY_MS
    assert dirty.level_at(at)[0][USD5] == clean.level_at(at)[0][USD5]
    # A quantile of the pooled history (the old way) is dragged up by them: 180 of 10,080 minutes.
    pooled = FloorSketch(days=14, quantile=0.99)
    pooled.hist = {USD5: {0: {b: c for d in dirty.hist[USD5].values() for b, c in d.items()}}}
    pooled.minutes = {0: DAY_MIN * 7}
    assert pooled.read()[0][USD5] > 50 * clean.level_at(at)[0][USD5]


def test_a_day_counts_once_half_of_it_is_history_and_old_days_are_dropped():
    sk = FloorSketch(days=2, quantile=0.999)
    for i in range(DAY_MIN // 2 - 1):
        sk.add(i * MINUTE, {USD5: 5_000})
    assert USD5 not in sk.read()[0]  # not half a day yet: no level, only the largest window so far
    assert sk.read()[0] == {top_key(USD5): bin_top(bin_of(5_000, 1_000.0), 1_000.0)}
    sk.add((DAY_MIN // 2 - 1) * MINUTE, {USD5: 5_000})
    assert USD5 in sk.read()[0]
    fill_day(sk, 1, 10_000)
    fill_day(sk, 2, 20_000)
    assert sorted(sk.minutes) == [1, 2]  # two days kept
    assert sk.read()[1] == 2 * DAY_MIN


def test_a_burst_ramp_is_taken_back_and_a_snapshot_round_trips():
    sk = FloorSketch(days=14, quantile=0.999)
    fill_day(sk, 0, 10_000)
    level = sk.read()[0][USD5]
    start = DAY_MS
    for i in range(30):
        sk.add(start + i * MINUTE, {USD5: 5e6})
    sk.forget_since(start)
    assert not sk.hist[USD5].get(1) and sk.minutes.get(1, 0) == 0
    assert sk.read()[0][USD5] == level
    again = FloorSketch(14, 0.999, sk.to_dict())
    assert again.to_dict() == sk.to_dict()
    assert again.read() == sk.read()


def test_the_largest_window_so_far_is_read_from_the_first_minutes_on():
    sk = FloorSketch(days=14, quantile=0.999)
    for i, usd in enumerate([2_000, 40_000, 9_000]):
        sk.add(i * MINUTE, {USD5: usd})
    top = sk.read()[0][top_key(USD5)]
    assert 40_000 <= top < 40_000 * 1.1
    sk.forget_since(MINUTE)  # taken back as a burst's ramp: no longer history
    assert sk.read()[0][top_key(USD5)] < 2_200
