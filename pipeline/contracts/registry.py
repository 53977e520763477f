"""Every event type in one place: its model, the topic it travels on and the ClickHouse table that stores it.

Producers route by it (`topic` is the attribute of `pipeline.config.TopicNames` holding the topic's
name), the worker knows from it which types belong on which topic and which it stores, and the
sink which table a type goes to. Adding a type is one line in TYPES (with its model, its JSON
Schema in schemas/, its topic in TopicNames and its table in schemas/clickhouse/ and
pipeline/sinks/rows.py's COLUMNS).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

from pipeline.contracts.health import FeedHealth
from pipeline.contracts.models import (
    Alert,
    ContractError,
    DeadLetter,
    EtfFlow,
    Leverage,
    Link,
    Liquidation,
    Trade,
    TradeFlow,
    WhaleTransfer,
    invalid,
)


@dataclass(frozen=True)
class EventType:
    name: str  # the events' `type`
    model: type[BaseModel]
    topic: str  # attribute of TopicNames
    table: str | None  # ClickHouse table; None: not stored
    detected: bool = False  # read by the detector (else the worker only stores it)
    key: str = "asset"  # the field whose value is the Kafka key


TYPES: dict[str, EventType] = {t.name: t for t in (
    EventType("whale_transfer", WhaleTransfer, "whale_transfers", "whale_transfers", detected=True),
    EventType("liquidation", Liquidation, "liquidations", "liquidations", detected=True),
    EventType("trade_flow", TradeFlow, "trade_flow", "trade_flow", detected=True),
    EventType("etf_flow", EtfFlow, "etf_flows", "etf_flows", detected=True),
    EventType("leverage", Leverage, "leverage", "leverage", detected=True),
    EventType("link", Link, "links", None, detected=True),
    EventType("alert", Alert, "alerts", "alerts"),
    EventType("deadletter", DeadLetter, "deadletter", "deadletter", key=""),
    EventType("feed_health", FeedHealth, "feed_health", "feed_health", key="venue"),
    EventType("trade", Trade, "trades", "trades"),
)}

TABLES: dict[str, str] = {t.name: t.table for t in TYPES.values() if t.table}


def topic_of(kind: str, topics) -> str | None:
    """The topic name of events of type `kind` under `topics` (a TopicNames), None for an unknown type."""
    t = TYPES.get(kind)
    return getattr(topics, t.topic) if t is not None else None


def detected_on(topics) -> dict[str, set[str]]:
    """Topic name -> the types the detector accepts on it."""
    out: dict[str, set[str]] = {}
    for t in TYPES.values():
        if t.detected:
            out.setdefault(getattr(topics, t.topic), set()).add(t.name)
    return out


def stored_only_on(topics) -> dict[str, type[BaseModel]]:
    """Topic name -> model of the types the worker stores but the detector does not read."""
    return {getattr(topics, t.topic): t.model for t in TYPES.values()
            if not t.detected and t.table and t.name not in ("alert", "deadletter")}


def stored_from_dict(obj: object, model: type[BaseModel]) -> dict:
    """The row of an event of a store-only type (`model`), or ContractError with the reasons
    `event_from_dict` gives for the detector's types."""
    if not isinstance(obj, dict):
        raise ContractError("invalid", f"expected a JSON object, got {type(obj).__name__}")
    kind, wanted = obj.get("type"), model.model_fields["type"].default
    if kind != wanted:
        if isinstance(kind, str) and kind in TYPES:
            raise ContractError("wrong_topic", f"type={kind!r} does not belong on this topic (expects [{wanted!r}])")
        raise ContractError("unknown_type", f"type={kind!r}; this topic carries {wanted!r}")
    try:
        return model.model_validate(obj).model_dump(mode="json")
    except ValidationError as exc:
        raise invalid(kind, exc) from None
    except (ValueError, RecursionError) as exc:  # an extra field nested deeper than pydantic writes out
        raise ContractError("invalid", f"{kind}: {type(exc).__name__}: {exc}") from None


def key_of(event: dict) -> bytes:
    """The Kafka key of an event dict: its asset (co-partitioning), or what its type names instead."""
    t = TYPES.get(event.get("type"))
    field = t.key if t is not None else "asset"
    return str(event.get(field, "")).encode() if field else b""
