"""A validated fast path from a decoded JSON object to an event model, generated from the model's schema.

Full pydantic validation is most of the cost of parsing an event. For a model whose fields are all
flat (strings, integers, numbers, booleans, string enums, each optionally null), this module
generates one Python function at import time from the model's JSON Schema. It checks every field of
the decoded object (exact types, bounds, lengths, patterns, enums, required fields) and, when all
pass, builds the instance the way `BaseModel.model_construct` does, without validating again.

It never rejects. Whatever it is not sure of returns None, and the caller runs the full validation,
which then accepts or rejects with its usual error: a failed check, an int where a float belongs or
a float where an int belongs (pydantic converts both), a string ending in a newline where a pattern
applies (Python's `$` matches before it, pydantic's regex does not), a subclass of str. So what it
accepts is a subset of what pydantic accepts, built identically; tests/contracts prove that, and
that both accept exactly what the JSON Schemas in schemas/ accept.

A model whose schema uses anything else (nested objects, arrays, keywords not in `_KEYWORDS`),
or that has aliases, private attributes or post-init hooks, gets no fast path (None).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from pydantic import BaseModel

# JSON Schema keywords a flat field may use; any other keyword disables the fast path for its model.
_KEYWORDS = {"type", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "minLength", "maxLength",
             "pattern", "enum", "const", "default", "title", "description"}
# pydantic writes the bound of an Optional field that has a before-validator under its own name
_PYDANTIC_BOUNDS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}
_TYPES = {"string": str, "integer": int, "number": float, "boolean": bool}
_IMMUTABLE = (type(None), bool, int, float, str)
_CACHE_LIMIT = 4096  # strings remembered per pattern (assets and dates repeat)
_MAX_OPTIONAL = 8  # optional fields of a model; one shared field set per combination, 2**8 at most


class Unsupported(Exception):
    """The model's schema uses something the generated checks do not cover."""


def field_spec(prop: dict) -> tuple[type, bool, dict]:
    """(python type, nullable, constraints) of one property of a JSON Schema, pydantic's or a file's.

    Raises Unsupported for anything but a flat, optionally nullable, value."""
    prop = {k: v for k, v in prop.items() if k not in ("title", "description", "default")}
    nullable = False
    if "anyOf" in prop:
        branches = prop.pop("anyOf")
        non_null = [b for b in branches if b != {"type": "null"}]
        if len(branches) != 2 or len(non_null) != 1:
            raise Unsupported("anyOf other than [X, null]")
        nullable, prop = True, {**prop, **non_null[0]}
    elif isinstance(prop.get("type"), list):
        types = prop["type"]
        if len(types) != 2 or "null" not in types:
            raise Unsupported(f"type {types}")
        nullable, prop = True, {**prop, "type": next(t for t in types if t != "null")}
    prop = {_PYDANTIC_BOUNDS.get(k, k): v for k, v in prop.items()}
    if "const" in prop:
        prop["enum"] = [prop.pop("const")]
    unknown = set(prop) - _KEYWORDS
    if unknown:
        raise Unsupported(f"keywords {sorted(unknown)}")
    if "type" not in prop and "enum" in prop and all(type(v) is str for v in prop["enum"]):
        prop["type"] = "string"  # a bare string enum or const
    kind = _TYPES.get(prop.pop("type", None))
    if kind is None:
        raise Unsupported("type")
    if "enum" in prop and (kind is not str or not all(type(v) is str for v in prop["enum"])):
        raise Unsupported("enum other than of strings")
    return kind, nullable, prop


class _Pattern:
    """`pattern.search(s)` for a str, refusing s that ends in a newline; remembers matching strings."""

    __slots__ = ("regex", "seen")

    def __init__(self, pattern: str):
        self.regex = re.compile(pattern)
        self.seen: set[str] = set()

    def __call__(self, s: str) -> bool:
        if s in self.seen:
            return True
        if s.endswith("\n") or self.regex.search(s) is None:
            return False
        if len(self.seen) < _CACHE_LIMIT:
            self.seen.add(s)
        return True


