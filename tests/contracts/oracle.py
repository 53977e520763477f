"""Test helpers: the JSON Schemas as the oracle of validity, and hypothesis strategies that mutate valid
documents into the kinds of bad (and unusual but valid) input producers send."""

from __future__ import annotations

import copy
import json
import math
import re
from functools import cache
from pathlib import Path

import jsonschema
import orjson
from hypothesis import strategies as st
from jsonschema import validators

from pipeline.contracts.models import ContractError, event_from_dict
from pipeline.scenarios import bundled

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "exchange_samples"


def recorded_venue_lines() -> list[tuple[str, list[bytes]]]:
    """(venue, raw lines): real recorded sessions, and the venues' documented liquidation messages."""
    return [
        *((venue, (SAMPLES / "cryptofeed_sessions" / fname).read_bytes().splitlines())
          for venue, fname in [("binance-usdm", "BINANCE_FUTURES.ws.1.0"), ("bybit", "BYBIT.ws.26.0"),
                               ("okx", "OKX.ws.1.0"), ("bitmex", "BITMEX.ws.1.0"),
                               ("kraken-futures", "KRAKEN_FUTURES.ws.1.0"), ("coinbase", "COINBASE.ws.28.0")]),
        *((venue, [orjson.dumps(json.loads((SAMPLES / "docs_examples" / fname).read_text()))])
          for venue, fname in [("binance-usdm", "binance_usdm_forceOrder_docs_example.json"),
                               ("binance-coinm", "binance_coinm_forceOrder_docs_example.json"),
                               ("bybit", "bybit_v5_allLiquidation_docs_example.json")]),
    ]


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


