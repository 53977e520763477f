"""Internal ETH transfers (ether a contract sends in a call of its own), read from a real Anvil node's call
traces: a multisig-like forwarder paying an exchange wallet is a deposit; a call that failed moved nothing."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner
from web3 import Web3

from pipeline.contracts.models import parse_event
from pipeline.sources.chain.cli import watch_app
from pipeline.sources.chain.ethereum import EthereumWatcher
from pipeline.sources.chain.internal import Internal, TracesUnavailable, transfers_in

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


def frame(kind: str, frm: str, to: str, wei: int, calls=(), error: str | None = None) -> dict:
    """A call frame as geth's callTracer writes it (type, from, to, value in hex, its calls, an error if it failed)."""
    f = {"type": kind, "from": frm, "to": to, "value": hex(wei), "gas": "0x0", "gasUsed": "0x0", "input": "0x"}
    if calls:
        f["calls"] = list(calls)
    if error:
        f["error"] = error
    return f


def test_what_moves_value_in_a_trace_and_what_does_not():
    a, b, c, ex = "0xaa", "0xbb", "0xcc", "0xee"
    traces = [
        {"txHash": "0x01", "result": frame("CALL", a, b, 5, [
            frame("DELEGATECALL", b, c, 0, [frame("CALL", b, ex, 7)]),  # a library call paying out: b pays
            frame("STATICCALL", b, c, 0),
            frame("CALL", b, c, 9, [frame("CALL", c, ex, 9)], error="execution reverted"),  # undone, with its calls
            frame("CREATE", b, c, 3),  # to a new contract
            frame("SELFDESTRUCT", b, ex, 11),
            frame("SELFDESTRUCT", c, c, 4),  # to itself: nothing moves
        ])},
        {"txHash": "0x02", "result": frame("CALL", a, b, 0, [frame("CALL", b, ex, 8)], error="out of gas")},
    ]
    got = transfers_in({"result": traces}, "0xbh", ["0x01", "0x02"])
    assert got == [Internal("0x01", "0.0", b, ex, 7), Internal("0x01", "4", b, ex, 11)]


def test_a_transaction_the_node_could_not_trace_fails_the_poll_rather_than_hide_its_transfers():
    """Geth gives such an entry an error and no result (its tracer timed out on a heavy transaction)."""
    traces = [{"txHash": "0x01", "error": "execution timeout"}]
    with pytest.raises(TracesUnavailable, match="no trace of 0x01: 'execution timeout'"):
        transfers_in({"result": traces}, "0xbh", ["0x01"])
    with pytest.raises(TracesUnavailable, match="1 traces for 2 transactions"):
        transfers_in({"result": traces}, "0xbh", ["0x01", "0x02"])


def test_calls_nested_a_thousand_deep_are_walked():
    """The EVM allows 1,024 nested calls: more than Python's recursion would take."""
    inner = frame("CALL", "0xaa", "0xee", 1)
    for _ in range(1_023):
        inner = frame("CALL", "0xaa", "0xbb", 0, [inner])
    got = transfers_in({"result": [{"result": frame("CALL", "0xaa", "0xbb", 0, [inner])}]}, "0xbh", ["0x01"])
    assert got == [Internal("0x01", ".".join(["0"] * 1_024), "0xaa", "0xee", 1)]
