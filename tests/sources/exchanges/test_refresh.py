"""Instrument refresh against a local server answering in the OKX v5 instruments format."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

# Rows shaped as in the OKX v5 docs (GET /api/v5/public/instruments), trimmed to the fields used.
ROWS = {
    "SWAP": [{"instType": "SWAP", "instId": "BTC-USDT-SWAP", "instFamily": "BTC-USDT", "uly": "BTC-USDT",
              "ctType": "linear", "ctVal": "0.01", "ctValCcy": "BTC"},
             {"instType": "SWAP", "instId": "ETH-USDT-SWAP", "instFamily": "ETH-USDT", "uly": "ETH-USDT",
              "ctType": "linear", "ctVal": "0.1", "ctValCcy": "ETH"},
             {"instType": "SWAP", "instId": "BTC-USD-SWAP", "instFamily": "BTC-USD", "uly": "BTC-USD",
              "ctType": "inverse", "ctVal": "100", "ctValCcy": "USD"}],
    "FUTURES": [{"instType": "FUTURES", "instId": "ETH-USD-251226", "instFamily": "ETH-USD", "uly": "ETH-USD",
                 "ctType": "inverse", "ctVal": "10", "ctValCcy": "USD"}],
}


@pytest.fixture
def okx_server():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlparse(self.path)
            inst_type = parse_qs(url.query).get("instType", [""])[0]
            body = {"code": "0", "msg": "", "data": ROWS.get(inst_type, [])} if url.path == "/api/v5/public/instruments" \
                else {"code": "51001", "msg": "Instrument ID does not exist"}
            payload = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def test_refresh_writes_sizes_per_family(okx_server, tmp_path):
    out = tmp_path / "okx.json"
    res = CliRunner().invoke(app, ["instruments", "refresh", "okx", "--base-url", okx_server, "--out", str(out)])
    assert res.exit_code == 0, res.output
    snap = json.loads(out.read_text())
    assert snap["linear"] == {"BTC-USDT": 0.01, "ETH-USDT": 0.1}
    assert snap["inverse"]["families"] == {"BTC-USD": 100.0, "ETH-USD": 10.0}
    assert snap["inverse"]["unit"] == "usd" and "refreshed" in snap["_source"]


def test_refresh_failure_leaves_the_snapshot_alone(tmp_path):
    out = tmp_path / "okx.json"
    res = CliRunner().invoke(app, ["instruments", "refresh", "okx", "--base-url", "http://127.0.0.1:1", "--out", str(out)])
    assert res.exit_code == 1 and "snapshot unchanged" in res.output and not out.exists()


def test_only_okx_is_refreshed():
    res = CliRunner().invoke(app, ["instruments", "refresh", "bybit"])
    assert res.exit_code == 1 and "only okx" in res.output
