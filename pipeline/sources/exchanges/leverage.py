"""Leverage data in a live feed: the throttle on venue pushes and the REST poll of open interest.

Venues push open interest and funding far more often than context needs (Bybit tickers every
100 ms), so `LeverageGate` lets one event per symbol and channel through every `every_s` of venue
time. Binance has no open-interest stream: `poll_open_interest` asks its REST endpoint, one
request per symbol per round, and hands the answers to the venue parser like any message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx

from pipeline.contracts.models import Leverage

from .base import Venue


class LeverageGate:
    def __init__(self, every_s: float) -> None:
        self.every_ms = every_s * 1000
        self.last: dict[tuple[str, str], int] = {}  # (symbol, source) -> venue ts of the last one let through
        self.passed = 0

    def admit(self, events: list[Leverage]) -> list[dict]:
        out = []
        for ev in events:
            key = (ev.symbol, ev.source)
            last = self.last.get(key)
            if last is not None and last <= ev.ts < last + self.every_ms:
                continue
            self.last[key] = ev.ts
            self.passed += 1
            out.append(ev.model_dump(mode="json"))
        return out


async def poll_open_interest(url_template: str, symbols: list[str], parser: Venue, every_s: float,
                             emit: Callable[[list[Leverage]], Awaitable[None]], error: Callable[[str], None],
                             trust_env: bool = True) -> None:
    """Forever: GET `url_template.format(symbol=...)` for each symbol, then wait `every_s`. A failed
    request or an answer the parser refuses is reported to `error` and tried again next round."""
    async with httpx.AsyncClient(timeout=10.0, trust_env=trust_env) as client:
        while True:
            for symbol in symbols:
                url = url_template.format(symbol=symbol)
                try:
                    resp = await client.get(url)
                    resp.raise_for_status()
                    msg = resp.json()
                except (httpx.HTTPError, ValueError) as exc:
                    error(f"open interest poll {url}: {type(exc).__name__}: {exc}")
                    continue
                result = parser.parse(msg, time.time_ns() // 1_000_000)
                for e in result.errors:
                    error(f"open interest poll {url}: {e}")
                await emit(result.leverage)
            await asyncio.sleep(every_s)
