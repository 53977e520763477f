"""Dead-letter records: the reason a message (or one event of a batch envelope) was refused, and its bytes."""

from __future__ import annotations

import base64
import time

from pipeline.contracts.models import ContractError, DeadLetter


def dead_letter(error: ContractError, *, topic: str, partition: int | None, offset: int | None,
                key: bytes | None, value: bytes, batch_index: int | None = None) -> dict:
    """The dead-letter event as a contract dict (encode it with orjson to send it)."""
    record = DeadLetter(
        reason=error.reason, error=error.detail[:2000], source_topic=topic, partition=partition, offset=offset,
        batch_index=batch_index, key_b64=base64.b64encode(key).decode() if key is not None else None,
        original_b64=base64.b64encode(value).decode(), original_size=len(value),
        received_ts=int(time.time() * 1000),
    )
    return record.model_dump(mode="json")


def original_bytes(record: dict) -> bytes:
    return base64.b64decode(record["original_b64"])
