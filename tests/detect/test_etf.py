"""The ETF ledger: every version kept, context as of a time, revisions never reach back."""

from __future__ import annotations

import pytest

from pipeline.contracts.interchange import read_events
from pipeline.contracts.models import EtfFlow
from pipeline.detect.etf import MARGIN_DAYS, EtfLedger
from pipeline.replay import run
from pipeline.scenarios import bundled

DAY = 86_400_000
T = 1_756_000_000_000


def flow(date, net, pub, fund="IBIT", asset="BTC"):
    return EtfFlow(event_id=f"etf:{asset}:{fund}:{date}:{pub}", date=date, fund=fund, asset=asset, net_flow_usd=net,
                   published_ts=pub, source="test")


def test_a_revision_is_a_new_version_and_the_old_one_still_answers_earlier_times():
    led = EtfLedger()
    assert led.add(flow("2025-08-20", -100e6, T))
    assert led.add(flow("2025-08-20", 50e6, T + DAY))  # revised a day later
    assert not led.add(flow("2025-08-20", 50e6, T + DAY))  # the same version again
    assert led.context(T + 1)["last_day_usd"] == -100e6
    assert led.context(T + DAY + 1)["last_day_usd"] == 50e6
    assert led.context(T) is None  # published at T is not known at T: only figures published before t count


def test_versions_arriving_out_of_order_answer_the_same():
    a, b = EtfLedger(), EtfLedger()
    versions = [flow("2025-08-20", -100e6, T), flow("2025-08-20", 20e6, T + 5), flow("2025-08-20", 70e6, T + 9)]
    for v in versions:
        a.add(v)
    for v in reversed(versions):
        b.add(v)
    for t in (T + 1, T + 6, T + 10):
        assert a.context(t) == b.context(t)
    assert a.context(T + 6)["last_day_usd"] == 20e6


def test_two_versions_published_at_the_same_moment_answer_the_same_in_either_order():
    """A corrected page imported again under the same history rule: two values, one publication time."""
    a, b = EtfLedger(), EtfLedger()
    same = [flow("2025-08-20", 0.0, T), flow("2025-08-20", -100e6, T)]
    for v in same:
        a.add(v)
    for v in reversed(same):
        b.add(v)
    assert a.context(T + 1) == b.context(T + 1)
    # ...and versions stay in publication order whatever their values: a later, smaller figure wins
    later = [flow("2025-08-20", 50e6, T), flow("2025-08-20", -30e6, T + 5)]
    for order in (later, later[::-1]):
        led = EtfLedger()
        for v in order:
            led.add(v)
        assert led.context(T + 1)["last_day_usd"] == 50e6 and led.context(T + 6)["last_day_usd"] == -30e6


def test_context_figures():
    led = EtfLedger()
    nets = [300e6, -10e6, 80e6, -50e6, -60e6, -70e6, -200e6]  # oldest first: three-day... then four outflow days
    for i, net in enumerate(nets):
        led.add(flow(f"2025-08-{10 + i:02d}", net / 2, T + i, fund="IBIT"))
        led.add(flow(f"2025-08-{10 + i:02d}", net / 2, T + i, fund="FBTC"))
    ctx = led.context(T + 100)
    assert ctx["as_of_date"] == "2025-08-16"
    assert ctx["outflow_streak_days"] == 4 and ctx["inflow_streak_days"] == 0
    assert ctx["sum_5d_usd"] == pytest.approx(sum(nets[-5:]))
    assert ctx["sum_20d_usd"] == pytest.approx(sum(nets))
    assert ctx["days_known"] == 7
    prior = nets[:-1]
    mean = sum(prior) / len(prior)
    sd = (sum((x - mean) ** 2 for x in prior) / len(prior)) ** 0.5
    assert ctx["zscore"] == pytest.approx((nets[-1] - mean) / sd, abs=1e-3)
    # two days earlier, only five days were known: fewer than five prior days gives no z-score
    early = led.context(T + 5)
    assert early["as_of_date"] == "2025-08-14" and early["zscore"] is None and early["outflow_streak_days"] == 2


def test_a_source_day_total_is_used_over_partial_fund_figures():
    led = EtfLedger()
    led.add(flow("2025-08-20", 30e6, T, fund="IBIT"))
    led.add(flow("2025-08-20", -400e6, T, fund="TOTAL"))
    assert led.context(T + 1)["last_day_usd"] == -400e6


