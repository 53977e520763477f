"""Raw bytes -> events: every kind of bad input is refused with a reason; good input never is."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.contracts.interchange import BadLine, read_events
from pipeline.contracts.models import ContractError, Liquidation, parse_event

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
