"""Each window's threshold for an asset (pipeline/detect/thresholds.py): learned, raised on a young
history, the cold-start guess and what the asset has already shown, and the same inside a watch."""

from __future__ import annotations

from pipeline.detect import CascadeDetector
from pipeline.detect.thresholds import threshold, watch_need
from tests.detect.stories import MIN, NO_LINKS, T0, burst, drive, noise

DAY = 24 * 60 * MIN


def test_a_young_history_raises_the_threshold_except_inside_a_contagion_watch():
    """Two days of history are few: the learned threshold is raised by the young factor (1.75 at two of four
    days), which a contagion watch does not apply; from four days on there is no raise."""
    det = CascadeDetector(NO_LINKS)
    drive(det, noise("SOL", T0 - 2 * DAY, T0, 2_000, seed=3))
    need, info = threshold(NO_LINKS, det.state("SOL"), 5 * MIN, NO_LINKS.floor_factor, T0)
    flat_cfg = NO_LINKS.model_copy(update={"floor_young_boost": 0.0})
    flat, flat_info = threshold(flat_cfg, det.state("SOL"), 5 * MIN, flat_cfg.floor_factor, T0)
    young = NO_LINKS.young_factor(info["history_minutes"] * MIN)
    assert info["floor_source"] == "learned" and "young_factor" not in flat_info
    assert 1.7 < info["young_factor"] == round(young, 3) < 1.85
    assert abs(need - flat * young) < 1e-6 * need
    assert abs(watch_need(NO_LINKS, need, info) - flat * NO_LINKS.contagion_threshold_factor) < 1e-6 * need
    assert NO_LINKS.young_factor(4 * DAY) == NO_LINKS.young_factor(14 * DAY) == 1.0


def test_on_a_cold_start_an_asset_busier_than_the_fallback_raises_its_own_threshold():
    """The fallback floor is a guess. Six hours in, an asset whose ordinary windows already came to a third
    of it is not called on one that reaches it: the threshold is at least `cold_top_factor` times the largest
    window so far. A contagion watch starts from the guess again; a quiet asset keeps the guess."""
    busy, quiet = CascadeDetector(NO_LINKS), CascadeDetector(NO_LINKS)
    floor = NO_LINKS.cold_floor("SOL")
    drive(busy, noise("SOL", T0 - 6 * 60 * MIN, T0, 1_500, seed=4, every_ms=5_000))
    drive(quiet, noise("SOL", T0 - 6 * 60 * MIN, T0, 500, seed=4))
    need, info = threshold(NO_LINKS, busy.state("SOL"), 5 * MIN, NO_LINKS.floor_factor, T0)
    top = busy.state("SOL").floors.level_at(T0)[0]["top:usd:5m"]
    assert info["floor_source"] == "cold_start+top" and top > floor / NO_LINKS.cold_top_factor
    assert need == NO_LINKS.cold_top_factor * top > floor and info["cold_floor_usd"] == floor
    assert watch_need(NO_LINKS, need, info) == floor * NO_LINKS.contagion_threshold_factor ** 0.5
    q_need, q_info = threshold(NO_LINKS, quiet.state("SOL"), 5 * MIN, NO_LINKS.floor_factor, T0)
    assert (q_need, q_info["floor_source"]) == (floor, "cold_start")
    off = NO_LINKS.model_copy(update={"cold_top_factor": 0.0})
    assert threshold(off, busy.state("SOL"), 5 * MIN, off.floor_factor, T0)[0] == floor
    # The same burst: called on the quiet asset, not on the busy one.
    hit = burst("SOL", T0 + MIN, 5, 1.2 * floor / 5)
    assert [a.stage for a in drive(quiet, hit)] == ["cascade"]
    assert [a for a in drive(busy, [e.model_copy(update={"event_id": "x" + e.event_id}) for e in hit])
            if a.stage == "cascade"] == []
