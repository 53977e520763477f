"""Leverage context: open interest across venues, its 30-day percentile, its 24 h change against the
price, the funding z-score, the flush during a cascade, severity moved by one level at most, never a
trigger, bounded memory and the snapshot."""

from __future__ import annotations

import random

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.detect import CascadeDetector
from pipeline.detect.config import DetectorConfig
from pipeline.detect.leverage import (HOURS_KEEP_MS, HOURS_MAX, MINUTES_KEEP_MS, MINUTES_MAX, LeverageBook, adjusted,
                                      for_alert)

from .leverage_paths import HOUR, lev, path
from .stories import NO_LINKS, T0, replay, story

CFG = DetectorConfig()
MIN = 60_000


def book_of(events):
    book = LeverageBook()
    for e in events:
        book.add(e)
    return book


def test_calm_month_then_build_up_without_price():
    start = T0 - 30 * 24 * HOUR
    def calm_oi(t):
        return 8e9 + 2e8 * ((t // HOUR) % 5)

    calm = path(start, T0 - 24 * HOUR, 10 * MIN, calm_oi)
    build = path(T0 - 24 * HOUR, T0 + 1, 10 * MIN, lambda t: 8.4e9 * (1 + 0.12 * (t - T0 + 24 * HOUR) / (24 * HOUR)),
                 funding_fn=lambda t: 0.0001 + 0.0004 * (t - T0 + 24 * HOUR) / (24 * HOUR))
    ctx = book_of(calm + build).context(CFG, T0 + MIN)  # the minute of T0 is whole
    assert ctx["open_interest_usd"] == pytest.approx(8.4e9 * 1.12, rel=1e-3)
    assert ctx["instruments"] == 2 and ctx["oi_percentile_30d"] == 1.0
    day_ago = calm_oi(T0 - 24 * HOUR - 10 * MIN)  # the last whole hour 24 h before: its last figures
    assert ctx["oi_change_24h_pct"] == pytest.approx(100 * (8.4e9 * 1.12 / day_ago - 1), abs=0.01)
    assert ctx["price_change_24h_pct"] == 0.0 and ctx["building"] is True
    assert ctx["funding_8h"] == pytest.approx(0.0005, rel=1e-3) and ctx["funding_zscore"] > 3
    assert adjusted(CFG, 1, ctx) == 2


def test_leverage_rising_with_the_price_is_not_building():
    up = path(T0 - 26 * HOUR, T0 + 1, 10 * MIN, lambda t: 8e9 * (1 + 0.1 * (t - T0 + 26 * HOUR) / (26 * HOUR)),
              mark_fn=lambda t: 100_000.0 * (1 + 0.1 * (t - T0 + 26 * HOUR) / (26 * HOUR)))
    ctx = book_of(up).context(CFG, T0)
    assert ctx["oi_change_24h_pct"] > 5 and ctx["price_change_24h_pct"] > 5 and ctx["building"] is False


def test_a_venue_joining_is_not_leverage_built():
    one = path(T0 - 26 * HOUR, T0 - 2 * HOUR, 10 * MIN, lambda t: 4e9, venues=(("binance-usdm", "BTCUSDT"),))
    both = path(T0 - 2 * HOUR, T0 + 1, 10 * MIN, lambda t: 8e9)
    ctx = book_of(one + both).context(CFG, T0)
    assert ctx["open_interest_usd"] == pytest.approx(8e9)
    assert ctx["oi_change_24h_pct"] is None and ctx["building"] is False and ctx["oi_percentile_30d"] is None


def test_context_uses_nothing_after_the_moment():
    events = path(T0 - 3 * HOUR, T0 + 3 * HOUR, 5 * MIN, lambda t: 8e9 if t < T0 else 5e9)
    book = book_of(events)
    assert book.context(CFG, T0 - MIN)["open_interest_usd"] == pytest.approx(8e9)
    assert book.context(CFG, T0 + 2 * HOUR)["open_interest_usd"] == pytest.approx(5e9)
    assert LeverageBook().context(CFG, T0) is None
    assert book_of(events[:10]).context(CFG, T0 + 3 * HOUR) is None  # silent for hours: no figures


def test_flush_over_a_cascade_window_and_when_it_corroborates():
    events = path(T0 - 2 * HOUR, T0 + HOUR, MIN, lambda t: 9e9 if t < T0 else max(8e9, 9e9 - 1e8 * (t - T0) / MIN))
    book = book_of(events)
    cascade = {"window_end": T0 + 5 * MIN, "window_ms": 5 * MIN}  # the burst from T0; alerted at T0+15 min
    full = for_alert(CFG, book, T0 + 15 * MIN, cascade, {"sampled_venues": [], "gapped_markets": []})
    flush = full["flush"]
    assert flush["oi_before_usd"] == pytest.approx(9e9) and flush["oi_after_usd"] == pytest.approx(8e9)
    assert flush["drop_usd"] == pytest.approx(1e9) and flush["drop_pct"] == pytest.approx(11.111, abs=0.01)
    assert flush["corroborates"] is False  # full feeds need no corroboration
    sampled = for_alert(CFG, book, T0 + 15 * MIN, cascade, {"sampled_venues": ["binance-usdm"], "gapped_markets": []})
    assert sampled["flush"]["corroborates"] is True and adjusted(CFG, 2, sampled) == 3
    small = book_of(path(T0 - 2 * HOUR, T0 + HOUR, MIN, lambda t: 9e9 if t < T0 else 8.9e9))
    assert for_alert(CFG, small, T0 + 15 * MIN, cascade, {"sampled_venues": ["x"]})["flush"]["corroborates"] is False


def test_open_interest_is_counted_in_contracts_for_its_fall():
    """2% less USD of open interest is 2% fewer contracts at a steady mark, none when the mark fell 2% too;
    with nothing heard within 10 minutes before the start there is no honest "before"."""
    steady = book_of(path(T0 - HOUR, T0 + HOUR, MIN, lambda t: 30e9 if t < T0 else 29.4e9))
    assert steady.contracts_fall_pct(T0 - MIN, T0 + 5 * MIN) == pytest.approx(2.0)
    repriced = book_of(path(T0 - HOUR, T0 + HOUR, MIN, lambda t: 30e9 if t < T0 else 29.4e9,
                            mark_fn=lambda t: 110_000.0 if t < T0 else 107_800.0))
    assert repriced.contracts_fall_pct(T0 - MIN, T0 + 5 * MIN) == pytest.approx(0.0, abs=1e-9)
    sparse = book_of(path(T0 - HOUR, T0 + HOUR, 20 * MIN, lambda t: 30e9 if t < T0 else 29.4e9))
    assert sparse.contracts_fall_pct(T0 + 15 * MIN, T0 + 30 * MIN) is None


def test_low_open_interest_and_normal_funding_lower_severity():
    high_then_low = path(T0 - 10 * 24 * HOUR, T0 + 1, 30 * MIN, lambda t: 9e9 if t < T0 - 2 * 24 * HOUR else 6e9,
                         funding_fn=lambda t: 0.0002 if t < T0 - 2 * 24 * HOUR else 0.00005)
    ctx = book_of(high_then_low).context(CFG, T0)
    assert ctx["oi_percentile_30d"] <= 0.25 and ctx["funding_zscore"] < 0
    assert adjusted(CFG, 2, ctx) == 1 and adjusted(CFG, 0, ctx) == 0 and adjusted(CFG, 2, None) == 2


def test_leverage_alone_never_triggers_an_alert():
    crash = path(T0 - 30 * HOUR, T0 + 2 * HOUR, MIN, lambda t: 9e9 if t < T0 else 4e9,
                 funding_fn=lambda t: 0.003 if t < T0 else -0.001)
    det = CascadeDetector(NO_LINKS)
    assert [a for e in crash for a in det.feed(e)] == [] and det.finish() == []


def test_cascade_alert_carries_context_build_up_and_flush():
    def oi(t):  # built up over the day before, flushed from just before the burst (T0+20..40 min)
        if t < T0 - 24 * HOUR:
            return 8e9
        if t < T0 + 18 * MIN:
            return 8e9 * (1 + 0.1 * min(1.0, (t - T0 + 24 * HOUR) / (24 * HOUR)))
        return max(7.5e9, 8.8e9 - 6e7 * (t - T0 - 18 * MIN) / MIN)

    events = story() + path(T0 - 30 * HOUR, T0 + 3 * HOUR, 10_000, oi)
    alerts = replay(events)
    plain = replay(story())
    cascade = [a for a in alerts if a.stage == "cascade"]
    assert cascade and all("leverage" in (a.evidence or {}) for a in alerts)
    ctx = cascade[-1].evidence["leverage"]
    assert ctx["building"] is True and ctx["oi_change_24h_pct"] > 5
    assert ctx["flush"]["drop_usd"] > 0 and ctx["flush"]["drop_pct"] > 0
    # the same episode and stages as without leverage data: context never changes what is decided
    assert [(a.stage, a.alert_id, a.revision) for a in alerts] == [(a.stage, a.alert_id, a.revision) for a in plain]


def test_memory_is_bounded_and_the_snapshot_round_trips():
    book = book_of(path(T0 - 60 * 24 * HOUR, T0, 20 * MIN, lambda t: 8e9 + (t % HOUR) * 10))
    assert book.minutes[0][0] >= T0 - MINUTES_KEEP_MS - HOUR and len(book.minutes) <= MINUTES_KEEP_MS // MIN
    assert len(book.hours) == HOURS_KEEP_MS // HOUR
    again = LeverageBook.from_dict(orjson.loads(orjson.dumps(book.to_dict())))
    assert again.context(CFG, T0) == book.context(CFG, T0)
    assert len(orjson.dumps(book.to_dict())) < 150_000


def test_rows_are_kept_from_the_judging_and_bounded_whatever_lies_ahead():
    month = path(T0 - 30 * 24 * HOUR, T0, MIN, lambda t: 8e9 + (t % HOUR) * 10, venues=(("bybit", "BTCUSDT"),))
    judged = T0 - 20 * 24 * HOUR  # the decisions are ten days behind what was read
    book = LeverageBook()
    book.judging = lambda: judged
    for e in month:
        book.add(e)
    assert book.minutes[0][0] == judged - MINUTES_KEEP_MS and book.minutes[-1][0] == T0 - MIN
    assert book.hours[0][0] == T0 - 30 * 24 * HOUR  # within 30 days and 8 hours of the judging: every hour
    book.judging = lambda: None  # nothing decided yet: kept up to the row limits
    for e in path(T0, T0 + 13 * 24 * HOUR, MIN, lambda t: 8e9, venues=(("bybit", "BTCUSDT"),)):
        book.add(e)
    assert len(book.minutes) == MINUTES_MAX and book.minutes[-1][0] == T0 + 13 * 24 * HOUR - MIN
    assert len(book.hours) <= HOURS_MAX
    assert len(orjson.dumps(book.to_dict())) < 3_000_000


def test_duplicates_and_older_figures_change_nothing():
    book = LeverageBook()
    assert book.add(lev(T0, 8e9)) is True
    assert book.add(lev(T0, 8e9)) is False and book.add(lev(T0 - 10 * MIN, 1e9)) is False
    assert book.add(lev(T0 - 30_000, 1e9)) is True  # out of order within the lateness: taken in its place
    det = CascadeDetector(NO_LINKS)
    det.process(lev(T0, 8e9))
    det.process(lev(T0, 8e9))
    assert det.state("BTC").duplicates == 1


def test_context_is_the_same_however_far_the_feed_has_got():
    """What the stream has read past an alert's time (beyond the watermark's lateness) differs from a
    replay (a backlog of the leverage topic may be read hours ahead of the others); the context reads
    whole buckets that ended by then, and keeps more than it reads, so it does not."""
    oi, funding = (lambda t: 8e9 + (t % (7 * MIN)) * 1e3), (lambda t: 0.0001 + (t % HOUR) * 1e-12)
    events = path(T0 - 31 * 24 * HOUR, T0 - 2 * HOUR, HOUR, oi, funding_fn=funding)  # a month, read ahead
    events += path(T0 - 2 * HOUR, T0 + 6 * HOUR, 20_000, oi, funding_fn=funding)  # by up to six hours
    at = T0 + 37 * MIN + 12_345
    cascade = {"window_end": at, "window_ms": 5 * MIN}
    just_past = book_of([e for e in events if e.ts <= at + 10_000])
    everything = book_of(events)
    assert for_alert(CFG, just_past, at, cascade, {}) == for_alert(CFG, everything, at, cascade, {})
    assert for_alert(CFG, everything, at, cascade, {})["flush"] is not None
    assert for_alert(CFG, everything, at, cascade, {})["history_hours"] == 30 * 24 - 1  # whole hours in 30 days


def test_rows_do_not_depend_on_the_arrival_order_within_the_lateness():
    import random

    events = path(T0 - 30 * HOUR, T0 + HOUR, 20_000, lambda t: 8e9 + (t % (7 * MIN)) * 1e3)
    shuffled = sorted(events, key=lambda e: e.ts + random.Random(e.ts).randint(0, 9_000))  # up to 9 s late
    a, b = book_of(events), book_of(shuffled)
    assert a.minutes == b.minutes and a.hours == b.hours


def test_a_leverage_backlog_read_late_changes_no_decision():
    """The month of open interest read after the exchange feeds have started (a backlog on its topic)
    must not pull the watermark back: the same stages, ids and revisions as without it."""
    history = path(T0 - 30 * HOUR, T0 - 20 * MIN, 10 * MIN, lambda t: 8e9)
    live = path(T0 - 20 * MIN, T0 + 3 * HOUR, MIN, lambda t: 8e9)
    events = story()
    det, wall = CascadeDetector(NO_LINKS), 1_900_000_000_000  # a stream: everything arrives "now"
    alerts = [a for e in events[:200] for a in det.feed(e, wall)]
    before = det.state("BTC").clock.front(wall, NO_LINKS.idle_timeout_ms)
    alerts += [a for e in history for a in det.feed(e, wall)]
    assert det.state("BTC").clock.front(wall, NO_LINKS.idle_timeout_ms) == before  # time was not pulled back
    alerts += [a for e in events[200:] + live for a in det.feed(e, wall)] + det.finish()
    plain = replay(story())
    assert [(a.stage, a.alert_id, a.revision) for a in alerts] == [(a.stage, a.alert_id, a.revision) for a in plain]


@pytest.mark.parametrize("heard", [("whale_transfer",), ("whale_transfer", "liquidation")],
                         ids=["after the chain only", "before the trade flow"])
def test_a_leverage_backlog_read_before_every_exchange_feed_spoke_changes_no_decision(heard):
    """A worker reads its topics interleaved: the open-interest backlog may come in after a transfer or
    the first liquidations but before any trade flow, while the clock has no front yet. It must not
    pull the watermark back a month either (else the minutes of that month are judged first and the
    whale episode and the cascade floor are decided against empty buffers). Heard from first, it holds
    time back until caught up, then goes on with the live figures."""
    history = path(T0 - 30 * 24 * HOUR, T0 - 20 * MIN, HOUR, lambda t: 8e9) + path(T0 - 20 * MIN, T0 + 3 * HOUR, MIN,
                                                                                   lambda t: 8e9)
    events = story()
    first = [next(e for e in events if e.type == kind) for kind in heard]
    det, wall = CascadeDetector(NO_LINKS), 1_900_000_000_000  # a stream: everything arrives "now"
    alerts = [a for e in first + history[:1] for a in det.feed(e, wall)]  # the backlog's first figures
    rest, backlog = [e for e in events if e not in first], history[1:]
    for i in range(0, max(len(rest), 2 * len(backlog)), 100):  # then each topic in chunks, side by side
        alerts += [a for e in backlog[i // 2: i // 2 + 50] + rest[i: i + 100] for a in det.feed(e, wall)]
    alerts += det.finish()
    plain = replay(story())
    assert [(a.stage, a.alert_id, a.revision) for a in alerts] == [(a.stage, a.alert_id, a.revision) for a in plain]
    assert any(a.stage == "cascade" for a in alerts)


@pytest.mark.parametrize("head", [0, 0.5], ids=["open interest first", "trade flow first"])
def test_leverage_read_in_part_before_the_exchange_feeds_gives_replays_context(head):
    """A worker reads some open interest before any exchange event, then its exchange topics run ahead
    while the leverage topic lags: heard from first, leverage holds time back from the exchange feeds'
    first event on, so every alert carries the context a replay gives it, field for field."""
    def oi(t):
        return 8e9 + 1e7 * ((t - T0) // (7 * MIN))

    history = path(T0 - 30 * HOUR, T0 + 3 * HOUR, 90_000, oi)
    events = story()
    det, wall = CascadeDetector(NO_LINKS), 1_900_000_000_000  # a stream: everything arrives "now"
    flow = [e for e in events if e.type == "trade_flow"]
    early = flow[: int(len(flow) * head)]  # some trade flow may come before the open interest
    lagging = [e for e in history if e.ts >= T0 - HOUR]
    others = [e for e in events if e not in early]
    order = early + [e for e in history if e.ts < T0 - HOUR] + others + lagging
    alerts = [a for e in order for a in det.feed(e, wall)] + det.finish()
    plain = replay(events + history)
    assert [a.evidence for a in alerts] == [a.evidence for a in plain]
    assert [(a.stage, a.alert_id, a.revision, a.severity) for a in alerts] == \
        [(a.stage, a.alert_id, a.revision, a.severity) for a in plain]
    assert any("leverage" in (a.evidence or {}) for a in alerts if a.stage == "cascade")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 12 * MIN), st.integers(0, 2), st.sampled_from(["oi", "funding", "both"]),
                          st.integers(1, 9)), min_size=1, max_size=60),
       st.integers(0, 2**32))
def test_rows_are_the_same_read_after_every_event_or_once(raw, seed):
    """A minute's row is written once its minute is done (or when read), not at each event of it: the
    rows equal those of a book read after every event, whatever the order within the lateness."""
    rng = random.Random(seed)
    events = []
    for ts, inst, kind, x in raw:
        venue, symbol = (("binance-usdm", "BTCUSDT"), ("bybit", "BTCUSDT"), ("okx", "BTC-USDT-SWAP"))[inst]
        e = lev(T0 + ts, x * 1e9, venue=venue, symbol=symbol, funding=x * 1e-5, mark=100_000.0 + x)
        if kind == "oi":
            e = e.model_copy(update={"funding_rate": None, "mark_price": None})
        elif kind == "funding":
            e = e.model_copy(update={"open_interest_usd": None, "open_interest": None})
        events.append(e)
    events.sort(key=lambda e: e.ts + rng.randint(0, 90_000))  # out of order by up to 1.5 minutes
    once, every = LeverageBook(), LeverageBook()
    for e in events:
        assert once.add(e) == every.add(e)
        every.minutes, every.hours  # noqa: B018 - reading writes any row held back
    assert (once.keys, once.minutes, once.hours) == (every.keys, every.minutes, every.hours)
    assert once.to_dict() == every.to_dict()


@pytest.mark.parametrize("ahead_h", [12, 5 * 24], ids=["half a day ahead", "five days ahead"])
def test_open_interest_read_whole_before_the_exchange_feeds_gives_replays_alerts(ahead_h):
    """A catch-up worker may read the whole open-interest topic before the exchange topics: minute rows
    far ahead of the alerts (more than the minutes kept behind the judging). The book keeps what lies
    ahead of the asset's judging, so every alert is replay's, field for field."""
    def oi(t):
        return 8e9 + 1e7 * ((t - T0) // (7 * MIN)) - (4e8 if t > T0 + 18 * MIN else 0)

    history = path(T0 - 30 * HOUR, T0 + ahead_h * HOUR, MIN, oi)
    events = story()
    det, wall = CascadeDetector(NO_LINKS), 1_900_000_000_000  # a stream: everything arrives "now"
    alerts = [a for e in history + events for a in det.feed(e, wall)] + det.finish()
    plain = replay(events + history)
    assert [a.model_dump() for a in alerts] == [a.model_dump() for a in plain]
    flushed = [a for a in alerts if a.stage == "cascade" and "flush" in a.evidence["leverage"]]
    assert flushed and flushed[-1].evidence["leverage"]["flush"]["drop_usd"] > 0  # the amended peak's window


def test_open_interest_read_first_survives_a_restore_from_the_snapshot():
    """The same read order with the worker restarted half-way through the exchange events: the restored
    book follows the restored asset's judging too, so the rows read ahead are still there."""
    history = path(T0 - 30 * HOUR, T0 + 13 * HOUR, MIN, lambda t: 8e9 + 1e7 * ((t - T0) // (7 * MIN)))
    before, after = [e for e in history if e.ts < T0 + 12 * HOUR], [e for e in history if e.ts >= T0 + 12 * HOUR]
    events = sorted(story(), key=lambda e: e.ts)  # the exchange topics read in order, the burst after the restore
    early, late = [e for e in events if e.ts < T0 + 10 * MIN], [e for e in events if e.ts >= T0 + 10 * MIN]
    wall = 1_900_000_000_000
    first = CascadeDetector(NO_LINKS)
    alerts = [a for e in before + early for a in first.feed(e, wall)]
    snap = orjson.loads(orjson.dumps(first.snapshot("BTC")))
    second = CascadeDetector(NO_LINKS)
    second.restore("BTC", snap)
    assert second.state("BTC").leverage.judging() == first.state("BTC").cascade.judged_to
    # the last hour of open interest is read after the restore: rows are written (and kept) again
    alerts += [a for e in after + late for a in second.feed(e, wall)] + second.finish()
    assert [a.model_dump() for a in alerts] == [a.model_dump() for a in replay(events + history)]
    assert any("flush" in a.evidence["leverage"] for a in alerts if a.stage == "cascade")
