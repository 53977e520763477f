"""The Ethereum watcher against a real Anvil node (npm @foundry-rs/anvil-linux-amd64, installed by scripts/test)."""

import json

import orjson
import pytest
from typer.testing import CliRunner

from pipeline.contracts.models import event_key, parse_event
from pipeline.sources.chain.cli import watch_app
from pipeline.sources.chain.common import fixed_prices
from pipeline.sources.chain.ethereum import EthereumWatcher

from .anvil_node import DATA, PRICES, mine, send, send_token


def watcher(world, cp, start, finality=3):
    return EthereumWatcher(world["w3"], world["labels"], tokens={world["token"].address: ("TUSD", 6)},
                           min_usd=1_000_000, price=PRICES, finality=finality, checkpoint=cp, start_block=start,
                           clock=lambda: 1_700_000_000_000)


def test_transfers_classified_and_confirmed(world, tmp_path):
    w3, W = world["w3"], world
    start = w3.eth.block_number + 1
    t_in = send(w3, W["whale"], W["ex_hot"], 500)          # 2M USD inflow
    send(w3, W["whale"], W["alice"], 1)                     # 4k USD: below threshold
    t_int = send(w3, W["ex_cold"], W["ex_hot"], 300)       # cold -> hot, same entity
    t_out = send(w3, W["ex_hot"], W["bob"], 400)            # outflow
    t_other = send(w3, W["alice"], W["bob"], 1000)          # 4M USD between unlabelled wallets
    t_tok = send_token(w3, W["token"], W["whale"], W["ex_hot"], 2_000_000 * 10**6)  # 2M TUSD inflow
    send_token(w3, W["token"], W["whale"], W["alice"], 10 * 10**6)                  # small
    head = w3.eth.block_number

    w = watcher(world, tmp_path / "cp.json", start)
    evs = w.poll()
    got = {e.tx_hash: (e.direction, e.asset, e.amount, e.from_entity, e.to_entity) for e in evs}
    assert got == {
        t_in: ("exchange_inflow", "ETH", 500.0, None, "binance"),
        t_int: ("exchange_internal", "ETH", 300.0, "binance", "binance"),
        t_out: ("exchange_outflow", "ETH", 400.0, "binance", None),
        t_other: ("other", "ETH", 1000.0, None, None),
        t_tok: ("exchange_inflow", "TUSD", 2_000_000.0, None, "binance"),
    }
    assert {e.tx_hash: e.token for e in evs} == {t_in: None, t_int: None, t_out: None, t_other: None, t_tok: "TUSD"}
    for e in evs:
        assert e.confirmations == head - e.block_number
        assert e.event_id.startswith(f"ethereum:{e.tx_hash}:")
        assert parse_event(orjson.dumps(e.model_dump(mode="json"))) == e
    by_tx = {e.tx_hash: e for e in evs}
    assert by_tx[t_tok].event_id != f"ethereum:{t_tok}:native" and by_tx[t_in].event_id == f"ethereum:{t_in}:native"
    assert by_tx[t_in].usd_value == pytest.approx(2_000_000)
    assert by_tx[t_tok].confirmations == 1 and by_tx[t_tok].to_address == W["ex_hot"].lower()
    shallow = {e.event_id for e in evs if e.confirmations < 3}
    assert shallow and set(w.pending) == shallow

    # Restart from the checkpoint: nothing is emitted twice; final copies come once 3 blocks deep.
    w2 = watcher(world, tmp_path / "cp.json", start)
    assert w2.last_block == head and w2.poll() == []
    mine(w3, 3)
    final = w2.poll()
    assert {e.event_id for e in final} == shallow
    assert all(e.confirmations >= 3 and not e.retracted for e in final)
    assert w2.pending == {} and w2.poll() == []


