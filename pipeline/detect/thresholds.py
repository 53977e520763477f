"""Thresholds of the cascade test: how large a window of long liquidations must be for this asset,
and the checks a window passing it must pass beside it.

`threshold` is the asset's own: its factor times the learned level of the window's width
(floors.py), raised on a young history, or the cold-start fallback (raised by what the asset has
already shown), and never below the optional USD floor. `watch_need` is the same inside a contagion
watch or a whale's selling, scaled down. The checks: enough long liquidations for the USD, spread
over more than one print, and longs leading the longer windows.
"""

from __future__ import annotations

import math

from pipeline.detect.config import MINUTE, DetectorConfig
from pipeline.detect.floors import key, top_key
from pipeline.detect.state import AssetState
from pipeline.detect.windows import RollingWindow


def threshold(cfg: DetectorConfig, st: AssetState, width: int, factor: float, ts: int) -> tuple[float, dict]:
    """The asset's cascade threshold for windows of `width` at `ts`, and how it was set (`info` also
    holds `count_needed`, the long liquidations the window must hold)."""
    levels, minutes = st.floors.level_at(ts)
    level, level_n = levels.get(key("usd", width)), levels.get(key("n", width))
    young, guess = 1.0, None
    if level is None or minutes * MINUTE < cfg.floor_min_history_ms:
        usd, source, count = cfg.cold_floor(st.asset, width), "cold_start", cfg.cascade_min_count
        top = levels.get(top_key(key("usd", width)))
        if top is not None and cfg.cold_top_factor > 0 and minutes * MINUTE >= cfg.cold_top_min_ms:
            # The fallback is a guess; what the asset has already shown outweighs it: above it, and for
            # the long window below it too, down to a fraction of it.
            frac = cfg.cold_long_floor_fraction if width == cfg.level_window_ms else 1.0
            mine = max(cfg.cold_top_factor * top, frac * usd)
            if mine != usd:
                guess, usd, source = usd, mine, "cold_start+top"
    else:
        young = cfg.young_factor(minutes * MINUTE)
        usd, source = factor * young * level, "learned"
        count = max(cfg.cascade_min_count, math.ceil(cfg.floor_count_factor * (level_n or 0)))
    floor = cfg.usd_floor(st.asset)
    info = {"floor_source": source, "history_minutes": minutes,
            "floor_level_usd": round(level, 2) if level is not None else None, "count_needed": count}
    if source == "learned" and young > 1.0:
        info["young_factor"] = round(young, 3)
    if guess is not None:
        info["cold_floor_usd"] = round(max(guess, floor), 2)
    if floor > usd:
        usd, info["floor_source"] = floor, f"{source}+usd_floor"
    return usd, info


def watch_need(cfg: DetectorConfig, need: float, info: dict, factor: float | None = None) -> float:
    """A threshold inside a contagion watch (or a whale's sell stage, with its own `factor`): scaled by
    `contagion_threshold_factor`, without the raise for a young history (the source's cascade is
    reason enough to look closer). A cold-start floor is a guess at the asset's ordinary: it is scaled
    by the square root of the factor only (half, not a quarter), as a quarter of a guess is noise; one
    raised by the history's largest window so far starts from the guess again."""
    factor = cfg.contagion_threshold_factor if factor is None else factor
    if info["floor_source"] != "learned":
        return min(need, info.get("cold_floor_usd", need)) * math.sqrt(factor)
    return need * factor / cfg.young_factor(info["history_minutes"] * MINUTE)


def enough_count(cfg: DetectorConfig, n: int, count: int, usd: float, need: float) -> bool:
    """Enough long liquidations in a window whose USD passed its threshold: `count`, scaled down as the
    USD goes past `need` (a window twice over its threshold needs half as many), and never fewer than
    `cascade_min_count`. A few large prints just over the threshold fail; a crash of large ones does not."""
    return n >= cfg.cascade_min_count and n * usd >= count * need


def spread(cfg: DetectorConfig, w: RollingWindow, need: float) -> bool:
    """The window still holds `cascade_rest_fraction` of its threshold without its largest long
    liquidation: one position closed in one print, however large, is not a chain of them."""
    return w.long_usd - w.largest_long_usd() >= cfg.cascade_rest_fraction * need


def longs_lead(cfg: DetectorConfig, windows, width: int) -> bool:
    """Longs are at least `cascade_context_long_share` of every window longer than `width`: the long
    tail of a short squeeze, or the longs caught on its way back down, are not a long cascade while
    the squeeze still dominates the recent liquidations."""
    least = cfg.cascade_context_long_share
    return all(w.long_share() >= least for w in windows if w.width > width and w.long_c + w.short_c)
