"""The batch envelope: several events in one Kafka message (schemas/batch.schema.json).

`{"batch": [event, ...]}`: a JSON object with a `batch` key and no `type` key. Any other message
is one event, as it always was. The envelope is only a container: each item answers to its own
event contract, so one bad item is refused on its own and the others stand.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.contracts.models import ContractError

BATCH_KEY = "batch"
_OPEN, _SEP, _CLOSE = b'{"batch":[', b",", b"]}"
OVERHEAD = len(_OPEN) + len(_CLOSE)  # bytes an envelope adds around its items (plus one comma between two)


class Batch(BaseModel):
    """The envelope's contract, for documentation and tests; the hot path checks the same with `items`."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    batch: list[Any] = Field(min_length=1)


def encode(events: list[bytes]) -> bytes:
    """An envelope around events that are already encoded JSON objects."""
    return _OPEN + _SEP.join(events) + _CLOSE


def is_batch(obj: object) -> bool:
    """Whether a decoded message is an envelope (it may still be a malformed one: see `items`)."""
    return type(obj) is dict and BATCH_KEY in obj and "type" not in obj


def items(obj: dict) -> list:
    """The items of an envelope, or ContractError("invalid") when the envelope itself is wrong."""
    batch = obj[BATCH_KEY]
    if type(batch) is not list or not batch:
        raise ContractError("invalid", f"batch envelope: `batch` must be a non-empty array, got {_kind(batch)}")
    if len(obj) != 1:
        extra = sorted(k for k in obj if k != BATCH_KEY)
        raise ContractError("invalid", f"batch envelope: unexpected keys {extra} (an envelope holds only `batch`)")
    return batch


def validate(raw: bytes) -> Batch:
    """Full validation of an envelope's bytes against the model (tests and tools; not the hot path)."""
    try:
        return Batch.model_validate(orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise ContractError("malformed_json", str(exc)) from None
    except ValidationError as exc:
        raise ContractError("invalid", f"batch envelope: {exc.errors(include_url=False)[0]['msg']}") from None


def _kind(value: object) -> str:
    if type(value) is list:
        return "an empty array"
    return type(value).__name__
