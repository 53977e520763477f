"""Detector settings. Cascade floors are learned per asset from its own liquidation history; the
numbers here are how extreme a window must be relative to that history, and the cold-start
fallbacks used until enough history is seen (docs/detection.md explains each choice).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


class DetectorConfig(BaseModel):
    # -- whale deposits ---------------------------------------------------------------------
    assets: list[str] = Field(["BTC", "ETH"], description="Assets whose exchange deposits open whale episodes "
                              "(the chains the watchers follow; the Ethereum watcher publishes WBTC, cbBTC and "
                              "WETH as BTC and ETH)")
    deposit_min_usd: dict[str, float] = Field(
        {"BTC": 50e6, "ETH": 15e6}, description="Smallest exchange inflow (USD) that opens an episode, per asset")
    deposit_min_usd_default: float = 50e6
    deposit_min_volume_share: float = Field(
        0.03, ge=0, description="...and at least this share of the receiving venue's taker volume per hour "
        "(measured over market_lookback_ms; not applied when that venue has no trade flow)")
    market_lookback_ms: int = Field(60 * MINUTE, description="History behind the volume, volatility and baseline measures")
    entity_venues: dict[str, list[str]] = Field(
        {"binance": ["binance-usdm", "binance-coinm"], "bybit": ["bybit"], "okx": ["okx"], "bitmex": ["bitmex"],
         "deribit": ["deribit"], "hyperliquid": ["hyperliquid"], "coinbase": ["coinbase"]},
        description="Exchange entity of the address labels -> the feed venues whose taker volume a deposit to it is "
        "measured against (an entity not listed has no volume test)")

    # -- selling ----------------------------------------------------------------------------
    sell_window_ms: int = Field(30 * MINUTE, description="Selling must start within this long after the deposit")
    sell_max_ms: int = Field(40 * MINUTE, description="Once started, selling is followed until this long after the "
                             "sell window's end: its drop and net sell are measured over the selling itself, not cut "
                             "at a deadline (the start first seen may be flow noise ahead of the real selling)")
    sell_start_fraction: float = Field(0.25, gt=0, le=1, description="Selling has started once the net taker sell "
                                       "over the selling (from the lowest the net has been since the deposit) reaches this fraction of what the "
                                       "sell stage needs")
    sell_confirmed_by_cascade: bool = Field(
        True, description="A cascade that begins while a deposit's selling is under way (started, its drop not yet "
        "shown) confirms the sell stage: the forced selling is the rest of the story. Such a watch stays open for "
        "its cascade until cascade_max_delay_ms after the selling started")
    sell_threshold_factor: float = Field(
        0.25, gt=0, le=1, description="After a whale's sell stage, until cascade_max_delay_ms, the cascade threshold is "
        "scaled by this (as in a contagion watch: the selling is reason to look closer), and so is the count of long "
        "liquidations needed in the short and middle windows (not below cascade_min_count); a price break does not lower it further (the selling "
        "moved the price)")
    sell_min_net_usd: float = Field(5e6, description="Net taker sell (sell - buy, USD, all venues) over the selling: since the "
                                  "lowest the net has been after the deposit")
    sell_min_deposit_fraction: float = Field(0.1, description="...and at least this fraction of the deposited value")
    sell_min_drop_pct: float = Field(0.5, description="Price drop from the last close before the deposit, percent")
    sell_drop_sigmas: float = Field(
        2.5, ge=0, description="...and at least this many standard deviations of a random walk over the time since "
        "the deposit, from the one-minute volatility before it")

    # -- cascades ---------------------------------------------------------------------------
    cascade_window_ms: int = Field(5 * MINUTE, description="Short rolling window of long liquidations: catches "
                                   "an intense burst within a minute or two")
    cascade_mid_window_ms: int = Field(15 * MINUTE, description="Middle rolling window: catches a burst building "
                                       "over a quarter of an hour, well before its hour stands out (0: off)")
    cascade_long_window_ms: int = Field(60 * MINUTE, description="Long rolling window: catches a slow, sustained "
                                        "burst that no five minutes of it would single out (0: off)")
    cascade_min_long_share: float = Field(0.7, description="Longs' share of liquidated notional in the window")
    cascade_context_long_share: float = Field(
        0.3, ge=0, le=1, description="...and at least this share in each longer window: the longs at the tail of a "
        "short squeeze are not a long cascade while the squeeze dominates the recent liquidations")
    cascade_min_venues: int = Field(1, ge=1, description="Distinct venues with long liquidations in the window")
    cascade_min_count: int = Field(3, ge=1, description="Long liquidations in the window (one fill is not a cascade)")
    cascade_rest_fraction: float = Field(
        0.5, ge=0, le=1, description="Without its largest long liquidation the window must still hold this fraction "
        "of its threshold: one position closed in one print, however large, is not a cascade")
    cascade_baseline_multiple: float = Field(
        3.0, ge=0, description="Long notional in the window at least this multiple of the mean per window over "
        "market_lookback_ms before it (the short-term baseline)")
    cascade_price_fraction: float = Field(
        0.5, gt=0, le=1, description="A window over which the price broke down (below) is a cascade at this fraction "
        "of its threshold: forced selling and a price break together are surer than either alone, and are seen "
        "sooner (1: liquidations alone)")
    cascade_price_max_window_ms: int = Field(
        15 * MINUTE, ge=0, description="...for windows up to this wide: a price break is a matter of minutes, while "
        "over an hour the price drifts with the market's mood (0: never)")
    cascade_price_drop_pct: float = Field(
        1.0, ge=0, description="The price break: the close fell at least this much (percent, the median over the "
        "asset's markets) from the minute before the window to the last whole minute in it...")
    cascade_price_sigmas: float = Field(
        3.0, ge=0, description="...and at least this many standard deviations of a random walk over the window, "
        "from the one-minute volatility of the market_lookback_ms before it")
    cascade_oi_drop_pct: float = Field(
        1.0, ge=0, description="A window over which open interest, counted in contracts (USD over the mark price), fell "
        "at least this much (percent, from the minute before it to the last whole minute in it; the leverage feed) is "
        "also a cascade at cascade_price_fraction of its threshold, for windows up to cascade_price_max_window_ms: "
        "positions closing by the hundreds of millions, of which the liquidation feeds show a part (0: off)")
    floor_quantile: float = Field(
        0.995, gt=0.5, lt=1, description="Each day's figure of the asset's history is this quantile of that day's "
        "window sums (0.995: about the seventh largest minute); the level is the median of the daily figures, so bursts on "
        "fewer than half of the days cannot move it")
    floor_factor: float = Field(16.0, gt=0, description="The short window is extreme at this multiple of its level")
    floor_factor_mid: float = Field(7.0, gt=0, description="The middle window is extreme at this multiple of its level")
    floor_factor_long: float = Field(5.5, gt=0, description="The long window is extreme at this multiple of its level")
    floor_count_factor: float = Field(
        1.5, ge=0, description="...and the window must hold at least this multiple of the level of its liquidation "
        "COUNT (learned the same way): a few large prints, the heavy tail of a small asset, are not a cascade")
    floor_history_days: int = Field(14, ge=1, description="Days of history the learned floor is taken over")
    floor_young_ms: int = Field(4 * DAY, ge=0, description="Learned levels younger than this are read from few days: "
                                "their factor is raised (see floor_young_boost), falling to none at this age")
    floor_young_boost: float = Field(1.5, ge=0, description="Factor raise at no history, falling linearly to 0 at "
                                     "floor_young_ms (1.5: 2.125x the factor after one day of four, 1.75x after two)")
    floor_min_history_ms: int = Field(DAY, description="Less history than this is a cold start: the fallback floor applies")
    cold_top_factor: float = Field(
        5.0, ge=0, description="On a cold start the threshold is at least this multiple of the largest window the "
        "asset's history has held so far (0: the fallback floor alone): an asset busier than the fallback guessed is "
        "not called on its ordinary. Not applied inside a contagion watch")
    cold_long_floor_fraction: float = Field(
        0.35, gt=0, le=1, description="...and the long window's may fall below its fallback, down to this fraction "
        "of it, where the history so far is quiet (the short and middle windows keep theirs: a flurry of a few "
        "minutes is no cascade, however quiet the hours before it)")
    cold_top_min_ms: int = Field(HOUR, ge=0, description="...once the history is at least this long")
    cascade_floor_usd: dict[str, float] = Field(
        {}, description="Optional per-asset USD floor the window must also reach (learned or cold)")
    cascade_floor_usd_default: float = Field(100_000.0, description="Floor for assets not in cascade_floor_usd")
    cold_floor_usd: dict[str, float] = Field(
        {"BTC": 5e6, "ETH": 3e6}, description="Cold-start floor per asset (short-window sum, USD) until history is "
        "learned; the long window's is this times the square root of the windows' ratio")
    cold_floor_usd_default: float = Field(0.5e6, description="Cold-start floor for other assets")
    cascade_quiet_ms: int = Field(
        30 * MINUTE, description="A cascade is over once no window has reached half its threshold for this long; "
        "until then further windows belong to it (one alert per burst)")
    cascade_max_ms: int = Field(3 * 60 * MINUTE, description="A burst lasting longer than this is over all the same: "
                                "what is still going on then is the market's new ordinary")
    critical_factor: float = Field(10.0, description="A cascade this many times its threshold is critical on its own")
    cascade_max_delay_ms: int = Field(120 * MINUTE, description="Sell stage -> cascade must show within this")
    selling_started_factor: float = Field(
        0.5, gt=0, le=1, description="While a watching whale's selling has started (sell_start_fraction of the net "
        "sell it needs) but not yet been confirmed, the cascade threshold is scaled by this (a cold-start floor by its "
        "square root), as sell_threshold_factor does after the sell stage: a deposit and the start of its selling are "
        "half the story (1: off)")
    hot_at_called: bool = Field(
        True, description="A cascade called at a whale's lowered threshold (its selling started or confirmed) stays "
        "under way while a window holds half the threshold it was called at, not half the plain one: the lull "
        "between two waves of the whale's burst does not end it (as for a price break; not in a contagion watch, "
        "where a quarter of the threshold is the target's ordinary flurries)")
    deposit_into_cascade_ms: int = Field(
        10 * MINUTE, ge=0, description="A deposit made while a cascade is under way feeds that crash and opens no "
        "episode, unless the cascade began at least this long before it: then the whale is watched as usual, and once "
        "its selling is confirmed the burst still marked under way is over, so the whale's own cascade is called apart "
        "from it (0: a deposit into any cascade under way opens nothing)")

    # -- time -------------------------------------------------------------------------------
    chain_lateness_ms: int = Field(15 * MINUTE, description="How far behind the exchange feeds chain events may arrive")
    exchange_lateness_ms: int = Field(10_000, description="How far out of order exchange events may arrive")
    idle_timeout_ms: int = Field(60_000, description="A source silent this long stops holding the watermark back")

    # -- contagion --------------------------------------------------------------------------
    contagion_targets: dict[str, list[str]] = Field(
        {"BTC": ["ETH"]}, description="A cascade on the key asset opens a contagion watch on these (add the "
        "majors, e.g. SOL, XRP, DOGE, to watch them too)")
    contagion_window_ms: int = Field(
        60 * MINUTE, description="How long after the source cascade the watch lasts: a target's contagion burst is "
        "called well within the hour (46 minutes at most on the simulator's months, 48 on markets modelled apart), "
        "while a quarter of the target's threshold held for two hours let its ordinary flurries through")
    contagion_lookback_ms: int = Field(
        90 * MINUTE, description="A target cascade up to this long before the source's is re-classified as linked "
        "(an amended alert): they often fall together, and a slow source burst (up to an hour and a half of bleeding "
        "before the crash) is called later than a sharp target")
    contagion_rejudge_ms: int = Field(
        30 * MINUTE, ge=0, description="When a watch opens, windows ending up to this long before the source's cascade "
        "are judged again at the watch's threshold (a target burst that began first, too small to stand alone)")
    link_idle_timeout_ms: int = Field(
        5 * MINUTE, description="A source asset whose progress markers stop this long no longer holds a target's "
        "cascade decisions back")
    progress_live_step_ms: int = Field(
        1000, ge=0, description="A source whose judging is live (within progress_live_within_ms of the wall clock) "
        "tells its targets how far it has judged this often, so their live decisions wait about this long for it; "
        "otherwise (a catch-up, a replay) once a minute, which keeps the links topic small (0: always once a minute)")
    progress_live_within_ms: int = Field(5 * MINUTE, ge=0, description="How near the wall clock judging counts as live")
    contagion_threshold_factor: float = Field(
        0.25, gt=0, le=1, description="Within a contagion watch the cascade threshold is scaled by this")
    contagion_stir_fraction: float = Field(
        0.3, ge=0, le=1, description="A source asset whose long liquidations reach this fraction of its own cascade "
        "threshold in a window, with no cascade called, tells its targets it is stirring: a target cascade called "
        "within contagion_stir_window_ms after that is a contagion_cascade linked to the stirring (a slow source "
        "burst is often too small to call on its own while its target's is not). It only names the kind of a "
        "cascade that passed its own threshold; it lowers no threshold (0: off)")
    contagion_stir_window_ms: int = Field(
        45 * MINUTE, ge=0, description="How long before a target's cascade the source's stirring may be")

    # -- ETF context ------------------------------------------------------------------------
    etf_outflow_streak_days: int = Field(3, description="Consecutive outflow days that raise severity")
    etf_sum5_raise_usd: float = Field(-500e6, description="5-day net flow at or below this raises severity")
    etf_sum5_lower_usd: float = Field(500e6, description="5-day net flow at or above this lowers severity")

    # -- leverage context (pipeline/detect/leverage.py) -------------------------------------
    leverage_high_percentile: float = Field(0.9, description="Open interest at or above this percentile of its "
                                            "30 days counts as loaded")
    leverage_low_percentile: float = Field(0.25, description="...at or below this (with funding at or below "
                                           "normal) lowers severity")
    leverage_build_oi_pct: float = Field(5.0, description="Open interest up at least this much in 24 h...")
    leverage_build_max_price_pct: float = Field(2.0, description="...while the price moved less than this: "
                                                "leverage building without price")
    leverage_funding_z: float = Field(2.0, description="Funding z-score (against its 30 days) that counts as crowded")
    leverage_flush_pct: float = Field(3.0, description="Open-interest fall over a cascade window (percent) that "
                                      "corroborates a cascade seen through sampled or gapped liquidation feeds")

    def venues_of(self, entity: str | None) -> tuple[str, ...]:
        return tuple(self.entity_venues.get(entity, ())) if entity else ()

    def deposit_threshold(self, asset: str) -> float:
        return self.deposit_min_usd.get(asset, self.deposit_min_usd_default)

    def cold_floor(self, asset: str, window_ms: int | None = None) -> float:
        usd = self.cold_floor_usd.get(asset, self.cold_floor_usd_default)
        return usd * ((window_ms or self.cascade_window_ms) / self.cascade_window_ms) ** 0.5

    @property
    def level_window_ms(self) -> int:
        """The window whose history sets the level: the long one, or the short one alone."""
        return self.windows()[-1][0]

    def windows(self) -> tuple[tuple[int, float], ...]:
        """(width, floor factor) of each cascade window, shortest first."""
        key = (self.cascade_window_ms, self.floor_factor, self.cascade_mid_window_ms, self.floor_factor_mid,
               self.cascade_long_window_ms, self.floor_factor_long)
        cached = self.__dict__.get("_windows")  # settings are read per liquidation: worth keeping
        if cached is None or cached[0] != key:
            out = [(self.cascade_window_ms, self.floor_factor)]
            for width, factor in ((self.cascade_mid_window_ms, self.floor_factor_mid),
                                  (self.cascade_long_window_ms, self.floor_factor_long)):
                if width > out[-1][0]:
                    out.append((width, factor))
            cached = (key, tuple(out))
            object.__setattr__(self, "_windows", cached)
        return cached[1]

    def young_factor(self, history_ms: int) -> float:
        """How much a learned level's factor is raised while its history is young."""
        if self.floor_young_ms <= 0:
            return 1.0
        return 1.0 + self.floor_young_boost * max(0.0, 1.0 - history_ms / self.floor_young_ms)

    def usd_floor(self, asset: str) -> float:
        return self.cascade_floor_usd.get(asset, self.cascade_floor_usd_default)
