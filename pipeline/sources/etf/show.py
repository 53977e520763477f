"""`etf show`: the last trading days per fund and in total, and the context figures, as known at a time."""

from __future__ import annotations

import datetime as dt
import sys

from rich.console import Console
from rich.table import Table

from pipeline.contracts.models import EtfFlow
from pipeline.detect.etf import TOTAL_FUND, EtfLedger


def ledger_for(events: list[dict], asset: str) -> EtfLedger:
    led = EtfLedger(keep_days=10_000)
    for e in events:
        if e.get("asset") == asset:
            led.add(EtfFlow.model_validate(e))
    return led


def stored_events(store, asset: str) -> list[dict]:
    """Every stored version of the asset's figures, as etf_flow events."""
    if not asset.isalnum():
        raise ValueError(f"not an asset: {asset!r}")
    _, rows = store.query(
        "SELECT event_id, toString(date), fund, asset, net_flow_usd, toUnixTimestamp64Milli(published_ts), source "
        f"FROM {{db}}.etf_flows FINAL WHERE asset = '{asset}'")
    keys = ("event_id", "date", "fund", "asset", "net_flow_usd", "published_ts", "source")
    return [{"type": "etf_flow", **dict(zip(keys, r))} for r in rows]


def as_of_ms(text: str | None, now_ms: int) -> int:
    """A date means the end of that UTC day; a time is taken as it is (UTC if no zone)."""
    if not text:
        return now_ms
    if len(text) == 10:
        day = dt.date.fromisoformat(text)
        return int(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.timezone.utc).timestamp() * 1000)
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int((t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).timestamp() * 1000)


def report(led: EtfLedger, asset: str, at_ms: int, days: int) -> dict:
    known = led.funds_at(at_ms)[:days]
    size: dict[str, float] = {}
    for _, fs in known:
        for f, v in fs.items():
            if f != TOTAL_FUND:
                size[f] = size.get(f, 0.0) + abs(v)
    funds = sorted(size, key=lambda f: (-size[f], f))  # the funds that moved the most first
    return {"asset": asset, "as_of_ms": at_ms, "context": led.context(at_ms), "funds": funds,
            "days": [{"date": d, "funds": {f: fs[f] for f in funds if f in fs},
                      "reported_total_usd": fs.get(TOTAL_FUND), "total_usd": round(led.day_total(fs), 2)}
                     for d, fs in known]}


def _m(usd: float | None) -> str:
    if usd is None:
        return "-"
    m = usd / 1e6
    return f"({abs(m):,.1f})" if m < 0 else f"{m:,.1f}"


def render(rep: dict, console: Console) -> None:
    table = Table(title=f"{rep['asset']} spot-ETF net flows, US$ millions (outflows in brackets)")
    table.add_column("date", no_wrap=True)
    for f in rep["funds"]:
        table.add_column(f, justify="right", no_wrap=True)
    table.add_column("Total", justify="right", style="bold", no_wrap=True)
    for day in reversed(rep["days"]):
        style = "red" if day["total_usd"] < 0 else None
        table.add_row(day["date"], *(_m(day["funds"].get(f)) for f in rep["funds"]), _m(day["total_usd"]), style=style)
    console.print(table)
    ctx = rep["context"]
    if ctx is None:
        console.print("no figures published before this time")
        return
    if ctx["outflow_streak_days"]:
        streak = f"{ctx['outflow_streak_days']} outflow days"
    elif ctx["inflow_streak_days"]:
        streak = f"{ctx['inflow_streak_days']} inflow days"
    else:
        streak = "none (latest day flat)"
    z = "n/a (fewer than 5 prior days)" if ctx["zscore"] is None else f"{ctx['zscore']:+.2f}"
    console.print(f"as of {dt.datetime.fromtimestamp(rep['as_of_ms'] / 1000, dt.timezone.utc):%Y-%m-%d %H:%M}Z, "
                  f"latest day {ctx['as_of_date']}: streak {streak}; 5-day sum ${ctx['sum_5d_usd'] / 1e6:,.1f}M; "
                  f"20-day sum ${ctx['sum_20d_usd'] / 1e6:,.1f}M; z-score of the latest day vs the prior 20: {z}")


def whole_console(stderr: bool = False) -> Console:
    """A console that prints whole lines and tables when it is not a terminal (no truncated cells)."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=100_000, soft_wrap=True)
