"""Following the head (pipeline/sources/chain/follow.py) with EthereumWatcher against a real Anvil node: newHeads
over WebSocket, HTTP-polling fallback, reconnect.

Anvil serves WebSocket on its HTTP port (ws://127.0.0.1:PORT).
"""

import asyncio
import socket
import threading

from typer.testing import CliRunner

from pipeline.contracts.models import parse_event
from pipeline.sources.chain.cli import watch_app
from pipeline.sources.chain.ethereum import EthereumWatcher, http_web3
from tests import waiting
from tests.waiting import interrupt_when
from tests.sources.chain.anvil_node import PRICES, free_port, mine, send, send_token


def make_watcher(world, start) -> EthereumWatcher:
    # Its own HTTP client: the follower's polls run in worker threads while the test sends transactions.
    return EthereumWatcher(http_web3(world["url"]), world["labels"], tokens={world["token"].address: ("TUSD", 6)},
                           min_usd=1_000_000, price=PRICES, finality=50, start_block=start,
                           clock=lambda: 1_700_000_000_000)


def ws_url(world) -> str:
    return world["url"].replace("http://", "ws://")


def wait_for(cond, timeout, what):
    waiting.wait_for(cond, what, max(timeout, waiting.DEFAULT_TIMEOUT_S))


class Follower:
    """Runs watcher.follow(...) in its own thread and event loop, collecting emitted events."""

    def __init__(self, watcher: EthereumWatcher, url: str | None, events: list | None = None, **kw):
        self.w = watcher
        self.events = [] if events is None else events
        self.error = None

        def target():
            try:
                asyncio.run(watcher.follow(url, sink=self.events.extend, **kw))
            except BaseException as exc:  # noqa: BLE001 - re-raised in join()
                self.error = exc

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def tx_hashes(self):
        return [e.tx_hash for e in self.events]

    def join(self, timeout):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "follow() did not stop"
        if self.error:
            raise self.error


