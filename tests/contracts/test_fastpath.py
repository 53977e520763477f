"""The generated fast paths: built for the flat event types from the same constraints as schemas/, and
indistinguishable from full validation in what they build."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from pipeline.contracts import fastpath, models
from pipeline.contracts.models import FAST_PATHS, INPUT_TYPES
from tests.contracts.oracle import EXAMPLES, outcome, same_model, schema

FLAT = ["etf_flow", "leverage", "link", "liquidation", "trade_flow", "whale_transfer"]


def test_flat_types_have_a_fast_path_and_nested_ones_none():
    assert sorted(k for k, f in FAST_PATHS.items() if f is not None) == FLAT
    assert FAST_PATHS["alert"] is None  # nested evidence objects: always fully validated


@pytest.mark.parametrize("name", FLAT)
def test_fast_path_checks_what_the_schema_file_says(name):
    """The fast path is generated from the model's own JSON Schema; field by field that must say what the
    published schema says (type, nullability, bounds, lengths, pattern, enum), or the two have drifted."""
    file_props = schema(name)["properties"]
    model_props = INPUT_TYPES[name].model_json_schema()["properties"]
    assert set(file_props) == set(model_props)
    for field, prop in file_props.items():
        assert fastpath.field_spec(prop) == fastpath.field_spec(model_props[field]), field


@pytest.mark.parametrize("name", FLAT)
def test_extras_optional_fields_and_field_order(name):
    doc = {"zeta": [1, {"a": None}], **EXAMPLES[name], "schema_version": 3, "basis_usd": 1.5e9}
    fast = FAST_PATHS[name](doc)
    assert fast is not None
    assert same_model(fast, outcome(doc, fast=False)[1])
    assert fast.__pydantic_extra__ == {"zeta": [1, {"a": None}], "basis_usd": 1.5e9}
    assert list(fast.model_dump())[:2] == ["schema_version", "type"] and fast.schema_version == 3


def test_what_needs_converting_is_left_to_full_validation():
    """An int in a float field and a float in an int field are valid, but converted: the fast path leaves
    them to pydantic, and the public parse still gives the converted event."""
    for field, value in [("price", 110_000), ("ts", 1_756_065_601_278.0), ("asset", "BTC\n")]:
        doc = {**EXAMPLES["liquidation"], field: value}
        assert FAST_PATHS["liquidation"](doc) is None
    event = models.event_from_dict({**EXAMPLES["liquidation"], "price": 110_000, "ts": 5.0})
    assert type(event.price) is float and type(event.ts) is int


def test_shared_field_sets_never_leak_between_events():
    """Events with the same fields share one `model_fields_set`; copying one with changes must not touch
    the others (pydantic copies the set before it adds to it)."""
    a = FAST_PATHS["liquidation"](dict(EXAMPLES["liquidation"]))
    b = FAST_PATHS["liquidation"](dict(EXAMPLES["liquidation"]))
    assert a.model_fields_set == b.model_fields_set
    c = a.model_copy(update={"schema_version": 2, "note": "x"})
    assert "schema_version" in c.model_fields_set and "schema_version" not in b.model_fields_set
    assert b.__pydantic_extra__ == {} and c.model_dump()["note"] == "x"
    with pytest.raises(Exception):
        a.price = 1.0  # frozen: the reason sharing is safe


def test_models_it_cannot_cover_get_none():
    class Nested(BaseModel):
        model_config = ConfigDict(extra="allow", frozen=True)
        inner: dict

    class NotFrozen(BaseModel):
        model_config = ConfigDict(extra="allow")
        x: int

    class Forbids(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        x: int

    for model in (Nested, NotFrozen, Forbids):
        assert fastpath.build_fast_path(model) is None, model.__name__


def test_pattern_cache_is_bounded_and_refuses_trailing_newline():
    matcher = fastpath._Pattern(r"^[A-Z0-9]{2,12}$")
    assert matcher("BTC") and not matcher("BTC\n") and not matcher("btc")
    for i in range(fastpath._CACHE_LIMIT + 100):
        assert matcher(f"A{i}")
    assert len(matcher.seen) == fastpath._CACHE_LIMIT


def test_required_nullable_and_optional_fields_of_any_flat_model():
    class Flat(BaseModel):
        model_config = ConfigDict(extra="allow", frozen=True, strict=True)
        a: str | None
        b: int = 0
        c: float | None = None

    fast = fastpath.build_fast_path(Flat)
    assert fast is not None
    for doc in [{"a": None}, {"a": "x", "b": 2}, {"a": "x", "c": 1.5, "zz": 1}, {"a": "x", "zz": None}]:
        got, want = fast(doc), Flat.model_validate(doc)
        assert got is not None and same_model(got, want), doc
    for doc in [{}, {"a": 1}, {"a": "x", "b": 1.0}, {"a": "x", "b": True}, {"a": "x", "c": 1}]:
        assert fast(doc) is None, doc
