"""What one advance of an asset's watermark decides, in event-time order: deposits due, closing
bars, contagion links, the ends of episodes and watches, and the cascade test between them.

However far one advance moves the watermark, the decisions are those of many small advances: a
backlog read while the wall clock stands still holds the watermark behind a silent feed, then moves
it hours at once, and must not let a deposit join an episode that ended before it.
"""

from __future__ import annotations

import heapq
import math

from pipeline.detect import cascades, contagion, whale
from pipeline.detect.config import DetectorConfig
from pipeline.detect.state import AssetState


def decide(cfg: DetectorConfig, st: AssetState, watermark: float, gate: float, alerts: list) -> None:
    """Apply what the watermark has passed, in event-time order: deposits due, selling, the
    cascade test (no further than the contagion sources have judged), expiries."""
    judged = min(watermark, gate)
    if st.pending or st.episodes or st.links or st.linked:
        # A burst that began before a deposit, or inside the bar that shows the selling, is judged
        # first; a link is applied where the judging reaches its source's time.
        times = set(whale.decision_times(st, watermark, judged))
        if st.links:
            times.update(contagion.due_times(st, judged))
        times.update(_expiries(cfg, st, judged))
        queue = sorted(times)
        heapq.heapify(queue)
        while queue:
            at = heapq.heappop(queue)
            if st.liqs:  # an asset with no liquidations yet has no history to start here
                cascades.judge(cfg, st, min(at, judged), alerts)
            if at <= judged:
                contagion.apply_due(cfg, st, at, alerts)
                # No further than the cascade test: a deposit is not opened into a crash already under
                # way, which only the cascade test, held back by the contagion sources, can tell.
                whale.open_due(cfg, st, at, alerts)
            whale.follow(cfg, st, at, alerts)
            if at <= judged:
                whale.expire_due(cfg, st, at, alerts)
                contagion.expire_due(cfg, st, at, alerts)
            # An episode opened, or selling that started, sets a new end: decided in its turn too.
            for t in _expiries(cfg, st, judged):
                if t > at and t not in times:
                    times.add(t)
                    heapq.heappush(queue, t)
    cascades.judge(cfg, st, judged, alerts)
    if watermark != math.inf:
        if st.episodes:
            whale.expire_due(cfg, st, judged, alerts)  # an episode may still end in a cascade not judged yet
        if st.linked:
            contagion.expire_due(cfg, st, judged, alerts)


def _expiries(cfg: DetectorConfig, st: AssetState, judged: float) -> list[int]:
    """When each open episode and contagion watch ends, up to `judged`: the first time past its end."""
    ends = [whale.ends_at(cfg, ep) + 1 for ep in st.episodes.values()]
    ends += [ep.deadline + 1 for ep in st.linked.values()]
    return [t for t in ends if t <= judged]
