"""The episode report as one self-contained HTML page: summary, stages with their evidence, the ETF
context, the feeds' gaps and the chart as inline SVG. No script, font or stylesheet is fetched."""

from __future__ import annotations

import html

from rich.text import Text

from pipeline.report.data import Episode
from pipeline.sinks.render import alert_line, usd

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; } .sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .6rem; text-align: left; vertical-align: top; }
.stage-watch { color: #b8860b; } .stage-sell { color: #e07000; } .stage-cascade { color: #c0392b; font-weight: bold; }
.stage-expired { color: #7f8c8d; } .amended { background: #fdf2d0; } .chart svg { width: 100%; height: auto; }
.note { color: #666; font-size: .85rem; }
"""


def _usd(x: float | None) -> str:
    return usd(x, missing="-")


def _detail(alert: dict) -> str:
    """The alert's one-line text as the terminal shows it, without the stage, asset, time and id."""
    plain = Text.from_markup(alert_line(alert)).plain
    body = plain.split("] ", 1)[-1]
    return body.rsplit("  ", 1)[0]


def _evidence(alert: dict) -> str:
    ev = alert.get("evidence") or {}
    parts = []
    if ev.get("sampled_venues"):
        parts.append("sampled feeds (totals are a lower bound): " + ", ".join(ev["sampled_venues"]))
    if ev.get("gapped_markets"):
        parts.append("gaps in: " + ", ".join(ev["gapped_markets"]))
    return "; ".join(parts) or "complete feeds"


STORE_SOURCE = "the store (liquidations_1m, trade_flow_1m)"


def page(ep: Episode, svg: str, png_name: str, source: str = STORE_SOURCE) -> str:
    e = html.escape
    last = ep.last
    rows = []
    for s in ep.stages:
        rows.append(
            f'<tr class="stage stage-{e(s.stage)}{" amended" if s.amended else ""}" data-stage="{e(s.stage)}" '
            f'data-ts="{s.ts.isoformat()}"><td>{e(s.stage.upper())}</td><td>{s.ts:%Y-%m-%d %H:%M:%S}Z</td>'
            f'<td>{e(s.severity)}</td><td>{"r" + str(s.revision) + (" amended" if s.amended else "") if s.revision else "-"}</td>'
            f'<td>{e(_detail(s.alert))}</td><td>{e(_evidence(s.alert))}</td></tr>')
    etf = next((s.alert["etf_context"] for s in reversed(ep.stages) if s.alert.get("etf_context")), None)
    etf_html = ("<p>No ETF context for this asset.</p>" if not etf else
                f'<table id="etf"><tr><th>as of</th><th>last day</th><th>outflow streak</th><th>5 days</th><th>20 days</th></tr>'
                f'<tr><td>{e(str(etf.get("as_of_date", "-")))}</td><td>{_usd(etf.get("last_day_usd"))}</td>'
                f'<td>{etf.get("outflow_streak_days", 0)} days</td><td>{_usd(etf.get("sum_5d_usd"))}</td>'
                f'<td>{_usd(etf.get("sum_20d_usd"))}</td></tr></table>')
    gaps = "".join(f'<li class="gap">{e(v)}: {a:%H:%M:%S} to {b:%H:%M:%S}Z ({(b - a).total_seconds():.0f} s; its '
                   "liquidations in the gap are lost)</li>" for v, a, b in ep.gaps) or "<li>none reported</li>"
    dep = ep.deposit
    dep_html = (f"<p>Deposit: {dep.get('amount', 0):,.0f} {e(ep.asset)} ({_usd(dep.get('usd_value'))}) to "
                f"{e(str(dep.get('to_entity')))} at {ep.deposit_ts:%H:%M:%S}Z, tx <code>{e(str(dep.get('tx_hash', '-')))}</code></p>"
                if dep else "<p>No whale deposit before this episode.</p>")
    link = last.get("linked_to")
    if link and link.get("kind") == "stir":
        link_html = (f"<p>Linked to {e(link['asset'])}'s long liquidations, which stirred short of a cascade "
                     f"({_usd(link.get('long_notional_usd'))}) just before.</p>")
    else:
        link_html = (f"<p>Linked to the {e(link['asset'])} cascade <code>{e(link['alert_id'])}</code>.</p>"
                     if link else "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{e(ep.asset)} {e(last['stage'])}: {e(ep.alert_id)}</title>
<style>{CSS}</style></head>
<body>
<h1>{e(ep.asset)} {e(ep.kind.replace('_', ' '))}: reached {e(last['stage'])} [{e(last['severity'])}]</h1>
<p class="sub">alert <code>{e(ep.alert_id)}</code>, {ep.start:%Y-%m-%d %H:%M} to {ep.end:%H:%M} UTC</p>
{dep_html}{link_html}
<h2>Stages</h2>
<table id="stages"><tr><th>stage</th><th>time</th><th>severity</th><th>revision</th><th>what</th><th>evidence</th></tr>
{''.join(rows)}</table>
<h2>Chart</h2>
<div class="chart" id="chart">{svg}</div>
<p class="note">Per minute from {e(source)}. Dashed lines: the deposit and each stage.
Grey: feed gaps. Also as <a href="{e(png_name)}">{e(png_name)}</a>.</p>
<h2>ETF context</h2>
{etf_html}
<h2>Feed gaps during the episode</h2>
<ul id="gaps">{gaps}</ul>
</body></html>
"""
