"""Raw bytes -> events: every kind of bad input is refused with a reason; good input never is."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.contracts.interchange import BadLine, read_events
from pipeline.contracts.models import FAST_PATHS, ContractError, Liquidation, parse_event
from pipeline.sources.exchanges.normalize import normalize_lines
from tests.contracts.oracle import (EXAMPLES, beyond_double, mutated, outcome, recorded_venue_lines, same_outcome,
                                    schema_accepts)

# (venue, lines): real recorded sessions, and the venues' documented liquidation messages
RECORDINGS = recorded_venue_lines()

GOOD = {"type": "liquidation", "event_id": "bybit:1", "venue": "bybit", "symbol": "BTCUSDT", "asset": "BTC",
        "side": "long", "price": 110_000.0, "quantity": 2.0, "notional_usd": 220_000.0, "ts": 1_756_069_200_000,
        "received_ts": 1_756_069_200_200, "completeness": "full"}


def reason(raw: bytes, **kw) -> str:
    with pytest.raises(ContractError) as exc:
        parse_event(raw, **kw)
    return exc.value.reason


def test_good_event_parses():
    ev = parse_event(orjson.dumps(GOOD))
    assert isinstance(ev, Liquidation) and ev.notional_usd == 220_000.0


@pytest.mark.parametrize("raw, expected", [
    (b"{not json", "malformed_json"),
    (b"", "malformed_json"),
    (b"[1, 2]", "invalid"),
    (orjson.dumps({**GOOD, "type": "tweet"}), "unknown_type"),
    (orjson.dumps({k: v for k, v in GOOD.items() if k != "side"}), "invalid"),
    (orjson.dumps({**GOOD, "price": "110000"}), "invalid"),
    (orjson.dumps({**GOOD, "ts": 1.5}), "invalid"),
    (orjson.dumps({**GOOD, "side": "buy"}), "invalid"),
    (orjson.dumps({**GOOD, "asset": "btc"}), "invalid"),
    (orjson.dumps({**GOOD, "quantity": -1}), "invalid"),
])
def test_bad_input_reasons(raw, expected):
    assert reason(raw) == expected


def test_oversize_and_wrong_topic():
    assert reason(orjson.dumps({**GOOD, "pad": "x" * 5000}), max_bytes=4096) == "oversize"
    assert reason(orjson.dumps(GOOD), expect={"trade_flow"}) == "wrong_topic"


def test_error_names_the_field():
    with pytest.raises(ContractError) as exc:
        parse_event(orjson.dumps({**GOOD, "price": "abc"}))
    assert "price" in str(exc.value)


def test_unknown_fields_are_tolerated():
    ev = parse_event(orjson.dumps({**GOOD, "new_field": {"nested": 1}, "schema_version": 2}))
    assert ev.model_dump()["new_field"] == {"nested": 1}


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(raw):
    try:
        parse_event(raw)
    except ContractError:
        pass


def test_interchange_file_reports_bad_lines(tmp_path):
    f = tmp_path / "events.jsonl"
    f.write_bytes(orjson.dumps(GOOD) + b"\n\n{oops\n" + orjson.dumps({**GOOD, "event_id": "bybit:2"}) + b"\n")
    items = list(read_events(f))
    assert [type(i).__name__ for i in items] == ["Liquidation", "BadLine", "Liquidation"]
    bad = items[1]
    assert isinstance(bad, BadLine) and bad.line_no == 3 and bad.raw == b"{oops"


def _no_constants(name: str):
    raise ValueError(f"{name} is not JSON")


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(EXAMPLES)), data=st.data())
def test_mutated_messages_as_bytes(name, data):
    """Mutated documents written as JSON text (NaN and Infinity literals, integers past 64 bits and past
    what a double holds, 1.0 for integers, all as a producer in another language might write them):
    parse_event refuses exactly the text that is not JSON or that the schema refuses, with the reason and
    the error the full validation gives, and otherwise gives the full validation's event."""
    doc, _ = data.draw(mutated(name))
    raw = json.dumps(doc, allow_nan=True).encode()
    try:
        decoded = json.loads(raw, parse_constant=_no_constants)
        expected = "malformed_json" if beyond_double(decoded) else "ok" if schema_accepts(name, decoded) else "invalid"
    except ValueError:
        expected = "malformed_json"
    try:
        public = ("ok", parse_event(raw, expect={name}))
    except ContractError as exc:
        public = ("error", exc.reason, exc.detail)
    if expected == "malformed_json":
        assert public[:2] == ("error", "malformed_json"), f"{raw!r}: {public}"
        return
    full = outcome(orjson.loads(raw), expect={name}, fast=False)
    assert same_outcome(public, full), f"{raw!r}: parse_event {public}, full validation {full}"
    if name == "alert" and public[0] == "error" and expected == "ok":
        return  # nested evidence: the model is stricter than the schema's bare object
    assert (public[0] == "ok") == (expected == "ok"), f"{raw!r}: schema {expected}, parse_event {public}"


def test_recorded_venue_messages_take_the_fast_path():
    """Real venue recordings and documented examples, normalized as the feed does: every liquidation
    and bar parses through the fast path into the same event the full validation gives."""
    seen = {"liquidation": 0, "trade_flow": 0}
    for venue, lines in RECORDINGS:
        for obj in normalize_lines(venue, lines, now_ms=1_700_000_000_000):
            if obj.get("type") not in seen:
                continue
            raw = orjson.dumps(obj)
            assert FAST_PATHS[obj["type"]](orjson.loads(raw)) is not None, raw
            assert same_outcome(("ok", parse_event(raw)), outcome(orjson.loads(raw), fast=False))
            seen[obj["type"]] += 1
    assert all(seen.values()), seen
