"""What a live feed is asked to do: the venues with a live connector, a feed's settings
(`LiveConfig`), the venue spelling of its symbols and the reconnect backoff."""

from __future__ import annotations

import random
from dataclasses import dataclass

from . import VENUES, get_venue
from .base import ParseError
from .spec import FeedError, SubscribeError, VenueSpec

# Each venue module holds its live connection spec (`Venue.live`) beside its parser.
SPECS: dict[str, VenueSpec] = {name: cls.live for name, cls in VENUES.items() if cls.live is not None}
LIVE_VENUES = tuple(SPECS)


@dataclass
class LiveConfig:
    venue: str
    symbols: list[str]
    url: str | None = None  # override the venue URL (tests, relays); Binance: ws://host:port gets /stream?streams=...
    max_reconnects: int | None = None  # consecutive failed attempts before giving up; None = never
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    app_ping_s: float | None = None  # override the venue's application ping interval
    bar_grace_ms: int = 2000  # a quiet symbol's bar goes out this long after its second ended
    flush_tick_s: float = 0.25
    rates_interval_s: float = 60.0
    duration_s: float | None = None  # stop after this long; None = run until cancelled
    all_liquidations: bool = True  # False: only liquidations of the subscribed symbols
    raw_trades: bool = False  # also emit every normalized trade as a `trade` event
    open_timeout_s: float = 10.0
    proxy: str | bool | None = True  # websockets' proxy setting (True = from the environment)
    sink_queue: int = 10_000
    leverage: bool = True  # also open interest, funding and mark price (`leverage` events)
    leverage_every_s: float = 5.0  # at most one leverage event per symbol and channel this often
    oi_poll_s: float = 60.0  # REST polling interval of open interest where the venue has no stream
    rest_url: str | None = None  # override the REST base URL of the open-interest poll (tests, relays)

    def __post_init__(self) -> None:
        if self.venue not in SPECS:
            raise FeedError(f"no live connector for venue {self.venue!r}; live venues: {', '.join(SPECS)}")
        if not self.symbols:
            raise FeedError("give at least one symbol")
        if self.backoff_base_s <= 0 or self.backoff_max_s < self.backoff_base_s:
            raise FeedError("backoff: need 0 < base <= max")


def normalize_symbols(venue: str, symbols: list[str]) -> list[str]:
    """Venue spelling of the symbols (upper case; Hyperliquid coins as given), de-duplicated, and
    checked against the venue parser's instrument rules (SubscribeError with the reason)."""
    out: list[str] = []
    for raw in symbols:
        for s in raw.split(","):
            s = s.strip()
            if not s:
                continue
            s = s if venue == "hyperliquid" else s.upper()
            if s not in out:
                out.append(s)
    parser = get_venue(venue)
    for s in out:
        try:
            parser.check_symbol(s)
        except ParseError as exc:
            raise SubscribeError(f"{venue}: bad symbol {s!r}: {exc}") from None
    return out


def backoff_delays(base: float, cap: float, rng: random.Random | None = None):
    """Delays for consecutive failed attempts: base*2^n capped, jittered into [d/2, d]."""
    rng = rng or random.Random()
    n = 0
    while True:
        d = min(cap, base * (2 ** n))
        yield rng.uniform(d / 2, d)
        n += 1
