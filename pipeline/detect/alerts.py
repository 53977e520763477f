"""Alerts out of episodes: ids, severity, ETF and leverage context, and the Alert model itself."""

from __future__ import annotations

import hashlib

from pipeline.contracts.models import Alert
from pipeline.detect import leverage
from pipeline.detect.config import DetectorConfig
from pipeline.detect.state import AssetState, Episode

SEVERITY = ("info", "warning", "high", "critical")
_LEVEL = {"watch": 0, "sell": 1, "cascade": 2, "expired": 0}


def alert_id_for(asset: str, key: str) -> str:
    """A stable id: the same deposit (or cascade start, or link) always gives the same alert id."""
    return hashlib.sha256(f"{asset}|{key}".encode()).hexdigest()[:20]


def render(cfg: DetectorConfig, st: AssetState, ep: Episode, stage: str, ts: int, **extra) -> Alert:
    etf = st.etf.context(ts)
    level = _LEVEL[stage]
    if stage == "cascade" and ep.cascade and ep.cascade.get("peak", ep.cascade)["long_notional_usd"] >= \
            cfg.critical_factor * ep.cascade.get("threshold_usd", float("inf")):
        level = 3
    lev = leverage.for_alert(cfg, st.leverage, ts, ep.cascade if stage == "cascade" else None, ep.evidence, ep.start)
    if stage != "expired":
        level = etf_adjusted(cfg, level, etf)
        level = leverage.adjusted(cfg, level, lev)
    evidence = ep.evidence if lev is None else {**(ep.evidence or {}), "leverage": lev}
    return Alert(alert_id=ep.alert_id, kind=ep.kind, asset=st.asset, stage=stage, reached=ep.stage, ts=ts,
                 deposit=ep.deposit, sell=ep.sell, cascade=ep.cascade, etf_context=etf,
                 severity=SEVERITY[max(0, min(level, 3))], revision=ep.revision, evidence=evidence,
                 linked_to=ep.linked_to, **extra)


def etf_adjusted(cfg: DetectorConfig, level: int, etf: dict | None) -> int:
    """ETF flows raise or lower severity by one level; they never trigger."""
    if etf is not None:
        if etf["outflow_streak_days"] >= cfg.etf_outflow_streak_days or etf["sum_5d_usd"] <= cfg.etf_sum5_raise_usd:
            level += 1
        elif etf["sum_5d_usd"] >= cfg.etf_sum5_lower_usd:
            level -= 1
    return max(0, min(level, 3))


def publish(cfg: DetectorConfig, st: AssetState, ep: Episode, stage: str, ts: int, alerts: list,
            amended: bool = False) -> None:
    """A decision: the alert, and the episode kept for amendments while its evidence is buffered."""
    if amended:
        ep.revision += 1
    ep.published, ep.closed_at = stage, ts
    alerts.append(render(cfg, st, ep, stage, ts, amended=amended))
    st.done[ep.alert_id] = ep