def _number(value: Any, const: Callable[[Any], str]) -> str:
    """A bound as a literal when it reads back exactly (a constant, cheaper than a name), else a name."""
    if type(value) in (int, float) and value == value and abs(value) != float("inf"):
        return repr(value)
    return const(value)


def _conditions(var: str, kind: type, prop: dict, const: Callable[[Any], str]) -> list[str]:
    """Python conditions on a value already known to be of type `kind` that hold when it is valid."""
    conds: list[str] = []
    if kind is str:
        if "enum" in prop:
            # One look-up checks the value and gives the schema's own string (as validation does):
            # events then share one copy of each.
            conds.append(f"({var} := {const({v: v for v in prop['enum']})}.get({var})) is not None")
        if "minLength" in prop:
            n = int(prop["minLength"])
            conds.append(f"{var}" if n == 1 else f"len({var}) >= {n}")  # a non-empty str is true
        if "maxLength" in prop:
            conds.append(f"len({var}) <= {int(prop['maxLength'])}")
        if "pattern" in prop:
            matcher = _Pattern(prop["pattern"])
            conds.append(f"({var} in {const(matcher.seen)} or {const(matcher)}({var}))")
        return conds
    if kind is bool:
        return conds
    low = high = ""
    if "minimum" in prop:
        low = f"{_number(prop['minimum'], const)} <= "
    if "exclusiveMinimum" in prop:
        low = f"{_number(prop['exclusiveMinimum'], const)} < "
    if "maximum" in prop:
        high = f" <= {_number(prop['maximum'], const)}"
    if "exclusiveMaximum" in prop:
        high = f" < {_number(prop['exclusiveMaximum'], const)}"
    if kind is float:
        # finite only, as the models want; NaN fails every comparison
        low, high = low or "-1e309 < ", high or " < 1e309"  # 1e309 is read as infinity
    if low or high:
        conds.append(f"{low}{var}{high}")
    return conds


def build_fast_path(model: type[BaseModel], *, into: type[tuple] | None = None,
                    type_checked: str | None = None) -> Callable[[dict], Any] | None:
    """The generated `fast(obj) -> instance | None` of a flat model, or None when it cannot have one.

    The model must be frozen, keep unknown fields (extra="allow") and validate nothing beyond what its JSON
    Schema says, except conversions the fast path leaves to it (see the module docstring). With `into`, a
    tuple class with one item per model field in order, the checked values are returned as one of those
    instead (unknown fields dropped). With `type_checked`, the caller promises that obj["type"] equals it
    (it dispatched on it), and the model's `type` field must be that constant: it is not read again."""
    if type_checked is not None and into is None:
        raise ValueError("type_checked is for records only (a model counts the fields it was given)")
    try:
        return _build(model, into, type_checked)
    except Unsupported:
        return None


