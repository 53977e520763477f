"""The batch envelope: its model and schemas/batch.schema.json accept the same documents, and the
worker's check (`is_batch` + `items`) agrees with both on what is a valid envelope."""

from __future__ import annotations

import jsonschema
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pipeline.contracts.envelope import Batch, encode, is_batch, items
from pipeline.contracts.models import ContractError
from tests.contracts.oracle import EXAMPLES, schema

SCHEMA = schema("batch")
LIQ, BAR = EXAMPLES["liquidation"], EXAMPLES["trade_flow"]

DOCUMENTS = [
    {"batch": [LIQ]},
    {"batch": [LIQ, LIQ, BAR]},
    {"batch": [LIQ, 3, "x", None]},  # valid envelope; its items are checked one by one against their contracts
    {"batch": []},
    {"batch": {"0": LIQ}},
    {"batch": LIQ},
    {"batch": None},
    {"batch": [LIQ], "asset": "BTC"},
    {"events": [LIQ]},
    {},
    [LIQ],
]


def model_accepts(doc: object) -> bool:
    try:
        Batch.model_validate(doc)
    except ValidationError:
        return False
    return True


def worker_accepts(doc: object) -> bool:
    if not is_batch(doc):
        return False
    try:
        items(doc)
    except ContractError:
        return False
    return True


def schema_accepts(doc: object) -> bool:
    return jsonschema.Draft202012Validator(SCHEMA).is_valid(doc)


def test_schema_is_valid_and_documents_the_shape():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["required"] == ["batch"] and SCHEMA["additionalProperties"] is False
    assert set(SCHEMA["properties"]) == set(Batch.model_fields)


@pytest.mark.parametrize("doc", DOCUMENTS, ids=[orjson.dumps(d)[:40].decode() for d in DOCUMENTS])
def test_schema_model_and_worker_agree(doc):
    assert schema_accepts(doc) == model_accepts(doc) == worker_accepts(doc)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["batch", "asset", "events"]),
                       st.one_of(st.none(), st.integers(), st.lists(st.sampled_from([LIQ, BAR, 1]), max_size=3)),
                       max_size=2))
def test_schema_model_and_worker_agree_on_generated_documents(doc):
    assert schema_accepts(doc) == model_accepts(doc) == worker_accepts(doc)


def test_an_event_is_never_taken_for_an_envelope():
    # every event has a `type`; an event with an extra field named `batch` stays an event
    assert not is_batch({**LIQ, "batch": [LIQ]})
    for example in EXAMPLES.values():
        assert not is_batch(example)


def test_encode_gives_a_valid_envelope_holding_the_events_in_order():
    raw = encode([orjson.dumps(LIQ), orjson.dumps(BAR)])
    doc = orjson.loads(raw)
    assert schema_accepts(doc) and doc == {"batch": [LIQ, BAR]}
