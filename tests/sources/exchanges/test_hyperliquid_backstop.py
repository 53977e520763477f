"""Hyperliquid without a node: public trades in which the liquidator vault is a party are published
as backstop liquidations, completeness "partial", the vault's side giving the liquidated position;
checked on the documented `trades` message shape, through the live feed's parser and `normalize`."""

from __future__ import annotations

import copy

import orjson
import pytest

from pipeline.contracts.models import Liquidation
from pipeline.sources.exchanges import get_venue
from pipeline.sources.exchanges.hyperliquid import LIQUIDATOR_VAULTS
from pipeline.sources.exchanges.normalize import NormalizeStats, normalize_lines

from .conftest import validate_event

VAULT = next(iter(LIQUIDATOR_VAULTS))
RECV = 1_787_259_217_500
# the `trades` message as the Hyperliquid API docs show it (WsTrade: coin, side, px, sz, time, hash,
# tid, users = [buyer, seller]); example values from the HyperCore trades stream docs
DOC_TRADES = {"channel": "trades", "data": [
    {"coin": "BTC", "side": "B", "px": "72581.0", "sz": "0.00017", "time": 1787259217020,
     "hash": "0x0000000000000000000000000000000000000000000000000000000000000000", "tid": 877707108085800,
     "users": ["0x9b54264d7502f80163ea949038aad771eae67e38", "0x706bb519b05b7dc01d048af9a5e29d1ef5d6d9e3"]}]}


def with_users(buyer: str, seller: str, **changes) -> dict:
    msg = copy.deepcopy(DOC_TRADES)
    msg["data"][0].update(users=[buyer, seller], **changes)
    return msg


def parse(msg: dict):
    r = get_venue("hyperliquid").parse(msg, RECV)
    assert not r.errors, r.errors
    return r


def test_an_ordinary_trade_is_taker_flow_only():
    r = parse(DOC_TRADES)
    assert len(r.trades) == 1 and r.liquidations == []


def test_the_vault_buying_is_a_long_liquidated():
    other = DOC_TRADES["data"][0]["users"][1]
    r = parse(with_users(VAULT, other, side="A", sz="1.5"))
    assert len(r.trades) == 1 and r.trades[0].taker_side == "sell"  # still taker flow
    (liq,) = r.liquidations
    assert (liq.side, liq.completeness, liq.venue, liq.asset) == ("long", "partial", "hyperliquid", "BTC")
    assert (liq.price, liq.quantity, liq.notional_usd) == (72581.0, 1.5, 72581.0 * 1.5)
    assert (liq.ts, liq.received_ts) == (1787259217020, RECV)
    assert liq.event_id == "hyperliquid:BTC:877707108085800"  # the id the node fills give the same fill
    validate_event(liq.model_dump(mode="json"))


def test_the_vault_selling_is_a_short_liquidated_and_addresses_match_in_any_case():
    other = DOC_TRADES["data"][0]["users"][0]
    (liq,) = parse(with_users(other, VAULT.upper().replace("0X", "0x"))).liquidations
    assert liq.side == "short"


@pytest.mark.parametrize("users", [None, [], ["0xabc"], [VAULT], "0xabc", [1, 2]])
def test_trades_without_two_users_give_no_liquidation(users):
    msg = copy.deepcopy(DOC_TRADES)
    if users is None:
        msg["data"][0].pop("users")
    else:
        msg["data"][0]["users"] = users
    r = parse(msg)
    assert len(r.trades) == 1 and r.liquidations == []


def test_a_backstop_without_tid_is_reported_not_published():
    msg = with_users(VAULT, "0x1")
    msg["data"][0].pop("tid")
    r = get_venue("hyperliquid").parse(msg, RECV)
    assert r.errors and not r.liquidations and not r.trades


def test_normalize_publishes_backstops_beside_the_bars_of_all_trades():
    lines = [orjson.dumps(DOC_TRADES), orjson.dumps(with_users(VAULT, "0x1", tid=1, time=1787259217500)),
             orjson.dumps(with_users("0x2", VAULT, tid=2, time=1787259218100, sz="2"))]
    st = NormalizeStats()
    out = list(normalize_lines("hyperliquid", lines, stats=st, now_ms=RECV))
    liqs = [e for e in out if e["type"] == "liquidation"]
    bars = [e for e in out if e["type"] == "trade_flow"]
    assert [(e["side"], e["completeness"]) for e in liqs] == [("long", "partial"), ("short", "partial")]
    assert st.trades == 3 and sum(b["trade_count"] for b in bars) == 3
    for e in out:
        validate_event(e)


def test_the_contract_accepts_partial_and_nothing_else_new():
    base = parse(with_users(VAULT, "0x1")).liquidations[0].model_dump(mode="json")
    Liquidation.model_validate(base)
    with pytest.raises(ValueError):
        Liquidation.model_validate({**base, "completeness": "some"})
