"""A decoder that validates in C (msgspec) for the flat event types, generated from their schemas.

`decode(raw)` turns the bytes of one message straight into its light record (pipeline/contracts/light.py)
when it is sure the message is valid, and otherwise returns None, so that the caller runs the usual
path (orjson, the generated checks, full validation), which accepts or refuses with its usual error.
It never refuses anything itself, so parsing accepts and refuses exactly what it did before; what it
accepts it builds identically (tests/contracts prove both against the JSON Schemas in schemas/).

Each type gets a msgspec Struct tagged by its `type`, with every declared field checked as its schema
says: the type (an integer where a number belongs is taken as the float, as full validation does),
nullability, bounds, lengths, enums and patterns. What msgspec reads differently from the usual path
is left to it, by declining:
- unknown fields: msgspec skips them unread (a number past what a double holds there would pass),
  so a message with any field its schema does not declare is declined;
- integers beyond 64 bits (orjson reads those as floats, full validation converts them back);
- a number with a fraction where an integer belongs (JSON Schema counts 1.0 as an integer).

Patterns are checked after decoding, by the usual path's matcher (fastpath._Pattern: remembers the
strings that matched, and reads a final `$` as JSON Schema does); in msgspec a pattern costs a regex
search per message, as much as all the rest of the decoding.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, Literal, Union

import msgspec
from pydantic import BaseModel

from pipeline.contracts.fastpath import Unsupported, _Pattern, field_spec

# JSON Schema keyword -> msgspec.Meta argument
_META = {"minimum": "ge", "exclusiveMinimum": "gt", "maximum": "le", "exclusiveMaximum": "lt",
         "minLength": "min_length", "maxLength": "max_length"}
_INT64 = (-(2**63), 2**63 - 1)  # integers orjson reads exactly; beyond them the usual path decides


def field_type(prop: dict) -> Any:
    """The msgspec type of one property of a JSON Schema (Unsupported for anything but a flat value);
    its pattern, if any, is not part of it (see `Decoder`)."""
    kind, nullable, prop = field_spec(prop)
    meta: dict[str, Any] = {_META[k]: v for k, v in prop.items() if k in _META}
    if kind is int:
        if "gt" not in meta:
            meta["ge"] = max(meta.get("ge", _INT64[0]), _INT64[0])
        if "lt" not in meta:
            meta["le"] = min(meta.get("le", _INT64[1]), _INT64[1])
    if "enum" in prop:
        # The schema's own strings, interned: every event shares one copy of each, as the usual path does.
        typ: Any = Literal[tuple(sys.intern(v) for v in prop["enum"])]
    else:
        typ = kind
    if meta:
        if kind is bool or "enum" in prop:
            raise Unsupported("bounds on a boolean or an enum")
        typ = Annotated[typ, msgspec.Meta(**meta)]
    return Union[typ, None] if nullable else typ


def struct_for(name: str, model: type[BaseModel]) -> type[msgspec.Struct]:
    """The Struct of a flat model: every field but `type` (the tag), unknown fields refused."""
    schema = model.model_json_schema()
    props, required = schema.get("properties", {}), set(schema.get("required", ()))
    if set(props) != set(model.model_fields) or "$defs" in schema:
        raise Unsupported("fields and schema properties differ")
    fields: list[tuple] = []
    for fname, field in model.model_fields.items():
        if fname == "type":
            continue
        typ = field_type(props[fname])
        if fname in required:
            fields.append((fname, typ))
        else:
            default = field.get_default(call_default_factory=True)
            if not isinstance(default, (type(None), bool, int, float, str)):
                raise Unsupported(f"{fname}: mutable default")
            fields.append((fname, typ, default))
    return msgspec.defstruct(f"{model.__name__}Struct", fields, tag_field="type", tag=name, kw_only=True,
                             forbid_unknown_fields=True,
                             gc=False)  # scalars only: no cycles for the collector to find


def converter(name: str, model: type[BaseModel], record: type[tuple]) -> Any:
    """`convert(struct) -> record | None` for the Struct of `model`: its patterns checked (None when one
    fails), its values put in the record with `type` in its place."""
    if list(record._fields) != list(model.model_fields) or list(model.model_fields)[1] != "type":
        raise Unsupported(f"{name}: record fields are not the model's with `type` second")
    props = model.model_json_schema()["properties"]
    consts: dict[str, Any] = {"_new": tuple.__new__, "_record": record, "_name": name}
    lines, values = [], []
    for i, fname in enumerate(record._fields):
        if fname == "type":
            values.append("_name")
            continue
        values.append(f"s.{fname}")
        _, nullable, prop = field_spec(props[fname])
        if "pattern" in prop:
            matcher = consts[f"_m{i}"] = _Pattern(prop["pattern"])
            consts[f"_seen{i}"] = matcher.seen
            test = f"v{i} in _seen{i} or _m{i}(v{i})"
            if nullable:
                test = f"v{i} is None or {test}"
            lines += [f"v{i} = s.{fname}", f"if not ({test}): return None"]
            values[-1] = f"v{i}"
    body = [*lines, f"return _new(_record, ({', '.join(values)},))"]
    src = "def convert(s):\n" + "\n".join("    " + line for line in body) + "\n"
    exec(compile(src, f"<record of {name}>", "exec"), consts)  # noqa: S102 - source built above
    return consts["convert"]


class Decoder:
    """`decode(raw)`: the record of a message of one of `records`' types, or None (not sure: ask the usual path)."""

    def __init__(self, models: dict[str, type[BaseModel]], records: dict[str, type[tuple]]):
        self.into: dict[type, tuple[Any, str]] = {}  # Struct -> (its converter, its type)
        for name, cls in records.items():
            self.into[struct_for(name, models[name])] = (converter(name, models[name], cls), name)
        # raises one of DECLINED, or gives a Struct for `into`
        self.decode_struct = msgspec.json.Decoder(Union[tuple(self.into)]).decode

    # what decode_struct raises (bad UTF-8: ValueError; nesting deeper than it reads: RecursionError)
    DECLINED = (msgspec.MsgspecError, ValueError, RecursionError)

    def decode(self, raw: bytes | str, expect: set[str] | None = None) -> tuple | None:
        try:
            s = self.decode_struct(raw)
        except self.DECLINED:
            return None
        convert, name = self.into[type(s)]
        if expect is not None and name not in expect:
            return None
        return convert(s)