def _ecma_pattern(validator, pattern, instance, sch):
    """`pattern` as JSON Schema defines it (ECMA-262): without the multiline flag `$` matches only at
    the very end. Python's `$` also matches before a final newline, so the jsonschema package would
    take "BTC\\n" as an asset; a trailing `$` is read as `\\Z` here."""
    if not validator.is_type(instance, "string"):
        return
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    if not re.search(pattern, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


EcmaValidator = validators.extend(jsonschema.Draft202012Validator, {"pattern": _ecma_pattern})


@cache
def validator(name: str):
    return EcmaValidator(schema(name))


def schema_accepts(name: str, doc: object) -> bool:
    """The oracle: a document is valid when its schema accepts it and every number in its declared fields
    is one JSON can carry (no NaN or infinity: orjson refuses them in text, and dumps them as null).
    Unknown fields are kept as they are, unchecked, by the schemas (additionalProperties) and the models."""
    props = schema(name)["properties"]
    declared_finite = not isinstance(doc, dict) or all(_finite(v) for k, v in doc.items() if k in props)
    return declared_finite and validator(name).is_valid(doc)


def _finite(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def beyond_double(value: object) -> bool:
    """A number in decoded JSON that no double holds (orjson refuses such text as malformed)."""
    if isinstance(value, float):
        return math.isinf(value)
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            float(value)
        except OverflowError:
            return True
        return False
    if isinstance(value, dict):
        return any(beyond_double(v) for v in value.values())
    if isinstance(value, list):
        return any(beyond_double(v) for v in value)
    return False


def outcome(obj: object, *, expect: set[str] | None = None, fast: bool = True):
    """('ok', model) or ('error', reason, detail) of event_from_dict."""
    try:
        return ("ok", event_from_dict(obj, expect=expect, fast=fast))
    except ContractError as exc:
        return ("error", exc.reason, exc.detail)


def same_model(a, b) -> bool:
    """Equal field for field, with the same Python types, extras, set fields and dump order."""
    return (type(a) is type(b) and a.__dict__ == b.__dict__
            and [type(v) for v in a.__dict__.values()] == [type(v) for v in b.__dict__.values()]
            and list(a.__dict__) == list(b.__dict__)
            and a.__pydantic_extra__ == b.__pydantic_extra__ and a.model_fields_set == b.model_fields_set
            and list(a.model_dump(mode="json").items()) == list(b.model_dump(mode="json").items()))


def same_outcome(a, b) -> bool:
    if a[0] != b[0]:
        return False
    return same_model(a[1], b[1]) if a[0] == "ok" else a == b


def scenario_examples() -> dict[str, dict]:
    found: dict[str, dict] = {}
    for line in bundled().read_bytes().splitlines():
        obj = orjson.loads(line)
        found.setdefault(obj["type"], obj)
    return found


EXAMPLES = scenario_examples()
EXAMPLES["alert"] = {
    "type": "alert", "alert_id": "a1", "asset": "BTC", "stage": "cascade", "reached": "cascade", "ts": 5,
    "deposit": {"event_id": "bitcoin:x:0", "usd_value": 2.7e9, "to_entity": "binance"},
    "sell": {"ts": 3, "net_sell_usd": 1e9}, "cascade": {"ts": 5}, "etf_context": None, "severity": "critical",
    "revision": 1, "amended": True, "evidence": {"sampled_venues": ["binance-usdm"], "gapped_markets": []},
    "linked_to": None,
}
EXAMPLES["link"] = {"type": "link", "asset": "ETH", "source_alert_id": "a1", "source_asset": "BTC",
                    "source_kind": "liquidation_cascade", "source_ts": 5, "source_long_usd": 6e7}
EXAMPLES["leverage"] = {"type": "leverage", "event_id": "bybit:BTCUSDT:tickers:1755226800000", "venue": "bybit",
                        "symbol": "BTCUSDT", "asset": "BTC", "ts": 1_755_226_800_000, "open_interest": 52_000.5,
                        "open_interest_usd": 6.0e9, "funding_rate": 0.0001, "funding_interval_ms": 28_800_000,
                        "next_funding_ts": 1_755_244_800_000, "mark_price": 115_400.2, "source": "tickers",
                        "received_ts": 1_755_226_800_040}

# The edges where validators tend to differ, of every JSON kind.
EDGE_VALUES = [
    None, True, False, 0, 1, -1, 2**53 + 1, 2**63, 2**64, -(2**63) - 1, 10**30,
    0.0, -0.0, 1.0, -1.0, 0.5, 1e300, 5e-324, 2.0**64, float("nan"), float("inf"), float("-inf"),
    "", " ", "\n", "BTC", "BTC\n", "btc", "B", "ABCDEFGHIJKLM", "long", "long\n", "Long",
    "110000", "1.5", "true", "null", "2025-08-24", "2025-08-24\n", "full", "sampled", [], [1], {}, {"a": 1},
]
ODD_VALUES = st.one_of(
    st.sampled_from(EDGE_VALUES), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=14),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _near(value: object) -> st.SearchStrategy:
    """Values derived from a valid one: same number as another type, as a string, at the bounds."""
    out = [st.just(str(value))]
    if isinstance(value, bool):
        out.append(st.sampled_from([int(value), float(value)]))
    elif isinstance(value, int):
        out.append(st.sampled_from([float(value), value + 0.5, -value, True, False, 0, -1, 2**64 + value,
                                    float(2**64 + value), float("nan")]))
    elif isinstance(value, float):
        out.append(st.sampled_from([-value, 0, 0.0, -0.0, True, math.nextafter(0.0, 1.0),
                                    float("inf"), float("-inf"), float("nan")]))
        if math.isfinite(value):
            out.append(st.just(int(value)))
        if value.is_integer():
            out.append(st.just(int(value)))
    elif isinstance(value, str):
        out.append(st.sampled_from([value + "\n", value.lower(), value.upper(), value[:1], value * 5, "", None]))
    return st.one_of(out)


@st.composite
def mutated(draw, name: str) -> tuple[dict, list[str]]:
    """A valid example of `name` with one to three mutations; returns it and the fields touched."""
    return mutate(draw, EXAMPLES[name], name)


# -- documents generated from the schema files, and JSON text written the many ways producers write it --

_INT_EDGES = [2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**30]


def ecma_fullmatch(pattern: str) -> str:
    """A JSON Schema pattern anchored as ECMA-262 reads it, for hypothesis' from_regex(fullmatch=True)."""
    return pattern.removeprefix("^").removesuffix("$")


def value_strategy(prop: dict) -> st.SearchStrategy:
    """Values the property accepts, read off its schema (type, nullability, bounds, length, pattern, enum);
    for numbers, integers as well as floats (JSON Schema counts 3 as a number and 3.0 as an integer)."""
    types = prop.get("type")
    types = types if isinstance(types, list) else [types] if types else []
    out = []
    if "const" in prop or "enum" in prop:
        out.append(st.sampled_from([prop["const"]] if "const" in prop else prop["enum"]))
    if "string" in types and "enum" not in prop:
        if "pattern" in prop:
            out.append(st.from_regex(ecma_fullmatch(prop["pattern"]), fullmatch=True))
        else:
            out.append(st.text(min_size=prop.get("minLength", 0), max_size=prop.get("maxLength", 20)))
    if "integer" in types or "number" in types:
        low = prop.get("minimum", prop.get("exclusiveMinimum"))
        excl = "exclusiveMinimum" in prop
        int_low = None if low is None else (low + 1 if excl else low)
        ints = st.integers(min_value=int_low, max_value=2**64 + 5)
        edges = st.sampled_from([v for v in _INT_EDGES if int_low is None or v >= int_low])
        # mostly plain integers; one in twenty an edge, one in twenty written as 3.0 (an integer to JSON
        # Schema, a float to Python)
        out.append(st.integers(0, 19).flatmap(lambda k: edges if k == 0 else ints.map(float) if k == 1 else ints))
        if "number" in types:
            out.append(st.floats(min_value=low, exclude_min=excl, allow_nan=False, allow_infinity=False))
    if "boolean" in types:
        out.append(st.booleans())
    if "null" in types:
        out.append(st.none())
    return st.one_of(out)


@st.composite
def from_schema(draw, name: str, extras: bool = True) -> dict:
    """A document built from the schema file: every required property, each optional one or not, a value
    its schema accepts for each (so nearly always valid: the oracle has the last word), and maybe unknown
    fields of any JSON kind."""
    sch = schema(name)
    required = set(sch.get("required", ()))
    doc = {}
    for field, prop in sch["properties"].items():
        if field in required or draw(st.booleans()):
            doc[field] = draw(value_strategy(prop))
    if extras and draw(st.integers(0, 3)) == 0:
        doc[draw(st.sampled_from(["extra", "note", "ts_ns"]))] = draw(ODD_VALUES)
    return doc


def _number_text(value: float | int, form: int) -> str:
    """One of several spellings of the same JSON number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return json.dumps(value, allow_nan=True)
    if form == 1:
        return f"{value:e}" if isinstance(value, float) else f"{value}e0"
    if form == 2:
        return repr(float(value)).upper() if isinstance(value, float) else f"{value}.0"
    if form == 3:
        return f"{value!r}00" if isinstance(value, float) and "." in repr(value) and "e" not in repr(value) \
            else json.dumps(value)
    return json.dumps(value)


def _string_text(value: str, form: int) -> str:
    if form == 1:
        return '"' + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else c for c in value) + '"'
    if form == 2:
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value)


@st.composite
def json_text(draw, doc: dict) -> bytes:
    """`doc` as JSON text, written one of the ways producers write it: numbers as 1e5, 1.0E5, 100000.0
    or with trailing zeros; strings with \\u escapes or raw UTF-8; whitespace; sometimes one key
    written twice, the earlier value anything (JSON readers here keep the last)."""
    parts = []
    for key, value in doc.items():
        form = max(0, draw(st.integers(-4, 3)))  # mostly plain
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, int) and draw(st.integers(0, 9)):
                form = 0  # 1e0 and 1.0 are integers to JSON Schema, floats to most readers: now and then
            text = _number_text(value, form)
        elif isinstance(value, str):
            text = _string_text(value, form)
        else:
            text = json.dumps(value, allow_nan=True)
        parts.append(f"{_string_text(key, max(0, draw(st.integers(-6, 2))))}:{text}")
    if parts and draw(st.integers(0, 9)) == 0:
        i = draw(st.integers(0, len(parts) - 1))
        key = parts[i].split(":", 1)[0]
        parts.insert(i, f"{key}:{json.dumps(draw(ODD_VALUES), allow_nan=True)}")
    space = draw(st.sampled_from(["", " ", "\n", "\t "]))
    return (space + "{" + ("," + space).join(parts) + "}" + space).encode()


def expected_outcome(name: str, raw: bytes) -> str:
    """'ok', 'invalid' or 'malformed_json': what the schema (and JSON) say of `raw` as a message of `name`."""
    try:
        decoded = json.loads(raw, parse_constant=_no_constants)
    except ValueError:
        return "malformed_json"
    if beyond_double(decoded) or _lone_surrogate(decoded):
        return "malformed_json"
    return "ok" if schema_accepts(name, decoded) else "invalid"


def _lone_surrogate(value: object) -> bool:
    """A string escape that is half a UTF-16 pair ("\\ud800"): Python reads it, orjson refuses the text."""
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(_lone_surrogate(k) or _lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_lone_surrogate(v) for v in value)
    return False


def _no_constants(name: str):
    raise ValueError(f"{name} is not JSON")


def mutate(draw, doc: dict, name: str) -> tuple[dict, list[str]]:
    """A copy of `doc` with one to three mutations (a field dropped, given an odd value or one near its
    own, or an unknown field added); returns it and the fields touched."""
    doc = copy.deepcopy(doc)
    props = sorted(schema(name)["properties"])
    touched = []
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["drop", "odd", "near", "extra"]))
        field = draw(st.sampled_from(props))
        if field == "type":
            continue  # another type is another contract: tests of dispatch cover it
        touched.append(field)
        if op == "drop":
            doc.pop(field, None)
        elif op == "odd":
            doc[field] = draw(ODD_VALUES)
        elif op == "near" and field in doc:
            doc[field] = draw(_near(doc[field]))
        else:
            doc[draw(st.sampled_from(["extra", "open_interest_usd", "note", "ts_ns"]))] = draw(ODD_VALUES)
    return doc, touched
