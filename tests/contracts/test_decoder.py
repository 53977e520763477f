"""The msgspec decoder: whatever it accepts the schema accepts and the usual path builds identically, it
declines nothing plain that is valid, and parse_light with it accepts exactly what the schemas accept."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.contracts.decoder import Decoder
from pipeline.contracts.light import RECORDS, parse_light, to_record
from pipeline.contracts.models import INPUT_TYPES, ContractError, parse_event
from pipeline.scenarios import bundled
from pipeline.sources.exchanges.normalize import normalize_lines
from tests.contracts.oracle import (EDGE_VALUES, EXAMPLES, expected_outcome, from_schema, json_text, mutate,
                                    recorded_venue_lines, schema)

DECODER = Decoder(INPUT_TYPES, RECORDS)
NAMES = sorted(RECORDS)
INT64 = 2**63 - 1


def usual(raw: bytes, name: str | None = None):
    """('ok', record) or ('error', reason) of the path the decoder stands in front of."""
    try:
        return ("ok", to_record(parse_event(raw, expect=None if name is None else {name})))
    except ContractError as exc:
        return ("error", exc.reason)


def identical(a: tuple, b: tuple) -> bool:
    """The same record class, values and value types (0.0 and -0.0 told apart)."""
    return (type(a) is type(b) and list(a) == list(b) and [type(v) for v in a] == [type(v) for v in b]
            and [repr(v) for v in a] == [repr(v) for v in b])


def plain(name: str, raw: bytes) -> bool:
    """Valid, and written plainly: only declared fields, each once, integers as 64-bit integers. The
    decoder must take every such message (it declines only what msgspec reads differently)."""
    doc = json.loads(raw)
    props = schema(name)["properties"]
    if set(doc) - set(props) or raw.count(b'":') != len(doc):
        return False
    ints = {k for k, p in props.items() if "integer" in (p["type"] if isinstance(p.get("type"), list)
                                                          else [p.get("type")])}
    return all(type(doc[k]) is int and -(2**63) <= doc[k] <= INT64 for k in ints if doc.get(k) is not None)


def check(name: str, raw: bytes) -> str:
    """The decoder's answer against the oracle and the usual path; returns the oracle's verdict."""
    expected = expected_outcome(name, raw)
    got = DECODER.decode(raw, {name})
    if got is not None:
        assert expected == "ok", f"{raw!r}: decoder accepts, schema says {expected}"
        want = usual(raw, name)
        assert want[0] == "ok" and identical(got, want[1]), f"{raw!r}: decoder {got}, usual path {want}"
    elif expected == "ok" and b"\\u" not in raw:
        assert not plain(name, raw), f"{raw!r}: plain valid message declined"
    try:
        light = ("ok", parse_light(raw, expect={name}))
    except ContractError as exc:
        light = ("error", exc.reason)
    assert (light[0] == "ok") == (expected == "ok"), f"{raw!r}: schema {expected}, parse_light {light}"
    if got is not None:
        assert identical(light[1], got)  # parse_light writes the decoder out: the same record
    if expected == "malformed_json":
        assert light == ("error", "malformed_json")
    return expected


def test_bundled_scenario_decodes_to_the_usual_records():
    n = 0
    for line in bundled().read_bytes().splitlines():
        got = DECODER.decode(line)
        assert got is not None and identical(got, usual(line)[1]), line
        n += 1
    assert n > 1000


def test_recorded_venue_messages_decode_to_the_usual_records():
    """Real venue recordings and the venues' documented examples, normalized as the feed does."""
    seen = {"liquidation": 0, "trade_flow": 0}
    for venue, lines in recorded_venue_lines():
        for obj in normalize_lines(venue, lines, now_ms=1_700_000_000_000):
            if obj.get("type") not in seen:
                continue
            raw = orjson.dumps(obj)
            got = DECODER.decode(raw)
            assert got is not None and identical(got, usual(raw)[1]), raw
            seen[obj["type"]] += 1
    assert all(seen.values()), seen


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(NAMES), data=st.data())
def test_messages_generated_from_the_schemas(name, data):
    """Documents generated from the schema files, written as JSON text in the ways producers write it."""
    doc = data.draw(from_schema(name))
    check(name, data.draw(json_text(doc)))


