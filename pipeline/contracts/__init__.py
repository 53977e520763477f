"""Event contracts: the Python models of every topic's messages, and the JSON Schemas they answer to."""

from pipeline.contracts.models import (
    Alert,
    ContractError,
    DeadLetter,
    EtfFlow,
    Event,
    Leverage,
    Liquidation,
    Trade,
    TradeFlow,
    WhaleTransfer,
    dump_event,
    event_key,
    parse_event,
)

__all__ = [
    "Alert", "ContractError", "DeadLetter", "EtfFlow", "Event", "Leverage", "Liquidation", "Trade", "TradeFlow",
    "WhaleTransfer", "dump_event", "event_key", "parse_event",
]
