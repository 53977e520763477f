"""Dead-letter records: the reason a message (or one event of a batch envelope) was refused, and its bytes.

The bytes are kept whole up to a bound (`StreamConfig.deadletter_keep_bytes`), past it their first that
many: a record the dead-letter topic would refuse is a dead letter lost, and the take that made it could
never be acknowledged. The topic is created to take the largest record; one that refuses it all the same
(created by other means, with the broker's default limit) gets the record again with its first
`FALLBACK_KEEP` bytes, then with none (`cut`). `original_size` is always the whole size, so a cut record says it was cut."""

from __future__ import annotations

import base64
import time

import orjson

from pipeline.contracts.models import ContractError, DeadLetter

ERROR_CHARS = 2000  # of the error's text
KEY_BYTES = 1024  # of the message's key (keys are an asset's name)
_SLACK = 16 * 1024  # the record's other fields and its JSON


def dead_letter(error: ContractError, *, topic: str, partition: int | None, offset: int | None,
                key: bytes | None, value: bytes, batch_index: int | None = None, keep: int | None = None) -> dict:
    """The dead-letter event as a contract dict (encode it with orjson to send it); `keep`: the most of the
    original bytes it holds (None: all)."""
    size = len(value)
    if keep is not None and size > keep:
        value = value[:keep]
    if key is not None and len(key) > KEY_BYTES:
        key = key[:KEY_BYTES]
    record = DeadLetter(
        reason=error.reason, error=error.detail[:ERROR_CHARS], source_topic=topic, partition=partition, offset=offset,
        batch_index=batch_index, key_b64=base64.b64encode(key).decode() if key is not None else None,
        original_b64=base64.b64encode(value).decode(), original_size=size,
        received_ts=int(time.time() * 1000),
    )
    return record.model_dump(mode="json")


def original_bytes(record: dict) -> bytes:
    return base64.b64decode(record["original_b64"])


def record_bytes(keep: int) -> int:
    """The largest dead-letter record, encoded, when at most `keep` original bytes are kept: what the
    dead-letter topic must take (its max.message.bytes)."""
    return 4 * -(-keep // 3) + 4 * -(-KEY_BYTES // 3) + 6 * ERROR_CHARS + _SLACK


FALLBACK_KEEP = 512 * 1024  # of the original, for a dead-letter topic that refuses the whole record


def cut(record: bytes) -> tuple[bytes, int]:
    """An encoded dead letter with less of its original, and how many bytes of it it keeps: the first
    FALLBACK_KEEP, or, if it held no more than that already, none (`original_size` unchanged). What is sent
    again when the topic refuses the record (one made with the broker's default limit, about 1 MB), so
    the take still goes on and the record still says how much there was."""
    doc = orjson.loads(record)
    original = original_bytes(doc)
    keep = FALLBACK_KEEP if len(original) > FALLBACK_KEEP else 0
    doc["original_b64"] = base64.b64encode(original[:keep]).decode()
    return orjson.dumps(doc), keep
