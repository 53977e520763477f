"""Helpers for tests against a real Anvil node: start it, fund and label accounts, send transactions."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.request
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from web3 import Web3

from pipeline.labels import load_labels
from pipeline.sources.chain.common import fixed_prices

ROOT = Path(__file__).resolve().parents[3]
ANVIL = ROOT / "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
DATA = ROOT / "tests/data/chain"
PRICES = fixed_prices({"ETH": 4000, "TUSD": 1})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def send(w3, frm, to, eth):
    h = w3.eth.send_transaction({"from": frm, "to": to, "value": w3.to_wei(eth, "ether")})
    return "0x" + w3.eth.wait_for_transaction_receipt(h)["transactionHash"].hex().removeprefix("0x")


def send_token(w3, token, frm, to, units):
    h = token.functions.transfer(to, units).transact({"from": frm})
    return "0x" + w3.eth.wait_for_transaction_receipt(h)["transactionHash"].hex().removeprefix("0x")


def mine(w3, n):
    w3.provider.make_request("anvil_mine", [hex(n)])


@contextmanager
def anvil_node():
    """(url, Web3) of a fresh Anvil node on a free port, stopped afterwards."""
    if not ANVIL.exists():
        raise RuntimeError(f"{ANVIL} is missing: run scripts/test (npm install) first")
    port = free_port()
    proc = subprocess.Popen([str(ANVIL), "--host", "127.0.0.1", "--port", str(port), "--silent"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    w3 = Web3(Web3.HTTPProvider(url))
    deadline = time.time() + 120
    while True:
        try:
            w3.eth.block_number
            break
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError("anvil did not start")
            time.sleep(0.05)
    try:
        yield url, w3
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def make_world(url, w3, label_dir: Path) -> dict:
    """Named funded accounts, two labelled Binance wallets and a deployed ERC-20 test token."""
    acc = w3.eth.accounts
    names = {"ex_hot": acc[1], "ex_cold": acc[2], "whale": acc[3], "alice": acc[4], "bob": acc[5]}
    label_file = label_dir / "anvil_exchange.csv"
    label_file.write_text("chain,address,entity,kind\n"
                          f"ethereum,{names['ex_hot']},Binance,hot\n"
                          f"ethereum,{names['ex_cold']},Binance 7,cold\n")
    art = json.loads((DATA / "TestToken.json").read_text())
    tx = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"]).constructor(
        "Test USD", "TUSD", 6, 10**9 * 10**6).transact({"from": names["whale"]})
    token_addr = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    token = w3.eth.contract(address=token_addr, abi=art["abi"])
    return {"url": url, "w3": w3, "labels": load_labels([label_file]), "label_file": label_file,
            "token": token, **names}




def deploy_forwarder(w3, frm: str, to: str) -> str:
    """A contract that sends whatever ether it receives on to `to` in a call of its own (an internal transfer),
    and goes on if that call fails. Runtime, 34 bytes: PUSH1 0 x4 (no return data, no input), CALLVALUE,
    PUSH20 to, GAS, CALL, POP, STOP; the init code copies it out and returns it."""
    runtime = "60006000600060003473" + to.lower().removeprefix("0x") + "5af15000"
    init = "6022600c60003960226000f3"
    h = w3.eth.send_transaction({"from": frm, "data": "0x" + init + runtime})
    return w3.eth.wait_for_transaction_receipt(h)["contractAddress"]


def deploy_reverter(w3, frm: str) -> str:
    """A contract that refuses every call (PUSH1 0, PUSH1 0, REVERT): ether sent to it does not move."""
    h = w3.eth.send_transaction({"from": frm, "data": "0x" + "6005600c60003960056000f3" + "60006000fd"})
    return w3.eth.wait_for_transaction_receipt(h)["contractAddress"]


@contextmanager
def node_without(url: str, refused):
    """An HTTP JSON-RPC proxy to the node that answers the methods `refused(method)` picks as a node without
    them does (geth's wording, code -32601), and counts the methods asked: yields (its URL, the methods asked)."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            req = json.loads(body)
            asked.append(req["method"])
            if refused(req["method"]):
                raw = json.dumps({"jsonrpc": "2.0", "id": req["id"], "error": {
                    "code": -32601, "message": f"the method {req['method']} does not exist/is not available"}})
                raw = raw.encode()
            else:
                fwd = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
                raw = urllib.request.urlopen(fwd, timeout=60).read()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()
