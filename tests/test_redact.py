"""Secrets stay secret: a ClickHouse password, webhook tokens and a node API key, set where a user
sets them, never appear in --help, errors, command output or logs (INFO and above: the clients'
DEBUG logs name the URLs they request), including when the services behind them fail."""

from __future__ import annotations

import logging
import socket
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest
import typer
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import Settings
from pipeline.redact import redact_url, scrub
from pipeline.runtime.lag import group_lag
from pipeline.wire.producer import publish
from tests.waiting import interrupt_when

CH_PASSWORD = "chpw-Zq81x"
HOOK_TOKEN = "hooktok-7Hq2w"
CHAT_TOKEN = "chattok-P0o9e"
API_KEY = "apikey-Xy93r"
RPC_PASSWORD = "rpcpw-Lm55t"
SECRETS = [CH_PASSWORD, HOOK_TOKEN, CHAT_TOKEN, API_KEY, RPC_PASSWORD]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def secret_env(monkeypatch):
    env = {"CLICKHOUSE_URL": f"clickhouse://cw:{CH_PASSWORD}@127.0.0.1:{closed_port()}/cascadewatch",
           "ETH_RPC_URL": f"http://127.0.0.1:{closed_port()}/v3/{API_KEY}",
           "ETH_WS_URL": f"ws://127.0.0.1:{closed_port()}/ws/v3/{API_KEY}"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def assert_clean(text: str, what: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"{what} shows {leaked}:\n{text[-3000:]}"


def command_paths(group, prefix=()):
    for name, cmd in group.commands.items():
        yield (*prefix, name)
        if getattr(cmd, "commands", None):
            yield from command_paths(cmd, (*prefix, name))


def test_urls_lose_passwords_tokens_and_keys():
    assert redact_url(f"clickhouse://cw:{CH_PASSWORD}@db:9000/cw") == "clickhouse://cw:***@db:9000/cw"
    assert redact_url(f"https://hooks.slack.com/services/T0/B0/{HOOK_TOKEN}") == "https://hooks.slack.com/services/***"
    assert redact_url(f"https://mainnet.infura.io/v3/{API_KEY}") == "https://mainnet.infura.io/v3/***"
    assert redact_url(f"http://h:8080/hook?token={HOOK_TOKEN}") == "http://h:8080/hook?***"
    assert redact_url("chdb://./var/chdb") == "chdb://./var/chdb" and redact_url("not a url") == "not a url"
    url = f"http://u:{RPC_PASSWORD}@h/x/{API_KEY}"
    assert scrub(f"failed: {url} said no", [url]) == "failed: http://u:***@h/x/*** said no"
    assert scrub(f"Max retries exceeded with url: /x/{API_KEY}", [url]) == "Max retries exceeded with url: /x/***"


def test_help_of_every_command_shows_no_secret(secret_env):
    root = typer.main.get_command(app)
    paths = [(), *command_paths(root)]
    assert len(paths) > 20
    for path in paths:
        res = CliRunner().invoke(app, [*path, "--help"])
        assert res.exit_code == 0, (path, res.output)
        assert_clean(res.output, f"cascadewatch {' '.join(path)} --help")


def test_failing_store_and_nodes_show_no_secret(secret_env, caplog):
    caplog.set_level(logging.INFO)
    outputs = []
    for args in (["sql", "SELECT 1"], ["schema", "apply"],
                 ["watch", "ethereum", "--from-block", "1", "--to-block", "1", "--label-dir", "/nonexistent"],
                 ["watch", "ethereum", "--follow", "--from-block", "1", "--label-dir", "/nonexistent"],
                 ["watch", "bitcoin", "--rpc", f"http://rpcuser:{RPC_PASSWORD}@127.0.0.1:{closed_port()}/",
                  "--from-height", "1", "--to-height", "1", "--label-dir", "/nonexistent"]):
        res = CliRunner().invoke(app, args)
        outputs.append(res.output)
        assert res.exit_code != 0, (args, res.output)
        assert "error" in res.output.lower(), (args, res.output)  # a clear message, not a bare traceback
        assert_clean(res.output + repr(res.exception), " ".join(args))
    assert "cw:***@127.0.0.1" in outputs[0]  # the user can still tell which server was meant
    assert_clean(caplog.text, "the logs")


@contextmanager
def failing_webhook():
    """A webhook endpoint on loopback that always answers 500; counts requests per path."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            hits.append(self.path)
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", hits
    finally:
        srv.shutdown()
        srv.server_close()


def test_failing_webhooks_show_no_token(broker, secret_env, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    settings = Settings()
    monkeypatch.setenv("KAFKA_BOOTSTRAP", broker.bootstrap)
    alert = {"schema_version": 1, "type": "alert", "alert_id": "134fc63655f62eff1a56", "kind": "whale_cascade",
             "asset": "ETH", "stage": "watch", "reached": "watch", "ts": 1756066200000, "deposit": {
                 "event_id": "ethereum:d3a8:0", "usd_value": 33250000.0, "to_entity": "binance-us", "amount": 7000.0,
                 "chain": "ethereum", "tx_hash": "d3a8", "ts": 1756066200000, "deposit_count": 1,
                 "total_usd": 33250000.0, "volatility_1m_pct": 0.0287},
             "sell": None, "cascade": None, "etf_context": None, "severity": "info", "revision": 0, "amended": False,
             "evidence": None, "linked_to": None}  # the bundled scenario's first alert, from `replay`
    written = publish([(settings.topics.alerts, b"BTC", orjson.dumps(alert))], broker.bootstrap, settings)
    group = "secrets-test"
    with failing_webhook() as (base, hits):
        hook, chat = f"{base}/hooks/T0/B0/{HOOK_TOKEN}", f"{base}/services/T1/B1/{CHAT_TOKEN}"
        # Ctrl-C once the alert's delivery failed on both targets and its offset was committed
        stopper = interrupt_when(lambda: len(hits) >= 8 and group_lag(broker.bootstrap, group,
                                                                      [settings.topics.alerts], written) == 0,
                                 "both deliveries to fail and the alert to be committed")
        res = CliRunner().invoke(app, ["alerts", "follow", "--webhook", hook, "--chat", chat, "--group", group,
                                       "--from-beginning"])
        stopper.join(10)
    assert stopper.met, (res.output, repr(res.exception))
    assert len(hits) == 8 and {h.rsplit("/", 1)[1] for h in hits} == {HOOK_TOKEN, CHAT_TOKEN}  # 4 tries each
    assert res.output.count("failed") >= 2 and "/hooks/***" in res.output
    assert_clean(res.output + repr(res.exception), "alerts follow")
    assert_clean(caplog.text, "the logs")
