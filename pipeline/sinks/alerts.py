"""Alert delivery outside Kafka: the terminal, JSON webhooks and chat webhooks (Slack-compatible).

`cascadewatch alerts follow` reads `alerts.cascade` in its own consumer group and delivers each
alert at or above a severity to every target, retrying a failing webhook with backoff. A target
that still fails is reported and skipped for that alert; the Kafka topic remains the record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpx
import orjson
from rich.text import Text

from pipeline.sinks.render import alert_line

SEVERITIES = ("info", "warning", "high", "critical")


def plain_text(alert: dict) -> str:
    """The terminal line without rich markup, for chat."""
    return Text.from_markup(alert_line(alert)).plain


@dataclass
class Webhook:
    """One target. Each attempt, connecting to the whole answer, ends within `timeout_s`: httpx bounds
    each read, not the exchange, so an endpoint answering a byte at a time would hold the follower (and
    every alert behind it) for as long as it likes; the attempt runs under asyncio.timeout instead."""

    url: str
    chat: bool = False  # Slack-style {"text": ...} instead of the alert JSON
    retries: int = 3
    timeout_s: float = 10.0

    @property
    def worst_s(self) -> float:
        """The longest one alert can take: every attempt to its timeout, and the backoffs between them."""
        return (self.retries + 1) * self.timeout_s + 0.5 * (2 ** self.retries - 1)

    def send(self, alert: dict) -> None:
        body = orjson.dumps({"text": plain_text(alert)} if self.chat else alert)
        asyncio.run(self._send(body))

    async def _send(self, body: bytes) -> None:
        delay = 0.5
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            for attempt in range(self.retries + 1):
                try:
                    async with asyncio.timeout(self.timeout_s):
                        resp = await client.post(self.url, content=body, headers={"content-type": "application/json"})
                    if resp.status_code < 500 and resp.status_code != 429:
                        resp.raise_for_status()
                        return
                except (httpx.TransportError, TimeoutError) as exc:
                    if attempt == self.retries:
                        if isinstance(exc, TimeoutError):
                            raise httpx.TimeoutException(f"no whole answer within {self.timeout_s:g} s") from None
                        raise
                if attempt < self.retries:
                    await asyncio.sleep(delay)
                    delay *= 2
        resp.raise_for_status()


@dataclass
class Delivery:
    targets: list[Webhook]
    min_severity: str = "info"
    on_error: Callable[[Webhook, dict, Exception], None] | None = None
    delivered: int = 0
    failed: int = 0

    def wanted(self, alert: dict) -> bool:
        return SEVERITIES.index(alert.get("severity", "info")) >= SEVERITIES.index(self.min_severity)

    def deliver(self, alerts: Iterable[dict]) -> None:
        for alert in alerts:
            if not self.wanted(alert):
                continue
            for target in self.targets:
                try:
                    target.send(alert)
                    self.delivered += 1
                except (httpx.HTTPError, OSError) as exc:
                    self.failed += 1
                    if self.on_error is not None:
                        self.on_error(target, alert, exc)
