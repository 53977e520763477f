import hashlib

import orjson
import pytest
from typer.testing import CliRunner

from pipeline.contracts.models import WhaleTransfer, parse_event
from pipeline.labels import load_labels
from pipeline.sources.chain.bitcoin import BitcoinCoreRPC, BitcoinWatcher, ChainSourceError, EsploraClient
from pipeline.sources.chain.cli import watch_app
from pipeline.sources.chain.common import fixed_prices

from .fixture_server import serve_recorded

BINANCE_A = "1PJiGp2yDLvUgqeBsuZVCBADArNsk6XEiw"
COINBASE = "12DezRFkKToAiLTDNru1g7FuvtAWMwCZ7N"
KRAKEN = "bc1q02cq8du8r7ktuy5l0ltc4cv82xnaw4upaaw8y4rq6uycdp0k5nmquljtzk"
WHALE = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
OTHER = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"


def txid(name):
    return hashlib.sha256(name.encode()).hexdigest()


EXPECTED = {
    # event_id: (direction, amount, from_entity, to_entity, confirmations)
    f"bitcoin:{txid('deposit')}:0": ("exchange_inflow", 500.0, None, "binance", 2),
    f"bitcoin:{txid('sweep')}:0": ("exchange_internal", 250.0, "binance", "binance", 2),
    f"bitcoin:{txid('p2p')}:0": ("other", 1000.0, None, None, 1),
    f"bitcoin:{txid('withdraw')}:0": ("exchange_outflow", 300.0, "coinbase", None, 1),
    f"bitcoin:{txid('bech32in')}:0": ("exchange_inflow", 149.99, None, "kraken", 1),
}


def _check(events):
    got = {e.event_id: (e.direction, e.amount, e.from_entity, e.to_entity, e.confirmations) for e in events}
    assert got == EXPECTED
    by_id = {e.event_id: e for e in events}
    dep = by_id[f"bitcoin:{txid('deposit')}:0"]
    assert dep.from_address == WHALE and dep.to_address == BINANCE_A and dep.tx_hash == txid("deposit")
    assert dep.usd_value == pytest.approx(500 * 100_000.0)
    assert dep.block_number == 800000 and dep.block_time == 1723000000 * 1000
    assert by_id[f"bitcoin:{txid('withdraw')}:0"].from_address == COINBASE
    for e in events:  # round-trips through the interchange contract
        assert parse_event(orjson.dumps(e.model_dump(mode="json"))) == e


def _watcher(backend, **kw):
    kw.setdefault("min_usd", 10_000_000)  # 100 BTC at the fixed price
    return BitcoinWatcher(backend, load_labels(), price=fixed_prices({"BTC": 100_000}), clock=lambda: 1723001000000,
                          **kw)


def test_bitcoin_core_rpc_verbosity3():
    with serve_recorded() as (url, seen):
        url_with_auth = url.replace("http://", "http://rpcuser:rpcpass@") + "/"
        rpc = BitcoinCoreRPC(url_with_auth)
        events = list(_watcher(rpc).scan(800000, 800001))
        rpc.close()
    _check(events)
    assert all(s["auth"] and s["auth"].startswith("Basic ") for s in seen)
    assert ["getblock", 3] == [seen[2]["rpc"], seen[2]["params"][1]]


def _check_verbosity2(events):
    # Without prevouts the inputs are unknown: the sweep looks like an inflow, the withdrawal is not seen
    # as an outflow, and change outputs cannot be told apart.
    got = {e.event_id: e.direction for e in events}
    assert got[f"bitcoin:{txid('sweep')}:0"] == "exchange_inflow"
    assert got[f"bitcoin:{txid('withdraw')}:0"] == "other"
    assert all(e.from_address == "unknown" for e in events if not e.from_address == "coinbase")


def _getblock_verbosities(seen):
    return [s["params"][1] for s in seen if s.get("rpc") == "getblock"]


@pytest.mark.parametrize("node", ["refuses", "ignores"])
def test_node_without_verbosity3_is_read_with_verbosity2_and_says_so(node, caplog):
    kw = {"drop_verbosity3": True} if node == "refuses" else {"ignore_verbosity3": True}
    with serve_recorded(**kw) as (url, seen), caplog.at_level("WARNING", "pipeline.sources.chain.bitcoin"):
        rpc = BitcoinCoreRPC(url, sleep=lambda s: pytest.fail("nothing to retry"))
        events = list(_watcher(rpc).scan(800000, 800001))
    assert rpc.verbosity == 2 and rpc.retried == 0
    _check_verbosity2(events)
    # asked once with 3; refused: asked again with 2, ignored: its answer is used; then 2 only
    assert _getblock_verbosities(seen) == ([3, 2, 2] if node == "refuses" else [3, 2])
    [warning] = [r.getMessage() for r in caplog.records if "verbosity 2 from now on" in r.getMessage()]
    assert ("refused verbosity 3 (-8:" if node == "refuses" else "ignored verbosity 3") in warning
    assert "outflows are not seen" in warning


