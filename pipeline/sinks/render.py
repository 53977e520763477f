"""One-line rich rendering of an alert, and the console it is printed on."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import IO

from rich.console import Console
from rich.markup import escape


def _e(text: object) -> str:
    """A name that came with the input (a venue, an exchange, a token): printed as it is, never read as markup."""
    return escape(str(text))


_STYLE = {"watch": "yellow", "sell": "dark_orange", "cascade": "bold red", "expired": "dim"}


def terminal_console(file: IO[str] | None = None, *, stderr: bool = False) -> Console:
    """A console for command output (`stderr`: for messages): on a terminal, rich as usual; piped or
    redirected, lines are never wrapped (one alert, one line) and no styling codes are written."""
    stream = file or (sys.stderr if stderr else sys.stdout)
    if stream.isatty():
        return Console(file=file, stderr=stderr)
    return Console(file=file, stderr=stderr, soft_wrap=True, width=10_000, no_color=True, highlight=False)


def usd(x: float | None, missing: str = "?") -> str:
    """A dollar figure as people read it: $1.36B, $434.62M, $750.00k."""
    if x is None:
        return missing
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"${x / div:,.2f}{unit}"
    return f"${x:,.0f}"


def leverage_text(lev: dict) -> str:
    """'OI $30.52B (p100 30d, +9.5% 24h, price +0.0%: building), funding z 8.6; OI flushed $1.20B (-3.9%)'"""
    parts = [f"OI {usd(lev['open_interest_usd'])}"]
    inner = []
    if lev.get("oi_percentile_30d") is not None:
        inner.append(f"p{100 * lev['oi_percentile_30d']:.0f} 30d")
    if lev.get("oi_change_24h_pct") is not None:
        inner.append(f"{lev['oi_change_24h_pct']:+.1f}% 24h")
        if lev.get("price_change_24h_pct") is not None:
            inner.append(f"price {lev['price_change_24h_pct']:+.1f}%" + (": building" if lev.get("building") else ""))
    if inner:
        parts[0] += f" ({', '.join(inner)})"
    if lev.get("funding_zscore") is not None:
        parts.append(f"funding z {lev['funding_zscore']:.1f}")
    text = ", ".join(parts)
    flush = lev.get("flush")
    if flush:
        text += f"; OI flushed {usd(flush['drop_usd'])} ({-flush['drop_pct']:+.1f}%)"
    return text


def alert_line(a: dict) -> str:
    when = datetime.fromtimestamp(a["ts"] / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    stage = a["stage"]
    dep = a.get("deposit") or {}
    head = f"[{_STYLE.get(stage, '')}]{stage.upper():8}[/] {a['asset']:4} {when}Z \\[{a['severity']}]"
    if a.get("amended"):
        head += f" [bold]AMENDED r{a.get('revision', 1)}[/]"
    link = a.get("linked_to")
    if stage == "watch" and link:
        body = f"contagion watch: {link['asset']} cascade ({usd(link.get('long_notional_usd'))} of longs)"
    elif stage == "watch":
        moved = dep.get("token") or a["asset"]  # a wrapped coin (WBTC) is named as it moved
        body = (f"deposit {dep.get('amount') or 0:,.0f} {_e(moved)} ({usd(dep['usd_value'])}) -> "
                f"{_e(dep.get('to_entity'))}")
    elif stage == "sell":
        s = a["sell"]
        body = (f"net taker sell {usd(s['net_sell_usd'])}, price -{s['drop_pct']:.2f}% on {_e(s['venue'])} "
                f"({s['minutes_after_deposit']:.1f} min after deposit)")
    elif stage == "cascade":
        c = a["cascade"]
        body = (f"long liquidations {usd(c['long_notional_usd'])} in {c['window_ms'] // 60000} min "
                f"({c['long_share']:.0%} longs, {_e(', '.join(c['venues']))}, {c['completeness']})")
        peak = c.get("peak")
        if peak:
            body += f", peak {usd(peak['long_notional_usd'])} in {peak['window_ms'] // 60000} min"
        if c.get("threshold_usd") is not None:
            body += f" \\[threshold {usd(c['threshold_usd'])}, {str(c.get('floor_source', '')).replace('_', ' ')}]"
        if a.get("kind") == "liquidation_cascade":
            body += ", no whale deposit before it"
        elif link and link.get("kind") == "stir":
            body += f", after {link['asset']}'s long liquidations stirred ({usd(link.get('long_notional_usd'))})"
        elif link:
            body += f", linked to the {link['asset']} cascade"
        gapped = (a.get("evidence") or {}).get("gapped_markets")
        if gapped:
            body += f"; gaps in {_e(', '.join(gapped))}"
    else:
        body = f"stopped at stage {a.get('reached')}" + (" (deposit retracted)" if a.get("retracted") else "")
    etf = a.get("etf_context")
    if etf and stage != "expired":
        body += f"; ETF {etf['outflow_streak_days']}d outflow streak, 5d {usd(etf['sum_5d_usd'])}"
    lev = (a.get("evidence") or {}).get("leverage")
    if lev and stage != "expired":
        body += f"; {leverage_text(lev)}"
    return f"{head} {body}  [dim]{_e(a['alert_id'])}[/]"
