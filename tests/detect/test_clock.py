"""The event clock's optional leverage feed: it holds the watermark only once heard from and while
not idle, so a deployment without it runs exactly as before."""

from __future__ import annotations

from pipeline.detect.clock import FLOW, LEV, LIQ, EventClock

IDLE = 60_000


def clock(**frontier) -> EventClock:
    c = EventClock()
    for source, ts in frontier.items():
        c.observe({"liq": LIQ, "flow": FLOW, "lev": LEV}[source], ts, now=1_000_000)
    return c


def test_leverage_behind_the_other_feeds_holds_the_watermark_back():
    assert clock(liq=500_000, flow=510_000).front(1_000_000, IDLE) == 500_000
    assert clock(liq=500_000, flow=510_000, lev=480_000).front(1_000_000, IDLE) == 480_000
    assert clock(liq=500_000, flow=510_000, lev=900_000).front(1_000_000, IDLE) == 500_000


def test_an_idle_leverage_feed_stops_holding_it():
    c = clock(liq=500_000, flow=510_000, lev=480_000)
    assert c.front(1_000_000 + IDLE - 1, IDLE) == 480_000
    later = 1_000_000 + IDLE + 1
    c.observe(LIQ, 560_000, later)  # the exchange feeds go on; leverage has been silent for a minute
    c.observe(FLOW, 570_000, later)
    assert c.front(later, IDLE) == 560_000


def test_offline_the_event_time_is_the_clock():
    c = EventClock()
    c.observe(LIQ, 100_000, None)
    c.observe(FLOW, 100_000, None)
    c.observe(LEV, 90_000, None)
    assert c.front(None, IDLE) == 90_000
    c.observe(LIQ, 90_000 + IDLE + 5_000, None)
    c.observe(FLOW, 90_000 + IDLE + 5_000, None)
    assert c.front(None, IDLE) == 90_000 + IDLE + 5_000  # leverage silent for over a minute of event time
