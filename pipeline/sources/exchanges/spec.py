"""What a venue module declares about its live connection (`Venue.live`): URL, subscribe frames,
heartbeat, how the venue says no, and server messages that need an answer. `live.py` runs it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class FeedError(RuntimeError):
    """The feed cannot go on (gave up reconnecting, refused by the venue, bad configuration)."""


class SubscribeError(FeedError):
    """The venue refused a subscription (usually an unknown symbol), or a symbol is invalid locally."""


@dataclass(frozen=True)
class VenueSpec:
    """How to connect to one venue: URL, subscribe messages, heartbeat, subscribe-error replies."""

    name: str
    #: application-level ping: (message text, interval s) or None (protocol pings only)
    app_ping: tuple[str, float] | None = None
    #: text frames that are heartbeat replies, not JSON (OKX "pong")
    pong_texts: tuple[str, ...] = ()
    #: send the app ping only after this long without a received frame (BitMEX), not on a fixed beat
    ping_when_idle: bool = False
    #: renew the connection before the venue drops it (Binance: 24 h)
    max_connection_s: float | None = None

    def url(self, symbols: list[str], base: str | None = None) -> str:
        """The connection URL; `base` (an override) is used as it is."""
        raise NotImplementedError

    def subscribe(self, symbols: list[str]) -> list[str]:
        return []

    def leverage_subscribe(self, symbols: list[str]) -> list[str]:
        """Frames that subscribe open interest, funding and mark price (sent unless `feed --no-leverage`)."""
        return []

    #: open interest the venue only serves over REST: (base URL, path with {symbol}); polled by the feed
    oi_poll: tuple[str, str] | None = None

    def refused(self, msg: Any, symbols: list[str]) -> str | None:
        """The venue's reason when `msg` is a refused subscription, else None."""
        return None

    def reply(self, msg: Any) -> str | None:
        """A frame to send back for a server message that asks for one (Deribit test_request), else None."""
        return None
