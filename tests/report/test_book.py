"""Episodes built in memory from the replayed events (for backtest reports) hold what the store's
rollups give for the same events: the same stages, prices, net flow and liquidations per minute."""

from __future__ import annotations

import pytest

from pipeline.contracts.models import event_from_dict
from pipeline.report.book import MinuteBook, episode_stages, reported
from pipeline.report.data import load_episode


def book_of(events: list[dict]) -> MinuteBook:
    book = MinuteBook()
    for e in sorted(events, key=lambda e: e.get("ts", 0)):
        if e["type"] in ("trade_flow", "liquidation"):
            book.add(event_from_dict(e))
    return book


def test_in_memory_episodes_match_the_store(scenario):
    store, events, alerts = scenario
    book = book_of(events + [e for e in events if e["type"] == "liquidation"][:500])  # some redelivered
    stages = episode_stages(alerts)
    cascades = reported(stages, "cascades")
    assert cascades and set(cascades) < set(stages) and reported(stages, "none") == []
    for alert_id in cascades:
        want, got = load_episode(store, alert_id), book.episode(alert_id, stages[alert_id])
        assert [(s.stage, s.ts, s.revision, s.severity) for s in got.stages] == \
               [(s.stage, s.ts, s.revision, s.severity) for s in want.stages]
        assert (got.start, got.end, got.deposit_ts) == (want.start, want.end, want.deposit_ts)
        assert set(got.price) == set(want.price)
        for venue in want.price:
            assert [t for t, _ in got.price[venue]] == [t for t, _ in want.price[venue]]
            assert [p for _, p in got.price[venue]] == pytest.approx([p for _, p in want.price[venue]])
        assert [t for t, _ in got.net_flow] == [t for t, _ in want.net_flow]
        assert [v for _, v in got.net_flow] == pytest.approx([v for _, v in want.net_flow])
        assert [t for t, _, _ in got.liquidations] == [t for t, _, _ in want.liquidations]
        for i in (1, 2):  # longs, shorts
            assert [r[i] for r in got.liquidations] == pytest.approx([r[i] for r in want.liquidations])


def test_unknown_report_choice_is_refused():
    with pytest.raises(ValueError, match="cascades"):
        reported({}, "some")
