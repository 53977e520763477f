"""Alert lines printed by the commands' console stay one line each when stdout is not a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
from pipeline.cli import console
from pipeline.sinks.render import alert_line
alert = {"alert_id": "BTC:bitcoin:" + "ab" * 32 + ":0", "asset": "BTC", "stage": "cascade", "kind": "whale_cascade",
         "severity": "critical", "ts": 1756070664000, "deposit": {"amount": 24000, "usd_value": 2.76e9, "to_entity": "binance"},
         "cascade": {"long_notional_usd": 5.003e7, "window_ms": 300000, "long_share": 0.89, "completeness": "sampled",
                     "venues": ["binance-usdm", "bybit", "okx"]},
         "evidence": {"gapped_markets": ["okx/BTC-USDT-SWAP"]},
         "etf_context": {"outflow_streak_days": 6, "sum_5d_usd": -1.36e9}}
for _ in range(3):
    console.print(alert_line(alert))
"""


def test_alert_lines_do_not_wrap_when_piped():
    out = subprocess.run([sys.executable, "-c", SCRIPT], env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "80"},
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 3 and len(set(lines)) == 1
    line = lines[0]
    assert len(line) > 160 and "\x1b[" not in line
    assert line.startswith("CASCADE  BTC  2025-08-24 21:24:24Z [critical] long liquidations $50.03M in 5 min")
    assert line.endswith("BTC:bitcoin:" + "ab" * 32 + ":0")


def test_alert_line_shows_the_leverage_build_up_and_flush():
    from pipeline.sinks.render import alert_line

    lev = {"open_interest_usd": 30.52e9, "oi_percentile_30d": 1.0, "oi_change_24h_pct": 9.5,
           "price_change_24h_pct": 0.0, "building": True, "funding_zscore": 8.6,
           "flush": {"drop_usd": 963.93e6, "drop_pct": 3.2}}
    a = {"alert_id": "x", "asset": "BTC", "stage": "cascade", "ts": 1_756_069_330_000, "severity": "critical",
         "kind": "whale_cascade", "cascade": {"long_notional_usd": 5.4e6, "window_ms": 300_000, "long_share": 0.93,
                                              "venues": ["bybit"], "completeness": "full"},
         "evidence": {"leverage": lev}}
    line = alert_line(a)
    assert "OI $30.52B (p100 30d, +9.5% 24h, price +0.0%: building), funding z 8.6; OI flushed $963.93M (-3.2%)" in line
    assert "OI" not in alert_line({**a, "evidence": None})


def test_alert_line_names_what_a_contagion_is_linked_to():
    from pipeline.sinks.render import alert_line

    a = {"alert_id": "x", "asset": "ETH", "stage": "cascade", "ts": 1_756_069_330_000, "severity": "high",
         "kind": "contagion_cascade", "cascade": {"long_notional_usd": 4.5e6, "window_ms": 300_000, "long_share": 1.0,
                                                  "venues": ["bybit", "okx"], "completeness": "full"}}
    cascade = {"alert_id": "abc", "asset": "BTC", "ts": 1_756_069_000_000, "kind": "liquidation_cascade",
               "long_notional_usd": 6e7}
    stir = {"alert_id": "stir:BTC:1756069000000", "asset": "BTC", "ts": 1_756_069_000_000, "kind": "stir",
            "long_notional_usd": 2.4e6}
    assert ", linked to the BTC cascade" in alert_line({**a, "linked_to": cascade})
    assert ", after BTC's long liquidations stirred ($2.40M)" in alert_line({**a, "linked_to": stir})


def test_names_from_the_input_are_printed_as_they_are_never_read_as_markup():
    """A venue, an exchange or a market named with brackets (the input decides them) neither breaks the line
    (rich's MarkupError would stop `alerts follow`) nor styles it."""
    from pipeline.sinks.alerts import plain_text

    a = {"alert_id": "BTC:[bold]x", "asset": "BTC", "stage": "cascade", "ts": 1_756_069_330_000, "severity": "high",
         "kind": "whale_cascade", "cascade": {"long_notional_usd": 5.4e6, "window_ms": 300_000, "long_share": 0.93,
                                              "venues": ["okx[/]", "bybit"], "completeness": "full"},
         "evidence": {"gapped_markets": ["[red]okx/BTC"]}}
    text = plain_text(a)
    assert "okx[/], bybit" in text and "gaps in [red]okx/BTC" in text and text.endswith("BTC:[bold]x")
    dep = {"stage": "watch", "deposit": {"amount": 5000, "usd_value": 5.5e8, "to_entity": "[/dim]binance",
                                         "token": "W[BTC]"}}
    assert "deposit 5,000 W[BTC] ($550.00M) -> [/dim]binance" in plain_text({**a, **dep})
