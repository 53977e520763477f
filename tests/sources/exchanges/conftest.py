from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from pipeline.contracts.models import Liquidation, TradeFlow

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "tests" / "data" / "exchange_samples"
SESSIONS = SAMPLES / "cryptofeed_sessions"
DOCS = SAMPLES / "docs_examples"
_SCHEMAS = {name: json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text())
            for name in ("liquidation", "trade_flow")}
_VALIDATORS = {k: jsonschema.Draft202012Validator(v) for k, v in _SCHEMAS.items()}
_MODELS = {"liquidation": Liquidation, "trade_flow": TradeFlow}


def validate_event(obj: dict) -> None:
    """An emitted event dict satisfies both the pydantic model and the JSON Schema."""
    kind = obj["type"]
    _VALIDATORS[kind].validate(obj)
    _MODELS[kind].model_validate(obj)


def doc_example(name: str):
    return json.loads((DOCS / name).read_text())


@pytest.fixture
def validate():
    return validate_event
