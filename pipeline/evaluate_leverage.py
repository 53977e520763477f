"""Does the leverage context tell true cascades from look-alikes? Figures for `cascadewatch evaluate`.

For the cascade alerts that matched an episode and for the false ones, from each alert's first
revision: how many carried leverage context, how many the context called loaded (severity raised:
two of open interest high for its 30 days, built up over 24 h without the price, funding far above
normal), how many it called unloaded (lowered), and the median figures. A context that separates
would show most true cascades loaded and few false alerts.
"""

from __future__ import annotations

import statistics

from pipeline.detect.config import DetectorConfig
from pipeline.detect.leverage import adjusted


def separation(true_ids: set[str], false_ids: set[str], alerts: list[dict], cfg: DetectorConfig) -> list[dict]:
    first: dict[str, dict] = {}
    for a in alerts:
        if a.get("stage") == "cascade" and a.get("revision", 0) <= first.get(a["alert_id"], {}).get("revision", 99):
            first[a["alert_id"]] = a
    return [_row(name, [first[i] for i in ids if i in first], cfg)
            for name, ids in (("true cascades", true_ids), ("false alerts", false_ids))]


def _row(name: str, alerts: list[dict], cfg: DetectorConfig) -> dict:
    ctxs = [(a.get("evidence") or {}).get("leverage") for a in alerts]
    ctxs = [c for c in ctxs if c]
    moved = [adjusted(cfg, 1, c) - 1 for c in ctxs]

    def median(key: str, sub: str | None = None) -> float | None:
        xs = [(c.get(key) or {}).get(sub) if sub else c.get(key) for c in ctxs]
        xs = [x for x in xs if x is not None]
        return round(statistics.median(xs), 3) if xs else None

    share = (lambda n: round(n / len(ctxs), 3) if ctxs else None)
    return {"group": name, "alerts": len(alerts), "with_context": len(ctxs),
            "loaded_share": share(sum(m > 0 for m in moved)), "unloaded_share": share(sum(m < 0 for m in moved)),
            "building_share": share(sum(bool(c.get("building")) for c in ctxs)),
            "median_oi_percentile": median("oi_percentile_30d"), "median_funding_z": median("funding_zscore"),
            "median_oi_change_24h_pct": median("oi_change_24h_pct"), "median_flush_pct": median("flush", "drop_pct")}
