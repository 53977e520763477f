"""One advance of the watermark, however far, decides in event-time order (pipeline/detect/progress.py)."""

from __future__ import annotations

from pipeline.contracts.models import Liquidation
from pipeline.detect import CascadeDetector
from tests.detect.golden import alert_rows
from tests.detect.stories import MIN, NO_LINKS, T0, deposit, replay, story


def test_a_deposit_after_an_episode_ended_opens_its_own_even_when_one_advance_passes_both():
    """The liquidation feed silent for 70 minutes of a backlog read at one wall-clock moment holds the
    watermark, which then passes the first episode's end (its sell stage waited for no cascade) and a
    second deposit 23 minutes later at once. The episode ends first, as it does in event time: the
    second deposit opens its own watch instead of joining the ended one."""
    evs = [e for e in story(cascade=False) if not (isinstance(e, Liquidation) and T0 + 100 * MIN < e.ts < T0 + 170 * MIN)]
    evs = sorted(evs + [deposit(T0 + 150 * MIN, eid="bitcoin:whale2:0")], key=lambda e: e.ts)
    want = alert_rows(replay(evs))
    assert [(a["deposit"]["event_id"], a["stage"]) for a in want] == [
        ("bitcoin:whale:0", "watch"), ("bitcoin:whale:0", "sell"), ("bitcoin:whale:0", "expired"),
        ("bitcoin:whale2:0", "watch"), ("bitcoin:whale2:0", "expired")]
    det = CascadeDetector(NO_LINKS)
    assert alert_rows(det.process_many(evs, T0).alerts + det.finish()) == want