def test_reorg_retracts_and_checkpoint_survives_restart(world, tmp_path):
    w3, W = world["w3"], world
    cp = tmp_path / "cp.json"
    start = w3.eth.block_number + 1
    w = watcher(world, cp, start, finality=5)
    assert w.poll() == []
    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    t_dep = send(w3, W["whale"], W["ex_hot"], 600)
    first = w.poll()
    assert [(e.tx_hash, e.direction, e.confirmations, e.retracted) for e in first] == \
        [(t_dep, "exchange_inflow", 0, False)]

    # The deposit's block is replaced: revert, then mine different blocks at the same heights.
    assert w3.provider.make_request("evm_revert", [snap])["result"] is True
    send(w3, W["alice"], W["bob"], 2)
    mine(w3, 2)
    w_restarted = watcher(world, cp, start, finality=5)  # a restart between the two polls
    evs = w_restarted.poll()
    assert [(e.event_id, e.retracted) for e in evs] == [(first[0].event_id, True)]
    r = evs[0]
    assert (r.amount, r.direction, r.block_number, r.observed_ts) == (600.0, "exchange_inflow",
                                                                     first[0].block_number, first[0].observed_ts)
    mine(w3, 6)
    assert w_restarted.poll() == []  # no final copy of a retracted transfer


def test_watch_cli_ethereum(world, tmp_path):
    w3, W = world["w3"], world
    start = w3.eth.block_number + 1
    t = send(w3, W["whale"], W["ex_cold"], 700)
    out = tmp_path / "eth.jsonl"
    r = CliRunner().invoke(watch_app, [
        "ethereum", "--rpc", world["url"], "--from-block", str(start), "--to-block", str(start),
        "--out", str(out), "--labels", str(world["label_file"]), "--label-dir", str(tmp_path / "none"),
        "--token", f"{W['token'].address}:TUSD:6:1", "--eth-usd", "4000"])
    assert r.exit_code == 0, r.output
    evs = [parse_event(line) for line in out.read_bytes().splitlines()]
    assert [(e.tx_hash, e.direction, e.to_entity) for e in evs] == [(t, "exchange_inflow", "binance")]


def test_a_wrapped_coin_is_published_as_the_coin_it_wraps(world, tmp_path):
    """WBTC moved to an exchange is BTC's supply there: asset BTC (its Kafka key, so it meets BTC's market),
    token WBTC, valued at the BTC price when the table has no WBTC price."""
    w3, W = world["w3"], world
    start = w3.eth.block_number + 1
    t_tok = send_token(w3, W["token"], W["whale"], W["ex_hot"], 30 * 10**6)  # 30 "WBTC" (6 decimals here)
    w = EthereumWatcher(w3, W["labels"], tokens={W["token"].address: ("wbtc", 6)}, min_usd=1_000_000,
                        price=fixed_prices({"BTC": 100_000}), finality=1, checkpoint=tmp_path / "cp.json",
                        start_block=start, clock=lambda: 1_700_000_000_000)
    [ev] = w.poll()
    assert (ev.tx_hash, ev.direction, ev.asset, ev.token, ev.amount) == (t_tok, "exchange_inflow", "BTC", "WBTC", 30.0)
    assert ev.usd_value == pytest.approx(3_000_000) and event_key(ev) == b"BTC"
    assert parse_event(orjson.dumps(ev.model_dump(mode="json"))) == ev
    # A token named on the command line with the coin it wraps (ASSET), and with no price of its own.
    out = tmp_path / "wrapped.jsonl"
    r = CliRunner().invoke(watch_app, [
        "ethereum", "--rpc", world["url"], "--from-block", str(start), "--to-block", str(start),
        "--out", str(out), "--labels", str(world["label_file"]), "--label-dir", str(tmp_path / "none"),
        "--token", f"{W['token'].address}:stETH:6::ETH", "--eth-usd", "4000", "--min-usd", "100000"])
    assert r.exit_code == 0, r.output
    [ev] = [parse_event(line) for line in out.read_bytes().splitlines()]
    assert (ev.asset, ev.token, ev.usd_value) == ("ETH", "STETH", pytest.approx(120_000))


@pytest.mark.parametrize("spec", ["0xabc:WBTC", "0xabc:WBTC:eight", "0xabc:WBTC:8:one", "0xabc:WBTC:8:1:",
                                  "0xabc:WBTC:8::B", "0xabc:WBTC:8:1:BTC:x"])
