"""Light event records for hot consumers: named tuples with the fields of the flat event models.

`parse_light` accepts and refuses exactly what `parse_event` does, with the same errors, but gives a
`LiquidationRecord`, `TradeFlowRecord` ... (a NamedTuple: the model's fields in order, and its `ts`
and `event_id` properties) instead of the pydantic model, which is about a third of the cost of
parsing an event. Unknown extra fields are dropped. Types without a record (alert) come back as
their model. The records compare and hash as tuples; tell them apart by class or by `.type`.

Bytes are first given to a decoder that validates in C (pipeline/contracts/decoder.py, msgspec); it
declines whatever it is not sure of, which then takes the usual path (orjson, the generated checks of
fastpath.py, full validation), so the outcome is the same either way, at about two thirds of the cost.
"""

from __future__ import annotations

from typing import NamedTuple

import orjson
from pydantic import BaseModel

from pipeline.contracts.decoder import Decoder
from pipeline.contracts.fastpath import build_fast_path
from pipeline.contracts.models import FAST_PATHS, INPUT_TYPES, ContractError, event_from_dict


def record_class(model: type[BaseModel]) -> type[tuple]:
    """A NamedTuple with the model's fields, in order, and the model's read-only properties."""
    cls = NamedTuple(f"{model.__name__}Record", [(n, f.annotation) for n, f in model.model_fields.items()])
    for name in ("ts", "event_id"):
        prop = getattr(model, name, None)
        if isinstance(prop, property):
            setattr(cls, name, prop)
    cls.__doc__ = f"The fields of a validated {model.__name__}, as a tuple."
    return cls


RECORDS: dict[str, type[tuple]] = {name: record_class(model) for name, model in INPUT_TYPES.items()
                                   if FAST_PATHS[name] is not None}
# Called only with an object whose "type" is the key (the dispatch in parse_light / light_from_dict).
_LIGHT = {name: build_fast_path(INPUT_TYPES[name], into=cls, type_checked=name) for name, cls in RECORDS.items()}
_loads = orjson.loads
# Tried first: decodes and validates in C, or declines (pipeline/contracts/decoder.py; `Decoder.decode`
# is written out in parse_light, which runs for every message).
_DECODER = Decoder(INPUT_TYPES, RECORDS)
_decode, _INTO = _DECODER.decode_struct, _DECODER.into
_DECLINED = Decoder.DECLINED


def to_record(event: BaseModel) -> tuple | BaseModel:
    """The record of a validated event (the event itself for a type that has none)."""
    cls = RECORDS.get(event.type)
    return event if cls is None else cls._make(event.__dict__.values())


def parse_light(raw: bytes | str, *, max_bytes: int | None = None, expect: set[str] | None = None):
    """As `parse_event`, into a record: the same checks, the same ContractError for bad input."""
    if max_bytes is not None and len(raw) > max_bytes:
        raise ContractError("oversize", f"{len(raw)} bytes > limit {max_bytes}")
    try:
        struct = _decode(raw)
    except _DECLINED:
        pass
    else:
        convert, kind = _INTO[type(struct)]
        if (expect is None or kind in expect) and (record := convert(struct)) is not None:
            return record
    try:
        obj = _loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ContractError("malformed_json", str(exc)) from None
    if type(obj) is dict:  # light_from_dict, written out: this runs for every message
        kind = obj.get("type")
        if type(kind) is str and (expect is None or kind in expect):
            fast = _LIGHT.get(kind)
            if fast is not None and (record := fast(obj)) is not None:
                return record
    return to_record(event_from_dict(obj, expect=expect, fast=False))


def light_from_dict(obj: object, *, expect: set[str] | None = None):
    """As `event_from_dict`, into a record: the same checks, the same ContractError for bad input."""
    if type(obj) is dict:
        kind = obj.get("type")
        if type(kind) is str and (expect is None or kind in expect):
            fast = _LIGHT.get(kind)
            if fast is not None and (record := fast(obj)) is not None:
                return record
    return to_record(event_from_dict(obj, expect=expect, fast=False))
