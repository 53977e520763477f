"""The pydantic models and the JSON Schemas in schemas/ must describe the same contract."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.contracts import models
from pipeline.contracts.models import ContractError, event_from_dict
from pipeline.scenarios import bundled

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
MODELS = {"whale_transfer": models.WhaleTransfer, "liquidation": models.Liquidation, "trade_flow": models.TradeFlow,
          "etf_flow": models.EtfFlow, "alert": models.Alert, "deadletter": models.DeadLetter,
          "link": models.Link, "trade": models.Trade}


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


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


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(EXAMPLES)), data=st.data())
def test_models_reject_what_schemas_reject(name, data):
    """Drop a required field or put a wrong value in one: the schema and the model agree."""
    example = copy.deepcopy(EXAMPLES[name])
    sch = schema(name)
    field = data.draw(st.sampled_from(sorted(sch["properties"])))
    if data.draw(st.booleans()) and field in example:
        del example[field]
    else:
        example[field] = data.draw(st.sampled_from(BAD_VALUES))
    schema_ok = jsonschema.Draft202012Validator(sch).is_valid(example)
    try:
        event_from_dict(example)
        model_ok = True
    except ContractError:
        model_ok = False
    if name == "alert" and field in ("deposit",) and isinstance(example.get(field), dict):
        return  # nested evidence: the model is stricter than the schema's bare object
    assert model_ok == schema_ok, f"{name}.{field}={example.get(field, '<missing>')!r}: schema {schema_ok}, model {model_ok}"


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