@pytest.mark.parametrize("faults", [["503"], ["drop"], ["warmup", "503"], ["stall"]], ids="+".join)
def test_transient_getblock_failures_are_retried_and_keep_verbosity3(faults):
    waits = []
    with serve_recorded(faults=faults) as (url, seen):
        rpc = BitcoinCoreRPC(url, timeout=2.0 if "stall" in faults else 30.0, sleep=waits.append)
        events = list(_watcher(rpc).scan(800000, 800001))
    _check(events)  # input addresses known: nothing was read with verbosity 2
    assert rpc.verbosity == 3 and set(_getblock_verbosities(seen)) == {3}
    assert [s["fault"] for s in seen if "fault" in s] == faults
    assert rpc.retried >= len(faults) and waits[:2] == [0.5, 1.0][:len(waits[:2])]


def test_getblock_gives_up_after_its_retries_without_downgrading():
    with serve_recorded(faults=["503"] * 3) as (url, _):
        rpc = BitcoinCoreRPC(url, retries=2, sleep=lambda s: None)
        with pytest.raises(ChainSourceError, match=r"getblock: HTTP 503 \(gave up after 3 attempts\)"):
            list(_watcher(rpc).scan(800000, 800000))
    assert rpc.verbosity == 3


def test_one_usd_threshold_or_a_native_one():
    with serve_recorded() as (url, _):
        cheap = _watcher(EsploraClient(url + "/esplora"), min_usd=10_000_000)
        cheap.price = fixed_prices({"BTC": 20_000})  # 10M USD is 500 BTC at this price
        by_usd = {e.amount for e in cheap.scan(800000, 800001)}
        native = _watcher(EsploraClient(url + "/esplora"), min_usd=10**12, min_btc=250)
        by_btc = {e.amount for e in native.scan(800000, 800001)}
    assert by_usd == {500.0, 1000.0}
    assert by_btc == {250.0, 300.0, 500.0, 1000.0}


def test_esplora_paginates_and_matches_core():
    with serve_recorded() as (url, seen):
        client = EsploraClient(url + "/esplora/")
        events = list(_watcher(client).scan(800000, 800001))
    _check(events)
    pages = [s["path"] for s in seen if "/txs/" in s["path"]]
    assert len(pages) == 3  # block 800001 has 34 txs: pages at 0 and 25


def test_esplora_rate_limits_and_5xx_are_retried_and_a_404_is_not():
    waits: list[float] = []
    with serve_recorded(esplora_faults=["429", "503", "429"]) as (url, seen):
        client = EsploraClient(url + "/esplora", sleep=waits.append)
        events = list(_watcher(client).scan(800000, 800001))
        _check(events)  # the same transfers as without the faults
        assert [s["fault"] for s in seen if "fault" in s] == ["429", "503", "429"] and client.retried == 3
        assert waits == [2.0, 2.0, 2.0]  # Retry-After, then the backoff (1 s doubled), then Retry-After again
        with pytest.raises(ChainSourceError, match="HTTP 404"):
            client.block("00" * 32)
    assert client.retried == 3  # a block the server does not have is no transient failure
    with serve_recorded(esplora_faults=["503"] * 3) as (url, _):
        gives_up = EsploraClient(url + "/esplora", retries=2, sleep=lambda s: None)
        with pytest.raises(ChainSourceError, match=r"HTTP 503 .*\(gave up after 3 attempts\)"):
            list(_watcher(gives_up).scan(800000, 800001))


def test_threshold_and_include_other():
    with serve_recorded() as (url, _):
        w = _watcher(EsploraClient(url + "/esplora"), include_other=False, min_usd=40_000_000)
        events = list(w.scan(800000, 800001))
    assert [e.direction for e in events] == ["exchange_inflow"]


def test_watch_cli_bitcoin(tmp_path):
    out = tmp_path / "btc.jsonl"
    with serve_recorded() as (url, _):
        r = CliRunner().invoke(watch_app, ["bitcoin", "--esplora", url + "/esplora", "--from-height", "800000",
                                           "--to-height", "800001", "--min-usd", "10000000", "--btc-usd", "100000",
                                           "--out", str(out), "--label-dir", str(tmp_path / "none")])
    assert r.exit_code == 0, r.output
    lines = out.read_bytes().splitlines()
    assert len(lines) == 5
    assert {parse_event(line).direction for line in lines} == {"exchange_inflow", "exchange_internal", "other",
                                                               "exchange_outflow"}
    assert all(isinstance(parse_event(line), WhaleTransfer) for line in lines)