def _build(model: type[BaseModel], into: type[tuple] | None, type_checked: str | None) -> Callable[[dict], Any]:
    config = model.model_config
    if (config.get("extra") != "allow" or not config.get("frozen") or model.__pydantic_post_init__
            or model.__private_attributes__):
        raise Unsupported("model config")
    schema = model.model_json_schema()
    props, required = schema.get("properties", {}), set(schema.get("required", ()))
    fields = model.model_fields
    if set(props) != set(fields) or "$defs" in schema:
        raise Unsupported("fields and schema properties differ")

    consts: dict[str, Any] = {"_MISSING": object(), "_FIELDS": frozenset(fields),
                              "_model": model, "_new": model.__new__}
    for slot in ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__"):
        consts[f"_set{slot}"] = vars(BaseModel)[slot].__set__  # the slots model_construct sets

    def const(value: Any) -> str:
        key = f"_c{len(consts)}"
        consts[key] = value
        return key

    optional: list[str] = []  # optional fields, bit i of `mask` set when optional[i] is in obj
    required_names: list[str] = []
    plain: list[tuple[int, type]] = []  # required, not nullable: fetched in one go, checked in one expression
    lines: list[str] = []
    checks: list[str] = []
    for i, (name, field) in enumerate(fields.items()):
        if field.alias is not None or field.validation_alias is not None:
            raise Unsupported(f"{name}: alias")
        try:
            kind, nullable, prop = field_spec(props[name])
        except Unsupported as exc:
            raise Unsupported(f"{name}: {exc}") from None
        var = f"v{i}"
        if type_checked is not None and name == "type":
            if prop.get("enum") != [type_checked] or nullable:
                raise Unsupported(f"type is not the constant {type_checked!r}")
            lines.append(f"{var} = {const(prop['enum'][0])}")  # the caller checked obj["type"]
            continue
        conds = _conditions(var, kind, prop, const)
        if name in required:
            required_names.append(name)
        if name in required and not nullable:
            plain.append((i, kind))
            checks.extend([f"type({var}) is {kind.__name__}", *conds])
            continue
        test = " and ".join([f"type({var}) is {kind.__name__}", *conds])
        if nullable:
            test = f"{var} is None or ({test})"
        lines.append(f"{var} = get({name!r}, _MISSING)")
        if name in required:
            lines.append(f"if {var} is _MISSING or not ({test}): return None")
            continue
        default = field.get_default(call_default_factory=True)
        if not isinstance(default, _IMMUTABLE):
            raise Unsupported(f"{name}: mutable default")
        # an absent optional field takes its default unchecked, as pydantic does (validate_default off)
        lines.append(f"if {var} is _MISSING: {var} = {const(default)}")
        if into is None:
            lines.append(f"elif {test}: mask |= {1 << len(optional)}")
            lines.append("else: return None")
        else:  # a record keeps no field set: no mask
            lines.append(f"elif not ({test}): return None")
        optional.append(name)

    if len(optional) > _MAX_OPTIONAL:
        raise Unsupported("too many optional fields")
    # Shared per combination of present fields: for a frozen model pydantic never changes either in
    # place (model_copy copies both first), and one set per event is most of an event's memory.
    consts["_SETS"] = tuple({*required_names, *(n for b, n in enumerate(optional) if mask >> b & 1)}
                            for mask in range(1 << len(optional)))
    consts["_COUNT"] = tuple(len(s) for s in consts["_SETS"])
    consts["_NO_EXTRA"] = {}
    consts["_into"], consts["_tuple_new"] = into, tuple.__new__
    consts["_required"] = itemgetter(*(list(fields)[i] for i, _ in plain)) if plain else (lambda obj: ())
    plain_vars = "".join(f"v{i}, " for i, _ in plain)
    values = ", ".join(f"{name!r}: v{i}" for i, name in enumerate(fields))
    body = [
        "try: got = _required(obj)",
        "except KeyError: return None",
        f"{plain_vars}= got" if len(plain) > 1 else f"{plain_vars}= (got,)" if plain else "pass",
        *(["if not (" + " and ".join(checks) + "): return None"] if checks else []),
        "get = obj.get",
        *(["mask = 0"] if into is None else []),
        *lines,
        *([f"return _tuple_new(_into, ({''.join(f'v{i}, ' for i in range(len(fields)))}))"] if into else [
            "m = _new(_model)",
            f"_set__dict__(m, {{{values}}})",  # in field order, as validation builds it
            "if _COUNT[mask] == len(obj):",  # no extra keys
            "    _set__pydantic_fields_set__(m, _SETS[mask])",
            "    _set__pydantic_extra__(m, _NO_EXTRA)",
            "else:",
            "    _set__pydantic_fields_set__(m, set(obj))",  # validation counts extra keys as set too
            "    _set__pydantic_extra__(m, {k: v for k, v in obj.items() if k not in _FIELDS})",
            "_set__pydantic_private__(m, None)",
            "return m",
        ]),
    ]
    fn_name = f"fast_{model.__name__}"
    src = f"def {fn_name}(obj):\n" + "\n".join("    " + line for line in body) + "\n"
    namespace = dict(consts)
    exec(compile(src, f"<fast path of {model.__name__}>", "exec"), namespace)  # noqa: S102 - source built above
    fn = namespace[fn_name]
    fn.source = src  # to read what was generated
    return fn
