"""Detector thresholds, with defaults sized to the crashes cascadewatch is built to catch.

Scale (see docs/detection.md): Aug 2025, ~24,000 BTC (~$2.7B) moved to an exchange and sold within
~20 minutes, then $550-840M of longs were liquidated; mid-December, $600M+ liquidated in the most
intense hour (~$50M per 5 minutes on average, far more at the peak).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

MINUTE = 60_000


class DetectorConfig(BaseModel):
    assets: list[str] = Field(["BTC", "ETH"], description="Assets whose deposits open episodes")
    deposit_min_usd: dict[str, float] = Field(
        {"BTC": 50e6, "ETH": 25e6}, description="Smallest exchange inflow (USD) that opens an episode, per asset"
    )
    deposit_min_usd_default: float = 50e6
    deposit_min_volume_share: float = Field(
        0.05, ge=0, description="...and at least this share of the receiving venue's taker volume per hour "
        "(measured over market_lookback_ms; not applied when that venue has no trade flow)")
    market_lookback_ms: int = Field(60 * MINUTE, description="History behind the volume, volatility and baseline measures")

    sell_window_ms: int = Field(30 * MINUTE, description="T1: deposit -> selling must show within this")
    sell_min_net_usd: float = Field(20e6, description="Net taker sell (sell - buy, USD, all venues) since the deposit")
    sell_min_deposit_fraction: float = Field(0.1, description="...and at least this fraction of the deposited value")
    sell_min_drop_pct: float = Field(1.0, description="Price drop from the last close before the deposit, percent")
    sell_drop_sigmas: float = Field(
        2.0, ge=0, description="...and at least this many standard deviations of the price over the sell window, "
        "from the one-minute volatility before the deposit")

    cascade_max_delay_ms: int = Field(120 * MINUTE, description="T2: sell -> cascade must show within this")
    cascade_window_ms: int = Field(5 * MINUTE, description="Rolling window over which liquidations are summed")
    cascade_min_long_usd: float = Field(50e6, description="Long liquidation notional in one window")
    cascade_min_long_share: float = Field(0.7, description="Longs' share of liquidated notional in that window")
    cascade_min_venues: int = Field(1, ge=1, description="Distinct venues with long liquidations in that window")
    cascade_baseline_multiple: float = Field(
        3.0, ge=0, description="Long notional in the window at least this multiple of the mean per window over "
        "market_lookback_ms before it")
    cascade_min_acceleration: float = Field(
        1.0, ge=0, description="Long notional in the window's second half over its first half (a fading tail is not a cascade)")
    critical_long_usd: float = Field(250e6, description="A cascade this large is critical on its own")

    cooldown_ms: int = Field(6 * 60 * MINUTE, description="After a cascade, further deposits of the asset open no new episode")

    chain_lateness_ms: int = Field(15 * MINUTE, description="How far behind the exchange feeds chain events may arrive")
    exchange_lateness_ms: int = Field(10_000, description="How far out of order exchange events may arrive")
    idle_timeout_ms: int = Field(60_000, description="A source silent this long stops holding the watermark back")
    unexplained_wait_ms: int = Field(
        15 * MINUTE, description="A cascade with no whale deposit is reported this long after it (event time), so a "
        "deposit that arrives late can still claim it; lower it for faster alerts that a late deposit may duplicate")

    contagion_targets: dict[str, list[str]] = Field(
        {"BTC": ["ETH"]}, description="A cascade on the key asset opens a contagion watch on these")
    contagion_window_ms: int = Field(120 * MINUTE, description="How long after the source cascade the watch lasts")
    contagion_lookback_ms: int = Field(
        10 * MINUTE, description="A target cascade up to this long before the source's is re-classified as linked "
        "(an amended alert): they often fall together")
    link_idle_timeout_ms: int = Field(
        5 * MINUTE, description="A source asset whose progress markers stop this long no longer holds a target's "
        "cascade decisions back")
    contagion_threshold_factor: float = Field(
        0.5, gt=0, le=1, description="Within a contagion watch the cascade floor (cascade_min_long_usd) is scaled by this")

    etf_outflow_streak_days: int = Field(3, description="Consecutive outflow days that raise severity")
    etf_sum5_raise_usd: float = Field(-500e6, description="5-day net flow at or below this raises severity")
    etf_sum5_lower_usd: float = Field(500e6, description="5-day net flow at or above this lowers severity")

    def deposit_threshold(self, asset: str) -> float:
        return self.deposit_min_usd.get(asset, self.deposit_min_usd_default)
