"""The pydantic models and the JSON Schemas in schemas/ must describe the same contract."""

from __future__ import annotations

import jsonschema
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.contracts import models
from pipeline.contracts.models import FAST_PATHS, event_from_dict
from pipeline.scenarios import bundled
from tests.contracts.oracle import EDGE_VALUES, EXAMPLES, mutated, outcome, same_outcome, schema, schema_accepts

MODELS = {"whale_transfer": models.WhaleTransfer, "liquidation": models.Liquidation, "trade_flow": models.TradeFlow,
          "etf_flow": models.EtfFlow, "alert": models.Alert, "deadletter": models.DeadLetter,
          "link": models.Link, "trade": models.Trade, "leverage": models.Leverage}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fields_and_required_match(name):
    sch, model = schema(name), MODELS[name]
    jsonschema.Draft202012Validator.check_schema(sch)
    assert set(sch["properties"]) <= set(model.model_fields), "schema property missing from the model"
    model_required = {n for n, f in model.model_fields.items() if f.is_required()}
    # `type` and schema_version have defaults in the models (they are implied by the class).
    assert model_required == set(sch["required"]) - {"type", "schema_version"}
    assert sch["properties"]["type"]["const"] == name


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_examples_valid_under_both(name):
    jsonschema.validate(EXAMPLES[name], schema(name))
    event_from_dict(EXAMPLES[name])


def test_whole_bundled_scenario_matches_schemas():
    validators = {n: jsonschema.Draft202012Validator(schema(n)) for n in MODELS}
    for line in bundled().read_bytes().splitlines():
        obj = orjson.loads(line)
        validators[obj["type"]].validate(obj)


BAD_VALUES = [None, "x", -1, 1.5, True, [], {}]
# Alert evidence objects: the schema requires their keys but leaves their values open, the models type them.
NESTED = {("alert", "deposit"), ("alert", "linked_to")}


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(EXAMPLES)), data=st.data())
def test_models_reject_what_schemas_reject(name, data):
    """Mutated documents (missing, wrong-typed, out-of-range, extra fields; bools, NaN, huge and integral
    numbers, strings as numbers) are accepted by the schema, the full validation and the fast path alike,
    and the fast path gives the same event or the same error as the full validation."""
    doc, touched = data.draw(mutated(name))
    expected = schema_accepts(name, doc)
    full = outcome(doc, expect={name}, fast=False)
    public = outcome(doc, expect={name})
    assert same_outcome(public, full), f"{name} {doc!r}: fast path {public}, full validation {full}"
    fast_path = FAST_PATHS[name]
    if fast_path is not None and fast_path(doc) is not None:
        assert full[0] == "ok", f"fast path accepted what validation rejects: {doc!r}"
    if any((name, f) in NESTED and isinstance(doc.get(f), dict) for f in touched):
        return  # nested evidence: the model is stricter than the schema's bare object
    assert (full[0] == "ok") == expected, f"{name} {doc!r}: schema {expected}, model {full}"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_field_with_every_edge_value(name):
    """Each field of a valid document, in turn missing or set to each edge value: the schema, the full
    validation and the fast path agree, and the fast path's event or error is the full validation's."""
    fast_path, accepted_fast = FAST_PATHS[name], 0
    for field in sorted(schema(name)["properties"]):
        if field == "type":
            continue
        for value in ["<missing>", *EDGE_VALUES]:
            doc = {k: v for k, v in EXAMPLES[name].items() if k != field}
            if value != "<missing>":
                doc[field] = value
            full, public = outcome(doc, expect={name}, fast=False), outcome(doc, expect={name})
            assert same_outcome(public, full), f"{name}.{field}={value!r}: fast path {public}, full {full}"
            if (name, field) not in NESTED or not isinstance(value, dict):
                assert (full[0] == "ok") == schema_accepts(name, doc), f"{name}.{field}={value!r}: {full}"
            accepted_fast += fast_path is not None and fast_path(doc) is not None
    assert fast_path is None or accepted_fast > 0


@pytest.mark.parametrize("value, ok", [(1.0, True), (2.0**40, True), (1.5, False), (True, False), ("5", False),
                                       (-1.0, False), (float("nan"), False), (models.MS_MAX, True),
                                       (models.MS_MAX + 1, False), (2.0**64, False), (10**30, False)])
def test_integers_as_json_schema_counts_them(value, ok):
    """1.0 is an integer to JSON Schema; it is stored as the int 1 (and 2.0**40 as 2**40). A time past the
    last millisecond every ClickHouse column and TTL holds (2105) is refused, and so is anything past 64 bits, which no snapshot
    of the detector's state could write."""
    doc = {**EXAMPLES["liquidation"], "ts": value}
    assert schema_accepts("liquidation", doc) is ok
    got = outcome(doc)
    assert (got[0] == "ok") is ok
    if ok:
        assert type(got[1].ts) is int and got[1].ts == value


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_numbers_json_cannot_carry_are_refused(value):
    for name, field in [("liquidation", "price"), ("etf_flow", "net_flow_usd"), ("trade_flow", "close")]:
        assert outcome({**EXAMPLES[name], field: value})[:2] == ("error", "invalid")


def test_extra_fields_are_kept():
    obj = {**EXAMPLES["liquidation"], "open_interest_usd": 1.5e9}
    assert event_from_dict(obj).model_dump()["open_interest_usd"] == 1.5e9


TRADE_EXAMPLE = {"type": "trade", "event_id": "okx:BTC-USDT-SWAP:1191", "venue": "okx", "symbol": "BTC-USDT-SWAP",
                 "asset": "BTC", "ts": 1_755_226_800_123, "price": 117_000.5, "quantity": 0.25,
                 "notional_usd": 29_250.125, "taker_side": "sell", "trade_id": "1191", "received_ts": 1_755_226_800_180}


def test_trade_model_and_schema_accept_and_reject_alike():
    """Trades are not a detector input (parse_event does not take them): checked on the model itself."""
    validator = jsonschema.Draft202012Validator(schema("trade"))
    assert validator.is_valid(TRADE_EXAMPLE) and validator.is_valid({**TRADE_EXAMPLE, "trade_id": None})
    models.Trade.model_validate(TRADE_EXAMPLE)
    for field in schema("trade")["properties"]:
        # without `type` a message is no trade at all; the model class implies it
        for bad in (BAD_VALUES if field == "type" else ["<missing>", *BAD_VALUES]):
            example = {k: v for k, v in TRADE_EXAMPLE.items() if k != field}
            if bad != "<missing>":
                example[field] = bad
            try:
                models.Trade.model_validate(example)
                model_ok = True
            except ValueError:
                model_ok = False
            assert model_ok == validator.is_valid(example), f"trade.{field}={bad!r}"
