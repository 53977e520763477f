"""Per-asset detector state and its snapshot: episodes, buffers, clock, learned floors.

A snapshot is a JSON-ready dict; `AssetState.from_dict(s.to_dict())` gives back an equal state
(the rolling window and the arrival clocks are rebuilt, not stored). The buffers are written as
compact columns (codec.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from pipeline.detect.clock import EventClock
from pipeline.detect.codec import decode_bars, decode_liqs, encode_bars, encode_liqs, pack, unpack
from pipeline.detect.etf import EtfLedger
from pipeline.detect.floors import FloorSketch
from pipeline.detect.leverage import LeverageBook
from pipeline.detect.market import LongBook, MarketBook
from pipeline.detect.windows import RollingWindow

WHALE = "whale_cascade"
UNEXPLAINED = "liquidation_cascade"
CONTAGION = "contagion_cascade"


@dataclass
class Episode:
    """A whale episode, a contagion watch (kind, linked_to; no deposit) or a cascade with no whale.
    Once decided it is kept a while for amendments (`published` is the last stage published)."""

    alert_id: str
    kind: str
    start: int  # deposit block time, link source time, or the cascade's first window end
    deadline: int  # watch stage: decided by this event time
    deposit: dict | None = None
    stage: str = "watch"
    published: str = "watch"
    revision: int = 0
    closed_at: int | None = None
    linked_to: dict | None = None
    evidence: dict | None = None
    sell: dict | None = None
    cascade: dict | None = None
    # whale selling, followed bar by bar
    ref: dict = field(default_factory=dict)  # venue -> [bar ts, close] of the last bar before the deposit
    low: dict = field(default_factory=dict)  # venue -> lowest low since the deposit
    buy_usd: float = 0.0
    sell_usd: float = 0.0
    net_low: float = 0.0  # the lowest net sell (sell - buy) since the deposit: where the selling starts from
    sell_start: int | None = None
    sigma: float | None = None  # one-minute volatility before the deposit
    fed_to: int = -1  # bars up to this time have been applied
    announced: bool = True  # a watch opened on an asset with no liquidation data yet is not announced

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "Episode":
        return cls(**d)


@dataclass
class CascadeState:
    """Where the cascade test has got to, and the burst under way (one alert per burst)."""

    judged_to: float = -1  # long-liquidation windows ending up to here have been judged
    active: dict | None = None  # {"alert_id", "start", "hot"}: the burst is over once quiet after `hot`
    shadow_until: int = -1  # minutes before this still hold the last burst in their window: not history
    thresholds: tuple | None = None  # (minute, [(threshold, info) per window]): not snapshotted
    price: tuple | None = None  # (minute, {window width: price break or None}): not snapshotted

    def to_dict(self) -> dict:
        return {"judged_to": self.judged_to, "active": self.active, "shadow_until": self.shadow_until}


@dataclass
class AssetState:
    asset: str
    clock: EventClock = field(default_factory=EventClock)
    bars: list = field(default_factory=list)  # sorted Bar
    liqs: list = field(default_factory=list)  # sorted Liq
    seen: dict = field(default_factory=dict)  # chain/ETF/link event_id -> event ts, for idempotence
    pending: list = field(default_factory=list)  # sorted [block ts, event_id, deposit]: decided behind the watermark
    links: list = field(default_factory=list)  # sorted [source ts, link fields]: applied behind the judging
    episodes: dict = field(default_factory=dict)  # alert_id -> open whale Episode
    linked: dict = field(default_factory=dict)  # alert_id -> open contagion watch
    done: dict = field(default_factory=dict)  # alert_id -> decided Episode, kept while late data may amend it
    closed: dict = field(default_factory=dict)  # whale alert_id -> ts: no second episode for one deposit
    cascade: CascadeState = field(default_factory=CascadeState)
    floors: FloorSketch | None = None  # the asset's history of long-window sums
    etf: EtfLedger = field(default_factory=EtfLedger)
    leverage: LeverageBook = field(default_factory=LeverageBook)
    market: MarketBook = field(default_factory=MarketBook)
    longs: LongBook = field(default_factory=LongBook)
    upstream: dict = field(default_factory=dict)  # source asset -> [decided up to, clock at arrival]
    progress_sent: int = -1
    stirs: list = field(default_factory=list)  # sorted [source ts, link fields]: a source's stirrings heard
    stir_sent: int = -1  # when this asset last told its targets it stirred
    outbox: list = field(default_factory=list)  # links made while judging, not sent yet (not snapshotted)
    watermark: float = -1
    windows: dict = field(default_factory=dict)  # window width -> RollingWindow, rebuilt from `liqs` on restore
    moved_to: float = -1  # the watermark of the last advance (not snapshotted: a restore re-advances)
    late: int = 0
    duplicates: int = 0

    def __post_init__(self) -> None:
        self.leverage.judging = self.etf.judging = self.judging

    def judging(self) -> float | None:
        """How far the asset's decisions have got (None: not started): the leverage book and the ETF
        ledger keep their rows relative to it, so what they read ahead is still there when the
        decisions get there."""
        if self.cascade.judged_to >= 0:
            return self.cascade.judged_to
        # No liquidations yet: the decisions (whale stages) are at the watermark.
        return self.moved_to if not self.liqs and self.moved_to >= 0 else None

    def to_dict(self) -> dict:
        return {
            "asset": self.asset, "clock": self.clock.to_dict(), "bars": encode_bars(self.bars),
            "liqs": encode_liqs(self.liqs),
            "seen": self.seen, "pending": self.pending, "links": self.links,
            "episodes": {k: e.to_dict() for k, e in self.episodes.items()},
            "linked": {k: e.to_dict() for k, e in self.linked.items()},
            "done": {k: e.to_dict() for k, e in self.done.items()}, "closed": self.closed,
            "cascade": self.cascade.to_dict(), "floors": self.floors.to_dict() if self.floors else None,
            "etf": self.etf.to_dict(), "leverage": self.leverage.to_dict(), "market": pack(self.market.rows),
            "longs": self.longs.rows,
            "upstream": self.upstream, "progress_sent": self.progress_sent, "watermark": self.watermark,
            "stirs": self.stirs, "stir_sent": self.stir_sent,
            "late": self.late, "duplicates": self.duplicates,
        }

    @classmethod
    def from_dict(cls, d: dict, days: int, quantile: float, widths: list[int]) -> "AssetState":
        st = cls(asset=d["asset"], clock=EventClock.from_dict(d["clock"]), bars=decode_bars(d["bars"]),
                 liqs=decode_liqs(d["liqs"]), seen=dict(d["seen"]), pending=[list(p) for p in d["pending"]],
                 closed=dict(d["closed"]), cascade=CascadeState(**d["cascade"]),
                 floors=FloorSketch(days, quantile, d["floors"]) if d.get("floors") else None,
                 etf=EtfLedger.from_dict(d["etf"]), market=MarketBook(unpack(d["market"])), longs=LongBook(d["longs"]),
                 upstream={k: [v[0], None] for k, v in d["upstream"].items()}, progress_sent=d["progress_sent"],
                 watermark=d["watermark"], late=d["late"], duplicates=d["duplicates"])
        st.leverage = LeverageBook.from_dict(d.get("leverage"))
        st.leverage.judging = st.etf.judging = st.judging
        st.links = [list(p) for p in d.get("links", [])]
        st.stirs, st.stir_sent = [list(p) for p in d.get("stirs", [])], d.get("stir_sent", -1)
        st.episodes = {k: Episode.from_dict(e) for k, e in d["episodes"].items()}
        st.linked = {k: Episode.from_dict(e) for k, e in d["linked"].items()}
        st.done = {k: Episode.from_dict(e) for k, e in d["done"].items()}
        st.windows = {w: RollingWindow.rebuild(st.liqs, st.cascade.judged_to, w) for w in widths}
        return st
