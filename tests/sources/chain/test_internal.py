"""Internal ETH transfers (ether a contract sends in a call of its own), read from a real Anvil node's call
traces: a multisig-like forwarder paying an exchange wallet is a deposit; a call that failed moved nothing."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner
from web3 import Web3

from pipeline.contracts.models import parse_event
from pipeline.sources.chain.cli import watch_app
from pipeline.sources.chain.ethereum import EthereumWatcher
from pipeline.sources.chain.internal import TracesUnavailable

from .anvil_node import PRICES, deploy_forwarder, deploy_reverter, node_without, send


def watcher(world, start, *, internal=True, w3=None):
    return EthereumWatcher(w3 or world["w3"], world["labels"], min_usd=1_000_000, price=PRICES, finality=3,
                           start_block=start, clock=lambda: 1_700_000_000_000, internal=internal)


def test_ether_a_contract_sends_to_an_exchange_is_a_deposit(world):
    w3, W = world["w3"], world
    inner = deploy_forwarder(w3, W["alice"], W["ex_hot"])
    outer = deploy_forwarder(w3, W["alice"], inner)  # outer -> inner -> the exchange: two calls deep
    sink = deploy_forwarder(w3, W["alice"], deploy_reverter(w3, W["alice"]))  # its call fails: the ether stays
    start = w3.eth.block_number + 1
    t_fwd = send(w3, W["whale"], inner, 600)
    t_two = send(w3, W["whale"], outer, 700)
    t_stuck = send(w3, W["whale"], sink, 800)
    t_small = send(w3, W["whale"], inner, 100)  # $400k: below the threshold

    evs = watcher(world, start).poll()
    got = [(e.event_id, e.direction, e.amount, e.from_address, e.to_address, e.to_entity) for e in evs]
    assert got == [
        (f"ethereum:{t_fwd}:native", "other", 600.0, W["whale"].lower(), inner.lower(), None),
        (f"ethereum:{t_fwd}:internal:0", "exchange_inflow", 600.0, inner.lower(), W["ex_hot"].lower(), "binance"),
        (f"ethereum:{t_two}:native", "other", 700.0, W["whale"].lower(), outer.lower(), None),
        (f"ethereum:{t_two}:internal:0", "other", 700.0, outer.lower(), inner.lower(), None),
        (f"ethereum:{t_two}:internal:0.0", "exchange_inflow", 700.0, inner.lower(), W["ex_hot"].lower(), "binance"),
        (f"ethereum:{t_stuck}:native", "other", 800.0, W["whale"].lower(), sink.lower(), None),
    ]
    assert all(e.asset == "ETH" and e.token is None and e.usd_value == 4000 * e.amount for e in evs)
    assert t_small not in {e.tx_hash for e in evs}
    # Without traces only the transactions' own values are seen: the deposits are missed.
    plain = watcher(world, start, internal=False).poll()
    assert [e.event_id for e in plain] == [f"ethereum:{t}:native" for t in (t_fwd, t_two, t_stuck)]


def test_a_node_without_call_traces_is_an_error_that_says_so(world, tmp_path):
    w3, W = world["w3"], world
    start = w3.eth.block_number + 1
    send(w3, W["whale"], W["ex_hot"], 500)
    with node_without(world["url"], lambda method: method.startswith("debug_")) as (url, _):
        with pytest.raises(TracesUnavailable, match="debug_traceBlockByHash does not exist/is not available"):
            watcher(world, start, w3=Web3(Web3.HTTPProvider(url))).poll()
        r = CliRunner().invoke(watch_app, [
            "ethereum", "--rpc", url, "--internal", "--from-block", str(start), "--to-block", str(start),
            "--out", str(tmp_path / "eth.jsonl"), "--labels", str(world["label_file"]),
            "--label-dir", str(tmp_path / "none")])
    assert r.exit_code == 1 and "TracesUnavailable" in r.output and "debug_traceBlockByHash" in r.output


def test_watch_cli_internal(world, tmp_path):
    w3, W = world["w3"], world
    fwd = deploy_forwarder(w3, W["alice"], W["ex_cold"])
    start = w3.eth.block_number + 1
    t = send(w3, W["whale"], fwd, 900)
    out = tmp_path / "eth.jsonl"
    r = CliRunner().invoke(watch_app, [
        "ethereum", "--rpc", world["url"], "--internal", "--from-block", str(start), "--to-block", str(start),
        "--out", str(out), "--labels", str(world["label_file"]), "--label-dir", str(tmp_path / "none")])
    assert r.exit_code == 0, r.output
    evs = [parse_event(line) for line in out.read_bytes().splitlines()]
    assert [(e.event_id, e.direction) for e in evs] == [(f"ethereum:{t}:native", "other"),
                                                        (f"ethereum:{t}:internal:0", "exchange_inflow")]
