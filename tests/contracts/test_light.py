"""Light records: the same acceptance and errors as parse_event, the same values as the models."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.contracts.light import RECORDS, parse_light, to_record
from pipeline.contracts.models import Alert, ContractError, parse_event
from pipeline.scenarios import bundled
from tests.contracts.oracle import EDGE_VALUES, EXAMPLES, mutated


def both(raw: bytes, **kw):
    """(parse_event's outcome, parse_light's outcome), each ('ok', value) or ('error', reason, detail)."""
    out = []
    for parse in (parse_event, parse_light):
        try:
            out.append(("ok", parse(raw, **kw)))
        except ContractError as exc:
            out.append(("error", exc.reason, exc.detail))
    return out


def agree(event_outcome, record_outcome) -> bool:
    if event_outcome[0] != record_outcome[0]:
        return False
    if event_outcome[0] == "error":
        return event_outcome == record_outcome
    event, record = event_outcome[1], record_outcome[1]
    if event.type not in RECORDS:
        return record == event
    values = list(event.__dict__.values())
    return (type(record) is RECORDS[event.type] and list(record) == values
            and [type(v) for v in record] == [type(v) for v in values]
            and record.ts == event.ts and record.event_id == event.event_id)


def test_whole_bundled_scenario_gives_the_models_values():
    for line in bundled().read_bytes().splitlines():
        event, record = both(line)
        assert agree(event, record), line


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(EXAMPLES)), data=st.data())
def test_mutated_messages_same_outcome_as_parse_event(name, data):
    doc, _ = data.draw(mutated(name))
    raw = json.dumps(doc, allow_nan=True).encode()
    event, record = both(raw, expect={name})
    assert agree(event, record), f"{raw!r}: parse_event {event}, parse_light {record}"


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_every_field_with_every_edge_value(name):
    for field in EXAMPLES[name]:
        for value in ["<missing>", *EDGE_VALUES]:
            doc = {k: v for k, v in EXAMPLES[name].items() if k != field}
            if value != "<missing>":
                doc[field] = value
            raw = json.dumps(doc, allow_nan=True).encode()
            event, record = both(raw, expect={name})
            assert agree(event, record), f"{name}.{field}={value!r}: {event} vs {record}"


def test_extras_dropped_alerts_stay_models_and_oversize_refused():
    record = parse_light(orjson.dumps({**EXAMPLES["liquidation"], "open_interest_usd": 1.0}))
    assert type(record).__name__ == "LiquidationRecord" and not hasattr(record, "open_interest_usd")
    alert = parse_light(orjson.dumps(EXAMPLES["alert"]))
    assert isinstance(alert, Alert) and to_record(alert) is alert
    with pytest.raises(ContractError) as exc:
        parse_light(orjson.dumps(EXAMPLES["trade_flow"]), max_bytes=10)
    assert exc.value.reason == "oversize"


def test_enum_values_come_back_as_the_schemas_own_strings():
    """Side, completeness and type are the contract's own strings, one copy shared by every event
    (the detector keeps an hour of rows), whichever way the message was parsed."""
    line = next(raw for raw in bundled().read_bytes().splitlines() if b'"liquidation"' in raw)
    copies = [parse(bytes(line)) for parse in (parse_light, parse_light, parse_event, parse_event)]
    for field in ("side", "completeness", "type"):
        assert len({id(getattr(c, field)) for c in copies}) == 1, field
