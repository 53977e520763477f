"""What the simulated feeds deliver: Binance sampled, jitter, duplicates, gaps, chain lateness."""

from __future__ import annotations

from collections import Counter

from pipeline.scenarios.market import MINUTE, VENUE_SHARE, VENUES
from tests.scenarios.helpers import by_episode, liquidations, unique


def test_binance_keeps_at_most_one_liquidation_per_symbol_per_second(month):
    cfg, events, labels = month
    liqs = liquidations(events)
    per_second = Counter((e["venue"], e["symbol"], e["ts"] // 1000) for e in liqs)
    assert max(n for (venue, _, _), n in per_second.items() if venue == "binance-usdm") == 1
    # The other venues deliver everything: in the bursts they carry several per second.
    assert max(n for (venue, _, _), n in per_second.items() if venue != "binance-usdm") > 3
    assert {e["completeness"] for e in liqs if e["venue"] == "binance-usdm"} == {"sampled"}
    assert {e["completeness"] for e in liqs if e["venue"] != "binance-usdm"} == {"full"}
    # In the biggest burst Binance delivers clearly less than its share of what was liquidated.
    lab = max(labels, key=lambda x: x.burst_long_usd)
    own = Counter(e["venue"] for e in by_episode(events)[lab.episode_id])
    share = VENUE_SHARE[VENUES.index("binance-usdm")] / VENUE_SHARE[VENUES.index("bybit")]
    assert own["binance-usdm"] < 0.7 * share * own["bybit"]


def test_exchange_events_arrive_a_little_out_of_order_and_chain_events_late(month):
    cfg, events, labels = month
    exch = [e for e in events if e["type"] in ("liquidation", "trade_flow")]
    frontier, behind = 0, []
    for e in exch:
        end = e["ts"] + e.get("interval_ms", 0)
        behind.append(frontier - end)
        frontier = max(frontier, end)
    assert max(behind) <= cfg.jitter_ms + MINUTE  # a bar ends a minute after it starts
    assert sum(b > 0 for b in behind) > 100
    chain = [e["observed_ts"] - e["block_time"] for e in events if e["type"] == "whale_transfer"]
    assert min(chain) >= 10_000 and max(chain) <= 600_000 and max(chain) > 400_000


def test_duplicates_and_gaps(month):
    cfg, events, labels = month
    dup_rate = 1 - len(unique(events)) / len(events)
    assert 0.001 < dup_rate < 0.006
    bars = {(e["venue"], e["asset"], e["ts"]) for e in events if e["type"] == "trade_flow"}
    minutes = cfg.days * 1440
    missing = Counter((v, a) for v in VENUES for a in ("BTC", "ETH", "SOL", "XRP", "DOGE")
                      for i in range(minutes) if (v, a, cfg.start_ms + i * MINUTE) not in bars)
    total_missing = sum(missing.values())
    # About two gaps of 5-15 minutes a day per asset; never all venues at once for long.
    assert 5 * cfg.days * 5 < total_missing < 40 * cfg.days * 5
