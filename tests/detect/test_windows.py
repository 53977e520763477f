"""The rolling window of judged liquidations: its incremental sums and venue sets equal a count
over the liquidations inside it, after every push and after a rebuild."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.detect.buffers import Liq
from pipeline.detect.windows import RollingWindow, push_each

WIDTH = 60_000
liquidation = st.tuples(st.integers(0, 20_000), st.sampled_from(["long", "short"]),
                        st.sampled_from(["binance-usdm", "bybit", "okx"]),
                        st.sampled_from(["full", "sampled", "partial", ""]), st.integers(0, 10**12))


def rows_of(raw) -> list[Liq]:
    rows, ts = [], 0
    for i, (step, side, venue, completeness, cents) in enumerate(raw):
        ts += step
        rows.append(Liq(ts, f"id{i}", side, venue, completeness, cents))
    return rows


def expected(inside: list[Liq]) -> dict:
    longs = [r for r in inside if r.side == "long"]
    return {"long_c": sum(r.cents for r in longs), "long_usd": sum(r.cents for r in longs) / 100, "short_c": sum(r.cents for r in inside if r.side != "long"),
            "long_n": len(longs), "venues": sorted({r.venue for r in longs}),
            "sampled": sorted({r.venue for r in inside if r.completeness not in ("full", "")})}


def seen(w: RollingWindow) -> dict:
    return {"long_c": w.long_c, "long_usd": w.long_usd, "short_c": w.short_c, "long_n": w.long_n, "venues": sorted(w.long_venues),
            "sampled": sorted(w.sampled)}


@settings(max_examples=200, deadline=None)
@given(st.lists(liquidation, min_size=1, max_size=80))
def test_sums_and_venues_equal_a_count_of_the_rows_inside(raw):
    rows = rows_of(raw)
    w = RollingWindow(WIDTH)
    for i, row in enumerate(rows):
        w.push(row)
        inside = [r for r in rows[:i + 1] if r.ts > row.ts - WIDTH]
        assert list(w.rows) == inside
        assert seen(w) == expected(inside)
    figures = w.figures()
    inside = list(w.rows)
    assert figures["liquidation_count"] == len(inside) and figures["window_end"] == rows[-1].ts
    assert figures["venues"] == expected(inside)["venues"]
    assert figures["sampled_venues"] == expected(inside)["sampled"]
    assert figures["completeness"] == ("sampled" if expected(inside)["sampled"] else "full")


@settings(max_examples=100, deadline=None)
@given(st.lists(liquidation, min_size=1, max_size=60), st.integers(0, 400_000))
def test_a_rebuilt_window_holds_what_pushing_up_to_its_end_holds(raw, end):
    rows = rows_of(raw)
    rebuilt = RollingWindow.rebuild(rows, end, WIDTH)
    inside = [r for r in rows if end - WIDTH < r.ts <= end]
    assert list(rebuilt.rows) == inside and seen(rebuilt) == expected(inside)


def test_an_empty_window():
    w = RollingWindow(WIDTH)
    assert w.long_usd == 0 and w.long_share() == 0.0 and w.long_venues == [] and w.sampled == []
    assert w.figures()["window_end"] is None and w.figures()["completeness"] == "full"


@settings(max_examples=200, deadline=None)
@given(st.lists(liquidation, min_size=1, max_size=80), st.lists(st.integers(1, 5), min_size=1, max_size=3))
def test_pushing_several_windows_at_once_is_pushing_each(raw, widths):
    """The judging loop pushes all of an asset's windows in one call: after every row, each window holds
    what its own pushes give, and a count over the rows inside it."""
    rows = rows_of(raw)
    together = tuple(RollingWindow(k * WIDTH // 2) for k in widths)
    alone = [RollingWindow(k * WIDTH // 2) for k in widths]
    for i, row in enumerate(rows):
        push_each(together, row)
        for a, w in zip(alone, together):
            a.push(row)
            assert seen(w) == seen(a) and list(w.rows) == list(a.rows) and w.edge == a.edge
            assert seen(w) == expected([r for r in rows[: i + 1] if r.ts > row.ts - w.width])
