"""The episode chart (matplotlib): price, net taker flow and stacked long/short liquidations per
minute, with the deposit and every stage as markers and the feeds' gaps shaded.

Markers and gaps carry ids (matplotlib's `gid`), so in the SVG they are elements a browser, a test
or a stylesheet can find: `marker-deposit`, `marker-<stage>`, `label-<stage>`, `gap-<n>`.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display: files only

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from pipeline.report.data import Episode  # noqa: E402

STAGE_COLORS = {"watch": "#d4a017", "sell": "#e07000", "cascade": "#c0392b", "expired": "#7f8c8d"}
MINUTE = 1 / 1440  # matplotlib date units are days


def figure(ep: Episode):
    fig, (ax_price, ax_flow, ax_liq) = plt.subplots(
        3, 1, figsize=(12, 9), sharex=True, gridspec_kw={"height_ratios": [2, 1, 1.4]}, layout="constrained")
    fig.suptitle(f"{ep.asset} {ep.kind.replace('_', ' ')}  {ep.alert_id}", fontsize=13, ha="left", x=0.01)

    for venue, points in sorted(ep.price.items()):
        ax_price.plot([t for t, _ in points], [p for _, p in points], lw=1.2, label=venue)
    ax_price.set_ylabel("price (USD, close per minute)")
    if ep.price:
        ax_price.legend(loc="lower left", fontsize=8)

    times = [t for t, _ in ep.net_flow]
    flows = [v / 1e6 for _, v in ep.net_flow]
    ax_flow.bar(times, flows, width=MINUTE, color=["#27ae60" if v >= 0 else "#c0392b" for v in flows], align="edge")
    ax_flow.axhline(0, color="#555", lw=0.6)
    ax_flow.set_ylabel("net taker flow\n(buy - sell, $M)")

    times = [t for t, _, _ in ep.liquidations]
    longs = [lo / 1e6 for _, lo, _ in ep.liquidations]
    shorts = [sh / 1e6 for _, _, sh in ep.liquidations]
    ax_liq.bar(times, longs, width=MINUTE, color="#c0392b", align="edge", label="longs liquidated")
    ax_liq.bar(times, shorts, width=MINUTE, bottom=longs, color="#2980b9", align="edge", label="shorts liquidated")
    ax_liq.set_ylabel("liquidations ($M)")
    ax_liq.legend(loc="upper left", fontsize=8)

    for n, (venue, start, end) in enumerate(ep.gaps):
        for ax in (ax_price, ax_flow, ax_liq):
            ax.axvspan(start, end, color="#999", alpha=0.25, gid=f"gap-{n}" if ax is ax_price else None)
        ax_price.annotate(f"{venue} gap", (start, 1), xycoords=("data", "axes fraction"), fontsize=7, va="top", color="#555")

    markers = ([("deposit", ep.deposit_ts, "#8e44ad")] if ep.deposit_ts else []) + [
        (s.stage, s.ts, STAGE_COLORS.get(s.stage, "#333")) for s in ep.stages]
    for stage, ts, color in markers:
        for ax in (ax_price, ax_flow, ax_liq):
            ax.axvline(ts, color=color, lw=1.4, ls="--", gid=f"marker-{stage}" if ax is ax_price else None)
        ax_price.annotate(stage.upper(), (ts, 1.0), xycoords=("data", "axes fraction"), xytext=(2, -2),
                          textcoords="offset points", rotation=90, va="top", fontsize=8, color=color,
                          fontweight="bold", gid=f"label-{stage}")

    ax_liq.set_xlim(ep.start, ep.end)
    ax_liq.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz="UTC"))
    ax_liq.set_xlabel(f"{ep.start:%Y-%m-%d} (UTC)")
    for ax in (ax_price, ax_flow, ax_liq):
        ax.grid(alpha=0.25)
    return fig


def render(ep: Episode) -> tuple[str, bytes]:
    """(SVG text, PNG bytes) of the episode chart."""
    fig = figure(ep)
    try:
        svg, png = io.StringIO(), io.BytesIO()
        fig.savefig(svg, format="svg")
        fig.savefig(png, format="png", dpi=110)
    finally:
        plt.close(fig)
    text = svg.getvalue()
    return text[text.index("<svg"):], png.getvalue()