def test_snapshot_round_trip_and_the_older_single_version_format():
    led = EtfLedger()
    led.add(flow("2025-08-20", -100e6, T))
    led.add(flow("2025-08-20", 50e6, T + DAY))
    again = EtfLedger.from_dict(led.to_dict())
    assert again.to_dict() == led.to_dict()
    assert again.context(T + 1) == led.context(T + 1)
    old = EtfLedger.from_dict({"2025-08-20": {"IBIT": [-100e6, T]}})
    assert old.context(T + 1)["last_day_usd"] == -100e6
    assert old.add(flow("2025-08-20", 50e6, T + DAY)) and old.context(T + DAY + 1)["last_day_usd"] == 50e6


def _scenario():
    return sorted(read_events(bundled()), key=lambda e: e.ts)


def _btc(alerts):
    return [a for a in alerts if a.asset == "BTC"]


def test_a_revision_published_after_an_alert_does_not_change_it():
    events = _scenario()
    before = _btc(run(events).alerts)
    assert before and before[0].etf_context["outflow_streak_days"] >= 5
    last_day = max(e.date for e in events if isinstance(e, EtfFlow))
    # The latest day is revised to a huge inflow, published a minute after the last alert. The
    # revision is fed first, as a worker catching up on the etf topic's backlog would read it.
    late = max(a.ts for a in before) + 60_000
    revision = [flow(last_day, 5e9, late, fund=f) for f in ("IBIT", "FBTC", "ARKB", "GBTC", "BITB")]
    after = _btc(run(revision + events).alerts)
    assert [a.model_dump() for a in after] == [a.model_dump() for a in before]
    # the same revision published before the deposit does change the context and the severity
    early = min(a.ts for a in before) - 60_000
    changed = _btc(run([flow(last_day, 5e9, early, fund=f) for f in ("IBIT", "FBTC", "ARKB", "GBTC", "BITB")]
                       + events).alerts)
    assert changed[0].etf_context["outflow_streak_days"] == 0
    assert changed[0].etf_context != before[0].etf_context


def test_context_never_uses_a_figure_published_after_the_alert():
    events = _scenario()
    pubs = {}
    for e in events:
        if isinstance(e, EtfFlow):
            pubs.setdefault(e.date, []).append(e.published_ts)
    for a in run(events).alerts:
        if a.etf_context:
            assert max(pubs[a.etf_context["as_of_date"]]) < a.ts
            later = [d for d, p in pubs.items() if d > a.etf_context["as_of_date"] and min(p) < a.ts]
            assert later == []


def test_days_read_ahead_of_the_decisions_are_kept_until_the_decisions_get_there():
    """A worker catching up may read the ETF topic months ahead of the exchange topics: the days its
    decisions will read are still there when they get there."""
    import datetime as dt

    start = dt.datetime.fromtimestamp(T / 1000, dt.timezone.utc).date()
    days = [(start + dt.timedelta(days=i)).isoformat() for i in range(200)]
    flows = [flow(d, -1e8 * (1 + i % 3), T + i * DAY) for i, d in enumerate(days)]
    at = T + 60 * DAY + DAY // 2  # the decisions are on day 60
    alone = EtfLedger()  # what a replay has read by then
    alone.judging = lambda: at
    for f in flows[:61]:
        alone.add(f)
    ahead = EtfLedger()
    ahead.judging = lambda: at
    for f in flows:
        ahead.add(f)
    assert ahead.context(at) == alone.context(at) and ahead.context(at)["days_known"] == 41
    # A ledger that trims by the newest day read has lost them.
    newest = EtfLedger()
    for f in flows:
        newest.add(f)
    assert newest.context(at) is None
    # Decisions not started yet: everything read is kept; behind the judging, `keep_days` remain.
    waiting = EtfLedger()
    waiting.judging = lambda: None
    for f in flows:
        waiting.add(f)
    assert len(waiting.flows) == 200
    waiting.judging = lambda: T + 199 * DAY
    waiting.add(flow(days[-1], -5e7, T + 200 * DAY))
    assert len(waiting.flows) == 41 + MARGIN_DAYS  # a few days more than the context reads
    assert waiting.context(T + 200 * DAY)["days_known"] == 40  # days 160-199


def test_the_etf_topic_read_first_gives_replay_s_alerts():
    events = _scenario()
    last = max(e.date for e in events if isinstance(e, EtfFlow))
    after = max(e.ts for e in events) + DAY
    import datetime as dt

    later = [flow((dt.date.fromisoformat(last) + dt.timedelta(days=i)).isoformat(), 2e8, after + i * DAY)
             for i in range(1, 90)]
    etf = [e for e in events if isinstance(e, EtfFlow)]
    rest = [e for e in events if not isinstance(e, EtfFlow)]
    expected = [a.model_dump() for a in run(events + later).alerts]
    assert any(a["etf_context"] for a in expected)
    assert [a.model_dump() for a in run(etf + later + rest).alerts] == expected