@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(NAMES), data=st.data())
def test_mutations_of_generated_messages(name, data):
    """The same documents with fields dropped, odd or near values, unknown fields: mostly invalid."""
    doc, _ = mutate(data.draw, data.draw(from_schema(name, extras=False)), name)
    check(name, data.draw(json_text(doc)))


@pytest.mark.parametrize("name", NAMES)
def test_every_field_with_every_edge_value(name):
    verdicts = set()
    for field in EXAMPLES[name]:
        for value in ["<missing>", *EDGE_VALUES]:
            doc = {k: v for k, v in EXAMPLES[name].items() if k != field}
            if value != "<missing>":
                doc[field] = value
            verdicts.add(check(name, json.dumps(doc, allow_nan=True).encode()))
    assert verdicts == {"ok", "invalid", "malformed_json"}


@pytest.mark.parametrize("text, verdict", [
    (b'"price": 1e400', "malformed_json"),  # past a double, in a declared field
    (b'"extra": 1e400', "malformed_json"),  # ... and in an unknown one, which msgspec would skip unread
    (b'"extra": "\\ud800"', "malformed_json"),  # half a UTF-16 pair
    (b'"price": 1e-400', "invalid"),  # reads as 0.0, and price must be above 0
    (b'"notional_usd": 1e-400', "ok"),
    (b'"ts": 18446744073709551617', "invalid"),  # past 64 bits (orjson reads a float), and past year 2105
    (b'"ts": 1.0', "ok"),
    (b'"ts": 1.5', "invalid"),
    (b'"price": -0.0', "invalid"),
    (b'"notional_usd": -0.0', "ok"),
    (b'"asset": "BTC\\n"', "invalid"),
    (b'"asset": "\\u0042TC"', "ok"),
    (b'"side": "long", "side": "nope"', "invalid"),  # a key twice: the last one counts
    (b'"side": "nope", "side": "long"', "ok"),
    (b'"price": -5, "price": 5', "ok"),
    (b'"price": 5, "price": 7', "ok"),
    (b'"type": "trade_flow"', "invalid"),
])
def test_written_edge_cases(text, verdict):
    """JSON text the way no serializer here writes it: the decoder declines or agrees."""
    base = orjson.dumps(EXAMPLES["liquidation"])
    raw = base[:-1] + b", " + text + b"}"
    assert check("liquidation", raw) == verdict
    if text == b'"price": 5, "price": 7':
        assert DECODER.decode(raw).price == 7.0


def test_bad_utf8_and_non_objects_are_declined():
    for raw in [b'{"type": "liquidation", "venue": "\xff"}', b"[1]", b"", b"{", b"null", "{}".encode()]:
        assert DECODER.decode(raw) is None
    good = orjson.dumps(EXAMPLES["trade_flow"])
    assert DECODER.decode(good.decode()) == DECODER.decode(good)  # str input as bytes
    assert DECODER.decode(good, {"liquidation"}) is None  # not this topic's: the usual path says why


def test_patterns_are_read_as_json_schema_reads_them():
    """A final `$` matches only at the very end (not before a final newline, as Python's would)."""
    base = EXAMPLES["liquidation"]
    assert DECODER.decode(orjson.dumps({**base, "asset": "ETH"})).asset == "ETH"
    for asset in ["BTC\n", "btc", "B", "ABCDEFGHIJKLM", " BTC"]:
        assert DECODER.decode(orjson.dumps({**base, "asset": asset})) is None, asset
    etf = EXAMPLES["etf_flow"]
    assert DECODER.decode(orjson.dumps({**etf, "date": "2025-08-24\n"})) is None
    assert DECODER.decode(orjson.dumps({**etf, "date": "2025-08-24"})).date == "2025-08-24"
