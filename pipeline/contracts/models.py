"""Pydantic models for the messages on each topic, and strict parsing of raw bytes into them.

Unknown extra fields are kept (forward compatible); missing required fields, wrong types and
values outside the contract raise ContractError with a reason a dead-letter reader can act on.
The JSON Schemas in schemas/ are the source of truth; tests check these models against them and
check that a message is accepted exactly when its schema accepts it. Two consequences: an integer
field takes a number with a zero fractional part (JSON Schema counts 1.0 as an integer) and stores
it as an int, and no number may be NaN or infinite (JSON has neither).

The flat event types are parsed through a fast path generated from their schemas
(pipeline/contracts/fastpath.py), which falls back to full validation for anything unusual.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from pipeline.contracts.fastpath import build_fast_path

Asset = str
SCHEMA_VERSION = 1


class ContractError(ValueError):
    """A message that does not satisfy its contract. `reason` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _integral_to_int(value: object) -> object:
    """JSON Schema's `integer` includes numbers like 1.0 (and orjson reads integers past 64 bits as floats)."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


# An integer field of the contracts: strict (no bools, no strings), but 1.0 counts as 1.
Int = Annotated[int, BeforeValidator(_integral_to_int)]


# Upper bounds: what the ClickHouse columns hold (schemas/clickhouse/) and 64-bit integers, which is what state
# snapshots encode. A number past them is refused here, dead-lettered, instead of wedging a sink or a snapshot.
MS_MAX = 4_291_747_199_999  # 2105-12-31T23:59:59.999Z: the rollups' minute columns are DateTime (to 2106-02-07), and
# retention's TTL reads times as DateTime too; a later time would be stored wrapped or clamped
U16_MAX, U32_MAX, I64_MAX = 2**16 - 1, 2**32 - 1, 2**63 - 1


class _Event(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, frozen=True, allow_inf_nan=False)
    schema_version: Int = Field(SCHEMA_VERSION, ge=1, le=U16_MAX)


_ASSET = Field(pattern=r"^[A-Z0-9]{2,12}$")
_MS = Field(ge=0, le=MS_MAX)


class WhaleTransfer(_Event):
    type: Literal["whale_transfer"] = "whale_transfer"
    event_id: str = Field(min_length=1)
    chain: Literal["bitcoin", "ethereum"]
    asset: Asset = _ASSET
    token: str | None = None  # the token moved (WBTC, USDT), None for the chain's coin
    amount: float = Field(ge=0)
    usd_value: float = Field(ge=0)
    from_address: str
    to_address: str
    from_entity: str | None = None
    to_entity: str | None = None
    direction: Literal["exchange_inflow", "exchange_outflow", "exchange_internal", "other"]
    tx_hash: str = Field(min_length=1)
    block_number: Int | None = Field(default=None, ge=0, le=I64_MAX)
    block_time: Int = _MS
    confirmations: Int = Field(ge=0, le=U32_MAX)
    observed_ts: Int = _MS
    retracted: bool = False

    @property
    def ts(self) -> int:
        return self.block_time


class Liquidation(_Event):
    type: Literal["liquidation"] = "liquidation"
    event_id: str = Field(min_length=1)
    venue: str = Field(min_length=1)
    symbol: str = Field(min_length=1)
    asset: Asset = _ASSET
    side: Literal["long", "short"]
    price: float = Field(gt=0)
    quantity: float = Field(gt=0)
    notional_usd: float = Field(ge=0)
    ts: Int = _MS
    received_ts: Int = _MS
    completeness: Literal["full", "sampled", "partial"]


class TradeFlow(_Event):
    type: Literal["trade_flow"] = "trade_flow"
    venue: str = Field(min_length=1)
    symbol: str = Field(min_length=1)
    asset: Asset = _ASSET
    ts: Int = _MS
    interval_ms: Int = Field(gt=0, le=U32_MAX)
    buy_volume_usd: float = Field(ge=0)
    sell_volume_usd: float = Field(ge=0)
    open: float = Field(gt=0)
    high: float = Field(gt=0)
    low: float = Field(gt=0)
    close: float = Field(gt=0)
    trade_count: Int = Field(ge=0, le=I64_MAX)

    @property
    def event_id(self) -> str:
        # Bars have no id of their own in the contract; venue/symbol/start/interval identify one.
        return f"{self.venue}:{self.symbol}:{self.ts}:{self.interval_ms}"


class Trade(_Event):
    """One normalized public trade (topic exchange.trades). Stored, not an input of the detector,
    which reads the 1-second trade_flow bars instead."""

    type: Literal["trade"] = "trade"
    event_id: str = Field(min_length=1)
    venue: str = Field(min_length=1)
    symbol: str = Field(min_length=1)
    asset: Asset = _ASSET
    ts: Int = _MS
    price: float = Field(gt=0)
    quantity: float = Field(gt=0)
    notional_usd: float = Field(gt=0)
    taker_side: Literal["buy", "sell"]
    trade_id: str | None = None
    received_ts: Int = _MS


class EtfFlow(_Event):
    """One fund's net flow for one trading day, in USD, as known from published_ts on.

    A revision is a new event with a later published_ts (see docs/etf.md); fund TOTAL is a day
    total from a source without per-fund figures."""

    type: Literal["etf_flow"] = "etf_flow"
    event_id: str = Field(min_length=1)
    date: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    fund: str = Field(min_length=1)
    asset: Asset = _ASSET
    net_flow_usd: float
    published_ts: Int = _MS
    source: str = Field(min_length=1)

    @property
    def ts(self) -> int:
        return self.published_ts


class Leverage(_Event):
    """Open interest, funding and mark price of one perpetual or future on one venue at `ts` (topic
    exchange.leverage). A venue message carries some of the figures (a funding stream has no open
    interest, an open-interest poll no funding); the others are null. Context for the detector, never
    a trigger."""

    type: Literal["leverage"] = "leverage"
    event_id: str = Field(min_length=1)
    venue: str = Field(min_length=1)
    symbol: str = Field(min_length=1)
    asset: Asset = _ASSET
    ts: Int = _MS
    open_interest: float | None = Field(None, ge=0)
    open_interest_usd: float | None = Field(None, ge=0)
    funding_rate: float | None = None
    funding_interval_ms: Int | None = Field(None, gt=0, le=I64_MAX)
    next_funding_ts: Int | None = Field(None, ge=0, le=MS_MAX)
    mark_price: float | None = Field(None, gt=0)
    source: str = Field(min_length=1)
    received_ts: Int = _MS


class _Evidence(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class DepositEvidence(_Evidence):
    event_id: str
    usd_value: float
    to_entity: str | None
    amount: float | None = None
    chain: str | None = None
    tx_hash: str | None = None
    ts: int | None = None
    deposit_count: int = 1
    total_usd: float | None = None


class LinkedAlert(_Evidence):
    alert_id: str
    asset: str
    ts: int
    kind: str | None = None


class Alert(_Event):
    type: Literal["alert"] = "alert"
    alert_id: str = Field(min_length=1)
    kind: Literal["whale_cascade", "liquidation_cascade", "contagion_cascade"] = "whale_cascade"
    asset: Asset = _ASSET
    stage: Literal["watch", "sell", "cascade", "expired"]
    reached: Literal["watch", "sell", "cascade"] | None = None
    ts: Int = _MS
    deposit: DepositEvidence | None = None
    sell: dict | None = None
    cascade: dict | None = None
    etf_context: dict | None = None
    severity: Literal["info", "warning", "high", "critical"]
    revision: Int = Field(0, ge=0, le=U16_MAX)
    amended: bool = False
    evidence: dict | None = None
    linked_to: LinkedAlert | None = None

    @property
    def event_id(self) -> str:
        base = f"{self.alert_id}:{self.stage}"
        return f"{base}:r{self.revision}" if self.revision else base


class Link(_Event):
    """A cascade on `source_asset` opens a contagion watch on `asset`; a progress marker says the source
    has decided its cascades up to `source_ts`; a stir says its long liquidations reached part of its
    threshold at `source_ts` (see schemas/link.schema.json)."""

    type: Literal["link"] = "link"
    asset: Asset = _ASSET
    source_alert_id: str = Field(min_length=1)
    source_asset: Asset = _ASSET
    source_kind: Literal["whale_cascade", "liquidation_cascade", "contagion_cascade", "progress", "stir"]
    source_ts: Int = _MS
    source_long_usd: float = Field(0.0, ge=0)

    @property
    def ts(self) -> int:
        return self.source_ts

    @property
    def event_id(self) -> str:
        return f"link:{self.source_alert_id}:{self.asset}"


class DeadLetter(_Event):
    type: Literal["deadletter"] = "deadletter"
    reason: Literal["malformed_json", "invalid", "unknown_type", "oversize", "wrong_topic", "wrong_key",
                    "processing_error"]
    error: str
    source_topic: str
    partition: Int | None = Field(default=None, ge=-I64_MAX - 1, le=I64_MAX)
    offset: Int | None = Field(default=None, ge=-I64_MAX - 1, le=I64_MAX)
    batch_index: Int | None = Field(default=None, ge=0, le=I64_MAX)  # the event's position in a batch envelope
    key_b64: str | None = None
    original_b64: str
    original_size: Int = Field(ge=0, le=I64_MAX)
    received_ts: Int = _MS


Event = Union[WhaleTransfer, Liquidation, TradeFlow, EtfFlow, Alert, Link, Leverage]
INPUT_TYPES: dict[str, type[_Event]] = {
    "whale_transfer": WhaleTransfer,
    "liquidation": Liquidation,
    "trade_flow": TradeFlow,
    "etf_flow": EtfFlow,
    "alert": Alert,
    "link": Link,
    "leverage": Leverage,
}
_VALIDATE = {name: model.model_validate for name, model in INPUT_TYPES.items()}
# The generated fast paths (pipeline/contracts/fastpath.py); None for a type that has none (alert).
FAST_PATHS = {name: build_fast_path(model) for name, model in INPUT_TYPES.items()}


def parse_event(raw: bytes | str, *, max_bytes: int | None = None, expect: set[str] | None = None) -> Event:
    """Parse one message (a JSON object) into its model, or raise ContractError saying why not."""
    if max_bytes is not None and len(raw) > max_bytes:
        raise ContractError("oversize", f"{len(raw)} bytes > limit {max_bytes}")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ContractError("malformed_json", str(exc)) from None
    if type(obj) is dict:  # the common case, inline; anything else is sorted out by event_from_dict
        kind = obj.get("type")
        if type(kind) is str and (expect is None or kind in expect):
            fast_path = FAST_PATHS.get(kind)
            if fast_path is not None and (event := fast_path(obj)) is not None:
                return event
    return event_from_dict(obj, expect=expect, fast=False)


def event_from_dict(obj: object, *, expect: set[str] | None = None, fast: bool = True) -> Event:
    """The event a decoded JSON object holds, or ContractError. `fast=False` skips the fast path (the
    result and the errors are the same either way; tests compare them)."""
    if not isinstance(obj, dict):
        raise ContractError("invalid", f"expected a JSON object, got {type(obj).__name__}")
    kind = obj.get("type")
    validate = _VALIDATE.get(kind) if isinstance(kind, str) else None
    if validate is None:
        raise ContractError("unknown_type", f"type={kind!r}; known: {', '.join(INPUT_TYPES)}")
    if expect is not None and kind not in expect:
        raise ContractError("wrong_topic", f"type={kind!r} does not belong on this topic (expects {sorted(expect)})")
    if fast and (fast_path := FAST_PATHS[kind]) is not None and (event := fast_path(obj)) is not None:
        return event
    try:
        return validate(obj)
    except ValidationError as exc:
        raise invalid(kind, exc) from None


def invalid(kind: str, exc: ValidationError) -> ContractError:
    """The `invalid` error of a `kind` event the model refused: its first five faults, where and what."""
    errs = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors(include_url=False)[:5]
    )
    return ContractError("invalid", f"{kind}: {errs}")


def dump_event(event: BaseModel) -> bytes:
    """The interchange form of an event: one compact JSON object."""
    return orjson.dumps(event.model_dump(mode="json", exclude_none=False))


def event_key(event: Event) -> bytes:
    """Kafka key: the asset, so that all topics are co-partitioned per asset."""
    return event.asset.encode()
