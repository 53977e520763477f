"""A local HTTP server answering from recorded responses in tests/data/chain/ (Bitcoin Core RPC + Esplora).

By default it serves the constructed fixtures (bitcoin_core_rpc.json, esplora.json); given a RecordedCore it
answers JSON-RPC as that recorded real node did."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .core_recordings import RecordedCore, envelope

DATA = Path(__file__).resolve().parents[2] / "data" / "chain"


@contextmanager
def serve_recorded(*, drop_verbosity3: bool = False, ignore_verbosity3: bool = False, faults: list[str] = (),
                   core: RecordedCore | None = None, esplora_faults: list[str] = ()):
    """Serve the recordings; with `core`, JSON-RPC calls get that recorded node's answers. drop_verbosity3: verbosity-3 getblock calls get the node's error (-8);
    ignore_verbosity3: they get the verbosity-2 answer, as Bitcoin Core before 23 gives; faults: the next
    getblock calls fail in turn: "503" (a proxy's HTTP 503, no JSON-RPC body), "drop" (connection closed
    without an answer), "stall" (no answer for 30 s: the client's timeout), "warmup" (error -28).
    esplora_faults: the next Esplora transaction-page requests fail in turn: "429" (rate limited, with
    Retry-After: 2, as mempool.space answers) or "503"."""
    rpc = json.loads((DATA / "bitcoin_core_rpc.json").read_text())
    if drop_verbosity3:
        rpc = {k: v for k, v in rpc.items() if not (k.startswith("getblock ") and k.endswith(", 3]"))}
    if ignore_verbosity3:
        rpc.update({k[:-4] + ", 3]": v for k, v in rpc.items() if k.startswith("getblock ") and k.endswith(", 2]")})
    pending_faults, pending_esplora = list(faults), list(esplora_faults)
    stop = threading.Event()
    esplora = json.loads((DATA / "esplora.json").read_text())
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, code, body, ctype="application/json"):
            raw = body if isinstance(body, bytes) else body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self):
            path = self.path.removeprefix("/esplora")
            seen.append({"method": "GET", "path": path})
            if "/txs/" in path and pending_esplora:
                fault = seen[-1]["fault"] = pending_esplora.pop(0)
                if fault == "429":
                    self.send_response(429)
                    self.send_header("Retry-After", "2")
                    self.send_header("Content-Length", "17")
                    self.end_headers()
                    self.wfile.write(b"Too Many Requests")
                    return None
                return self._send(503, "<html>503 Service Unavailable</html>", "text/html")
            if path not in esplora:
                return self._send(404, "Block not found", "text/plain")
            body = esplora[path]
            if isinstance(body, str):
                return self._send(200, body, "text/plain")
            return self._send(200, json.dumps(body))

        def do_POST(self):
            req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"method": "POST", "rpc": req["method"], "params": req["params"],
                         "auth": self.headers.get("Authorization")})
            if req["method"] == "getblock" and pending_faults:
                fault = pending_faults.pop(0)
                seen[-1]["fault"] = fault
                if fault == "503":
                    return self._send(503, "<html>503 Service Unavailable</html>", "text/html")
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return None
                if fault == "stall":
                    stop.wait(30)
                    return None
                if fault == "warmup":
                    err = {"code": -28, "message": "Loading block index..."}
                    return self._send(500, json.dumps({"result": None, "error": err, "id": req["id"]}))
                raise ValueError(fault)
            if core is not None:
                result, error = core.answer(req["method"], req["params"])
                code = 200 if error is None else 404 if error["code"] == -32601 else 500  # as Core's HTTP server
                return self._send(code, envelope(result, error, req["id"]))
            key = f"{req['method']} {json.dumps(req['params'])}"
            if key not in rpc:
                err = {"code": -8, "message": "Verbosity or parameter not recorded"}
                return self._send(500, json.dumps({"result": None, "error": err, "id": req["id"]}))
            self._send(200, json.dumps({"result": rpc[key], "error": None, "id": req["id"]}))

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", seen
    finally:
        stop.set()
        srv.shutdown()
        srv.server_close()
