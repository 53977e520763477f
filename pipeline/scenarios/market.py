"""What the simulated market looks like: assets, venues, and the scale real feeds deliver.

Scales follow what the liquidation feeds deliver, not headline totals: BTC long liquidations on
binance-usdm + bybit + okx together run at a median of about $0.1M per hour, a p99 of about $21.7M
and a p99.9 of about $85.8M (public aggregate data, Nov 2025 - May 2026); the worst hour of the
1 Dec 2025 crash held $53M. ETH delivers less, and the smaller majors far less: `scale` is each
asset's liquidation size relative to BTC. Prices, taker volume per one-minute bar and per venue, and
one-minute volatility are round figures of the right order.
"""

from __future__ import annotations

from dataclasses import dataclass

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR

VENUES = ("binance-usdm", "bybit", "okx")
SAMPLED_VENUE = "binance-usdm"  # Binance pushes at most one liquidation per symbol per second
VENUE_SHARE = (0.45, 0.30, 0.25)  # share of generated liquidations per venue


@dataclass(frozen=True)
class AssetSpec:
    price: float
    scale: float  # liquidation sizes relative to BTC
    vol_usd: float  # taker volume per side, per one-minute bar, per venue
    sigma: float  # one-minute log-return standard deviation
    deposit: tuple[float, float] | None  # whale deposit range in USD; None: the chains publish none

    def symbol(self, asset: str, venue: str) -> str:
        return f"{asset}-USDT-SWAP" if venue == "okx" else f"{asset}USDT"


ASSETS: dict[str, AssetSpec] = {
    "BTC": AssetSpec(100_000.0, 1.0, 6e6, 0.0006, (6e7, 3e9)),
    "ETH": AssetSpec(4_000.0, 0.45, 3e6, 0.0008, (2e7, 6e8)),
    "SOL": AssetSpec(200.0, 0.12, 1e6, 0.0011, None),
    "XRP": AssetSpec(2.5, 0.06, 6e5, 0.0011, None),
    "DOGE": AssetSpec(0.35, 0.04, 4e5, 0.0013, None),
}
WHALE_ASSETS = tuple(a for a, s in ASSETS.items() if s.deposit)

# Long liquidations per hour of a cascade burst for BTC (as liquidated, before Binance's sampling; a
# burst shorter than an hour holds it all), scaled per asset: from about ten times a calm day's hourly
# p99 to well over a billion.
CASCADE_USD = (3e7, 1.5e9)
FLURRY_USD = (3e6, 8e6)  # a flurry: clearly above the noise, far below a cascade
