"""Alert delivery to webhooks, against a real local HTTP server."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from pipeline.sinks.alerts import Delivery, Webhook, plain_text

ALERT = {"type": "alert", "alert_id": "abc", "asset": "BTC", "stage": "cascade", "reached": "cascade",
         "ts": 1_756_070_664_386, "severity": "critical",
         "deposit": {"event_id": "bitcoin:x:0", "usd_value": 2.76e9, "to_entity": "binance", "amount": 24_000.0},
         "sell": {"ts": 1, "net_sell_usd": 9.2e8, "drop_pct": 1.02, "venue": "binance-usdm",
                  "minutes_after_deposit": 11.5},
         "cascade": {"ts": 2, "window_ms": 300_000, "long_notional_usd": 5.0e7, "long_share": 0.89,
                     "venues": ["bybit", "okx"], "completeness": "full"}, "etf_context": None}


@pytest.fixture
def server():
    received: list[tuple[str, dict]] = []
    failures = {"left": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            if failures["left"] > 0:
                failures["left"] -= 1
                self.send_response(503)
            else:
                received.append((self.path, body))
                self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}", received, failures
    httpd.shutdown()


def test_json_and_chat_webhooks(server):
    base, received, _ = server
    d = Delivery([Webhook(base + "/json"), Webhook(base + "/chat", chat=True)])
    d.deliver([ALERT])
    assert received[0] == ("/json", ALERT)
    assert received[1][0] == "/chat" and "CASCADE" in received[1][1]["text"] and "[critical]" in received[1][1]["text"]
    assert "[/" not in received[1][1]["text"] and d.delivered == 2


def test_retries_a_failing_webhook_then_delivers(server):
    base, received, failures = server
    failures["left"] = 2
    Delivery([Webhook(base + "/json")]).deliver([ALERT])
    assert [p for p, _ in received] == ["/json"]


def test_min_severity_and_unreachable_target(server):
    base, received, _ = server
    errors = []
    d = Delivery([Webhook("http://127.0.0.1:1/nothing", retries=0), Webhook(base + "/ok")], min_severity="high",
                 on_error=lambda t, a, e: errors.append(t.url))
    d.deliver([{**ALERT, "severity": "warning"}, ALERT])
    assert [p for p, _ in received] == ["/ok"] and errors == ["http://127.0.0.1:1/nothing"] and d.failed == 1


def test_plain_text_has_no_markup():
    assert plain_text(ALERT).startswith("CASCADE  BTC  2025-08-24 21:24:24Z [critical]")


def test_plain_text_of_a_cascade_without_a_whale():
    alert = {**ALERT, "kind": "liquidation_cascade", "deposit": None, "sell": None}
    assert "no whale deposit before it" in plain_text(alert)


@pytest.fixture
def trickling():
    """An endpoint that answers one byte at a time, each well within a read timeout, for two minutes."""
    srv = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    def answer(conn):
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n" + b"x" * 100_000:
                if stop.wait(0.2):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/slow"
    stop.set()
    srv.close()


def test_an_endpoint_answering_a_byte_at_a_time_fails_within_the_timeout_not_the_answer(trickling):
    errors = []
    d = Delivery([Webhook(trickling, retries=1, timeout_s=1.0)], on_error=lambda t, a, e: errors.append(e))
    t = threading.Thread(target=d.deliver, args=([ALERT],), daemon=True)
    t.start()
    t.join(60)  # two attempts of a second each and a backoff; the answer would take hours
    assert not t.is_alive() and d.failed == 1 and d.delivered == 0
    assert isinstance(errors[0], httpx.TimeoutException) and "within 1 s" in str(errors[0])