def test_watch_cli_refuses_a_bad_token_spec(spec, tmp_path):
    r = CliRunner().invoke(watch_app, ["ethereum", "--rpc", "http://127.0.0.1:9", "--to-block", "1",
                                       "--out", str(tmp_path / "x.jsonl"), "--token", spec])
    assert r.exit_code == 2 and "ADDRESS:SYMBOL:DECIMALS[:USD[:ASSET]]" in r.output


def test_a_transfer_the_new_chain_holds_too_is_not_retracted(world, tmp_path):
    """A reorg that re-mines the deposit's transaction in a new block: the same transfer, emitted again
    with its new block, never retracted (a retraction then a copy with the same id is a lost deposit
    downstream, where the copy is a duplicate)."""
    w3, W = world["w3"], world
    start = w3.eth.block_number + 1
    w = watcher(world, tmp_path / "cp.json", start, finality=5)
    assert w.poll() == []
    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    t_dep = send(w3, W["whale"], W["ex_hot"], 600)
    raw = w3.provider.make_request("eth_getRawTransactionByHash", [t_dep])["result"]
    [first] = w.poll()
    assert w3.provider.make_request("evm_revert", [snap])["result"] is True
    send(w3, W["alice"], W["bob"], 2)  # the deposit's height now holds another block...
    again = "0x" + w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw))["transactionHash"].hex() \
        .removeprefix("0x")
    assert again == t_dep  # ...and the deposit comes one block later
    evs = w.poll()
    assert [(e.event_id, e.retracted, e.block_number) for e in evs] == [(first.event_id, False, first.block_number + 1)]


def test_a_head_behind_the_blocks_read_is_a_lagging_backend_not_a_reorg(world, tmp_path):
    w3, W = world["w3"], world
    start = w3.eth.block_number + 1
    w = watcher(world, tmp_path / "cp.json", start, finality=5)
    assert w.poll() == []
    t_dep = send(w3, W["whale"], W["ex_hot"], 600)
    [first] = w.poll()
    real = w.head
    w.head = lambda: real() - 1  # a load-balanced provider answers from a backend one block behind
    assert w.poll() == [] and w.last_block == first.block_number and w.pending
    w.head = real
    mine(w3, 5)
    [final] = w.poll()
    assert (final.tx_hash, final.retracted, final.confirmations) == (t_dep, False, 5)


def test_the_checkpoint_moves_only_once_the_sink_took_the_batch(world, tmp_path):
    w3, W = world["w3"], world
    cp = tmp_path / "cp.json"
    start = w3.eth.block_number + 1
    t_dep = send(w3, W["whale"], W["ex_hot"], 600)

    def broken(evs):
        raise OSError("broker down")

    with pytest.raises(OSError):
        watcher(world, cp, start).run(to_block=start, sink=broken, interval=0)
    got = []
    watcher(world, cp, start).run(to_block=start, sink=got.extend, interval=0)  # restarted: read again
    assert [e.tx_hash for e in got] == [t_dep]


def test_a_mint_into_an_exchange_wallet_is_no_deposit(world, tmp_path):
    """New supply minted into an exchange's wallet (cbBTC is minted into Coinbase's) is a Transfer from the
    zero address: no holder moved coins there."""
    w3, W = world["w3"], world
    start = w3.eth.block_number + 1
    art = json.loads((DATA / "TestToken.json").read_text())
    tx = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"]).constructor(
        "Minted", "MNT", 6, 50_000_000 * 10**6).transact({"from": W["ex_hot"]})  # 50M minted to Binance's wallet
    minted = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    token = w3.eth.contract(address=minted, abi=art["abi"])
    t_out = send_token(w3, token, W["ex_hot"], W["whale"], 20_000_000 * 10**6)  # then a real withdrawal
    w = EthereumWatcher(w3, W["labels"], tokens={minted: ("MNT", 6)}, min_usd=1_000_000,
                        price=fixed_prices({"MNT": 1}), finality=1, checkpoint=tmp_path / "cp.json",
                        start_block=start, clock=lambda: 1_700_000_000_000)
    evs = w.poll()
    assert [(e.tx_hash, e.direction, e.amount) for e in evs] == [(t_out, "exchange_outflow", 20_000_000.0)]
