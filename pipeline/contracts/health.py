"""The `feed_health` contract: a live connector's own state (topic exchange.feed_health, schemas/feed_health.schema.json).

Stored, not read by the detector. pipeline/sources/exchanges/health.py builds these events.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.contracts.models import I64_MAX, MS_MAX, U16_MAX, U32_MAX

FEED_HEALTH_TYPE = "feed_health"
FEED_HEALTH_TOPIC = "exchange.feed_health"
STATUSES = ("connected", "disconnected", "gap_start", "gap_end", "rates")
Status = Literal["connected", "disconnected", "gap_start", "gap_end", "rates"]


class FeedHealth(BaseModel):
    """The contract of a feed_health event (mirrors schemas/feed_health.schema.json)."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)
    schema_version: int = Field(1, ge=1, le=U16_MAX)
    type: Literal["feed_health"] = "feed_health"
    event_id: str = Field(min_length=1)
    venue: str = Field(min_length=1)
    status: Status
    ts: int = Field(ge=0, le=MS_MAX)
    detail: str
    symbols: list[str] = []
    messages_per_s: float = Field(ge=0)
    liquidations_per_s: float = Field(ge=0)
    trades_per_s: float = Field(ge=0)
    errors: int = Field(ge=0, le=I64_MAX)
    reconnects: int = Field(ge=0, le=U32_MAX)
    gap_ms: int = Field(0, ge=0, le=I64_MAX)
    window_s: float = Field(ge=0)
