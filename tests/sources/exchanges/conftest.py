from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from pipeline.contracts.models import Liquidation, TradeFlow
from pipeline.sources.exchanges.health import FeedHealth
from pipeline.sources.exchanges.base import MetaLine, split_line

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "tests" / "data" / "exchange_samples"
SESSIONS = SAMPLES / "cryptofeed_sessions"
DOCS = SAMPLES / "docs_examples"
_SCHEMAS = {name: json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text())
            for name in ("liquidation", "trade_flow", "feed_health")}
_VALIDATORS = {k: jsonschema.Draft202012Validator(v) for k, v in _SCHEMAS.items()}
_MODELS = {"liquidation": Liquidation, "trade_flow": TradeFlow, "feed_health": FeedHealth}


def validate_event(obj: dict) -> None:
    """An emitted event dict satisfies both the pydantic model and the JSON Schema."""
    kind = obj["type"]
    _VALIDATORS[kind].validate(obj)
    _MODELS[kind].model_validate(obj)


def validate_health(obj: dict) -> None:
    """A feed_health event dict satisfies both the pydantic model and the JSON Schema."""
    _VALIDATORS["feed_health"].validate(obj)
    FeedHealth.model_validate(obj)


def session_messages(name: str) -> list:
    """The messages of a recorded cryptofeed session, in order (its header lines left out)."""
    out = []
    for line in (SESSIONS / name).read_bytes().splitlines():
        try:
            out.append(split_line(line)[1])
        except MetaLine:
            continue
    return out


def doc_example(name: str):
    return json.loads((DOCS / name).read_text())


@pytest.fixture
def validate():
    return validate_event
