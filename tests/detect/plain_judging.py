"""The cascade test's judging loop written plainly, as a reference for the one in cascades.py: every
liquidation pushed into each window on its own, and `_judge_at` asked for every long liquidation
(cascades.judge holds them against the cached thresholds first)."""

from __future__ import annotations

from pipeline.detect import cascades
from pipeline.detect.buffers import upto
from pipeline.detect.config import MINUTE
from pipeline.detect.floors import FloorSketch
from pipeline.detect.windows import RollingWindow


def judge(cfg, st, upto_ts, alerts) -> None:
    if not st.windows:
        for width, _ in cfg.windows():
            st.windows[width] = RollingWindow(width)
    if st.floors is None:
        st.floors = FloorSketch(cfg.floor_history_days, cfg.floor_quantile)
    cs, liqs, sk = st.cascade, st.liqs, st.floors
    if upto_ts <= cs.judged_to:
        return
    for liq in liqs[upto(liqs, cs.judged_to):upto(liqs, upto_ts)]:
        minute = liq.ts - liq.ts % MINUTE
        if sk.minute is None or sk.minute < minute:
            cascades._minutes_before(cfg, st, minute)
        for w in st.windows.values():
            w.push(liq)
        cs.judged_to = liq.ts
        if liq.side == "long":
            cascades._judge_at(cfg, st, liq.ts, alerts)
    if upto_ts != float("inf"):
        cs.judged_to = upto_ts
        cascades._minutes_before(cfg, st, int(upto_ts) - int(upto_ts) % MINUTE)
