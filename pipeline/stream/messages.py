"""What the worker's hot path takes and gives: one Kafka record in (`Message`), and everything to send,
store and save out (`Outputs`), for the Faust agent (pipeline/stream/app.py) to carry out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class Message(NamedTuple):
    """One Kafka record as the agent received it (a named tuple: the agent makes one per message, and a
    frozen dataclass costs several times as much to build)."""

    topic: str
    value: bytes
    key: bytes | None = None
    partition: int | None = None
    offset: int | None = None


KeyValue = tuple[bytes | None, bytes]


def with_value(msg: Message) -> Message:
    """The message, a Kafka tombstone (no value at all) read as empty bytes: a malformed message to
    dead-letter like any other, not a None the parsing cannot take."""
    return msg if msg.value is not None else msg._replace(value=b"")


@dataclass
class Outputs:
    alerts: list[KeyValue] = field(default_factory=list)  # to the alerts topic
    links: list[KeyValue] = field(default_factory=list)  # to the links topic (keyed by the target asset)
    late: list[KeyValue] = field(default_factory=list)  # to the late topic: each event as received
    dead: list[KeyValue] = field(default_factory=list)  # to the dead-letter topic
    rows: list[dict] = field(default_factory=list)  # to store (only when storing)
    states: dict[str, bytes] = field(default_factory=dict)  # asset -> state snapshot (JSON) for the state table
    partitions: dict[str, int | None] = field(default_factory=dict)  # asset -> partition its events came on
    events: int = 0  # valid events seen
    now: float = 0.0  # the wall clock the call ran at (seconds)