class TcpProxy:
    """127.0.0.1:port -> target port; drop() closes every connection and stops listening, restart() listens again."""

    def __init__(self, target_port: int):
        self.target = target_port
        self.port = free_port()
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.restart()

    def restart(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen()
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def drop(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() and stops listening (Linux)
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self.conns = []


def test_follow_websocket_emits_each_transfer_once(world):
    w3, W = world["w3"], world
    start = w3.eth.block_number + 1
    w = make_watcher(world, start)
    # HTTP polling and the idle poll once an hour: the four blocks can only be reached through newHeads.
    f = Follower(w, ws_url(world), poll_interval=3600, ws_idle=3600, max_blocks=4)
    wait_for(lambda: w.mode == "ws", 10, "the newHeads subscription")
    t_in = send(w3, W["whale"], W["ex_hot"], 500)                                   # 2M USD inflow
    send(w3, W["whale"], W["alice"], 1)                                              # 4k USD: below threshold
    t_tok = send_token(w3, W["token"], W["whale"], W["ex_hot"], 2_000_000 * 10**6)  # 2M TUSD inflow
    send_token(w3, W["token"], W["whale"], W["alice"], 10 * 10**6)                  # small
    f.join(60)
    got = [(e.tx_hash, e.direction, e.asset, e.amount, e.to_entity, e.retracted) for e in f.events]
    assert got == [(t_in, "exchange_inflow", "ETH", 500.0, "binance", False),
                   (t_tok, "exchange_inflow", "TUSD", 2_000_000.0, "binance", False)]
    assert len({e.event_id for e in f.events}) == 2
    assert w.last_block == start + 3 and w.blocks_processed == 4
    assert w.ws_heads >= 1 and w.ws_failures == 0 and w.mode is None


def test_follow_falls_back_to_http_polling_when_websocket_unreachable(world):
    w3, W = world["w3"], world
    start = w3.eth.block_number + 1
    w = make_watcher(world, start)
    dead = f"ws://127.0.0.1:{free_port()}"  # nothing listens there
    f = Follower(w, dead, poll_interval=0.1, ws_backoff=0.2, ws_backoff_max=0.4, max_blocks=3)
    wait_for(lambda: w.ws_failures >= 2 and w.mode == "http", 10, "the HTTP fallback and a WebSocket retry")
    t_in = send(w3, W["whale"], W["ex_cold"], 800)                                  # inflow to a cold wallet
    send(w3, W["whale"], W["bob"], 2)                                                # small
    t_out = send(w3, W["ex_hot"], W["bob"], 600)                                     # outflow
    f.join(60)
    got = [(e.tx_hash, e.direction, e.amount) for e in f.events]
    assert got == [(t_in, "exchange_inflow", 800.0), (t_out, "exchange_outflow", 600.0)]
    assert w.ws_heads == 0 and w.ws_failures >= 2
    assert w.last_block == start + 2


def test_follow_survives_websocket_drop_and_reconnects(world):
    w3, W = world["w3"], world
    proxy = TcpProxy(int(world["url"].rsplit(":", 1)[1]))
    start = w3.eth.block_number + 1
    w = make_watcher(world, start)
    f = Follower(w, f"ws://127.0.0.1:{proxy.port}", poll_interval=0.1, ws_backoff=0.3, ws_backoff_max=0.3,
                 max_blocks=3)
    try:
        wait_for(lambda: w.mode == "ws", 10, "the newHeads subscription")
        t1 = send(w3, W["whale"], W["ex_hot"], 501)
        wait_for(lambda: t1 in f.tx_hashes(), 10, "the first transfer over WebSocket")
        heads = w.ws_heads
        assert heads >= 1

        proxy.drop()  # the socket dies and cannot be reopened: HTTP polling takes over
        wait_for(lambda: w.ws_failures >= 1 and w.mode == "http", 10, "the HTTP fallback")
        t2 = send(w3, W["whale"], W["ex_hot"], 502)
        wait_for(lambda: t2 in f.tx_hashes(), 10, "the second transfer over HTTP polling")
        assert w.ws_heads == heads

        proxy.restart()  # the WebSocket is retried (backoff 0.3 s) and subscribes again
        wait_for(lambda: w.mode == "ws", 10, "the WebSocket reconnect")
        t3 = send(w3, W["whale"], W["ex_hot"], 503)
        f.join(60)
    finally:
        proxy.drop()
    assert [(e.tx_hash, e.amount) for e in f.events] == [(t1, 501.0), (t2, 502.0), (t3, 503.0)]
    assert len({e.event_id for e in f.events}) == 3
    assert w.ws_heads > heads and w.last_block == start + 2


def test_follow_websocket_retracts_on_reorg(world):
    w3, W = world["w3"], world
    start = w3.eth.block_number + 1
    w = make_watcher(world, start)
    events = []
    f = Follower(w, ws_url(world), events, poll_interval=3600, ws_idle=3600,
                 stop=lambda: any(e.retracted for e in events))
    wait_for(lambda: w.mode == "ws", 10, "the newHeads subscription")
    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    t = send(w3, W["whale"], W["ex_hot"], 700)
    wait_for(lambda: t in f.tx_hashes(), 10, "the deposit")
    assert w3.provider.make_request("evm_revert", [snap])["result"] is True
    send(w3, W["alice"], W["bob"], 2)  # a different block at the deposit's height: its newHead triggers the check
    f.join(60)
    assert [(e.tx_hash, e.retracted, e.block_number) for e in events] == [(t, False, start), (t, True, start)]
    assert events[0].event_id == events[1].event_id and w.ws_failures == 0


def test_watch_cli_ethereum_follow(world, tmp_path):
    w3, W = world["w3"], world
    start = w3.eth.block_number + 1
    out = tmp_path / "eth.jsonl"
    args = ["ethereum", "--rpc", world["url"], "--ws", ws_url(world), "--follow", "--from-block", str(start),
            "--interval", "60", "--out", str(out), "--labels", str(world["label_file"]),
            "--label-dir", str(tmp_path / "none"), "--token", f"{W['token'].address}:TUSD:6:1", "--eth-usd", "4000"]
    sent = {}

    def send_both():  # while the command follows (or before it starts: it begins at --from-block)
        sent["in"] = send(w3, W["whale"], W["ex_hot"], 900)
        sent["small"] = send(w3, W["whale"], W["alice"], 1)

    threading.Thread(target=send_both, daemon=True).start()
    # Ctrl-C once the deposit is written, as a user stops a follow
    stopper = interrupt_when(lambda: "in" in sent and out.exists() and sent["in"].encode() in out.read_bytes(),
                             "the deposit in the output file")
    r = CliRunner().invoke(watch_app, args)
    stopper.join(10)
    assert stopper.met and r.exit_code == 0, r.output
    t_in = sent["in"]
    evs = [parse_event(line) for line in out.read_bytes().splitlines()]
    assert [(e.tx_hash, e.direction, e.to_entity) for e in evs] == [(t_in, "exchange_inflow", "binance")]

    bad = CliRunner().invoke(watch_app, ["ethereum", "--rpc", world["url"], "--follow", "--to-block", "1"])
    assert bad.exit_code != 0
    bad = CliRunner().invoke(watch_app, ["ethereum", "--rpc", world["url"], "--ws", world["url"]])
    assert bad.exit_code != 0 and "ws://" in bad.output


def test_follow_tries_a_failed_poll_again_and_loses_nothing(world):
    """Once the node has answered, a node error (a timeout, a 429, a block a lagging backend lacks) or a sink
    that cannot publish is logged and tried again after a backoff; the checkpoint did not move, so the batch
    comes again, once."""
    w3, W = world["w3"], world
    start = w3.eth.block_number + 1
    w = make_watcher(world, start)
    t_in = send(w3, W["whale"], W["ex_cold"], 800)
    real_poll, calls = w.poll, []

    def flaky_poll(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise TimeoutError("node timed out")
        return real_poll(*args, **kw)

    w.poll = flaky_poll
    refused = []

    class FlakySink(list):
        def extend(self, evs):
            if not refused:
                refused.append(list(evs))
                raise ConnectionError("broker down")
            super().extend(evs)

    sunk = FlakySink()
    f = Follower(w, None, sunk, poll_interval=0.05, poll_backoff=0.05, poll_backoff_max=0.1, max_blocks=3)
    wait_for(lambda: w.poll_failures >= 2 and len(calls) >= 3, 30, "a sink failure, a poll failure, a retry")
    t_out = send(w3, W["ex_hot"], W["bob"], 600)
    mine(w3, 1)
    f.join(60)
    assert w.poll_failures == 2 and [e.tx_hash for e in refused[0]] == [t_in]  # the sink, then the node
    assert [(e.tx_hash, e.direction) for e in sunk] == [(t_in, "exchange_inflow"), (t_out, "exchange_outflow")]
