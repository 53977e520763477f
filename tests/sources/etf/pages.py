"""Test helpers: Farside-structured HTML pages from table cells, a local HTTP server with
ETag/Last-Modified, and a topic reader that waits for a number of records."""

from __future__ import annotations

import html
import json
import threading
import time
from collections import namedtuple
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
from kafka import KafkaConsumer, TopicPartition

from tests.envelopes import events_of

EventRecord = namedtuple("EventRecord", "key value")  # one event of a topic

DATA = Path(__file__).resolve().parents[2] / "data" / "etf"
BTC_SPONSORS = {"IBIT": "Blackrock", "FBTC": "Fidelity", "BITB": "Bitwise", "ARKB": "Ark", "BTCO": "Invesco",
                "EZBC": "Franklin", "BRRR": "Valkyrie", "HODL": "VanEck", "BTCW": "WisdomTree", "GBTC": "Grayscale",
                "BTC": "Grayscale"}


def cells(name: str) -> list[dict]:
    return json.loads((DATA / name).read_text())


def unfilled(row: dict) -> bool:
    """A row the page had not filled yet when it was scraped: every cell 0.0 (1 Nov 2024 in the recording)."""
    return all(v.strip() == "0.0" for k, v in row.items() if k != "Date")


def _td(text: str) -> str:
    cls = ' class="redFont"' if text.startswith("(") else ""
    return f'<td><span class="tabletext"><span{cls}>{html.escape(text)}</span></span></td>'


def farside_page(rows: list[dict], title: str = "Bitcoin ETF Flow (US$m)") -> str:
    """An HTML page in the structure of the Farside flow table, from rows of raw cells."""
    cols = [k for k in rows[0] if k not in ("Date", "Total")]
    head = ["<tr><th></th>" + "".join(f"<th>{BTC_SPONSORS.get(c, '')}</th>" for c in cols) + "<th></th></tr>",
            '<tr><th><span class="tabletext">Date</span></th>'
            + "".join(f'<th><span class="tabletext">{c}</span></th>' for c in cols) + "<th>Total</th></tr>",
            "<tr><td>Fee</td>" + "".join("<td>0.25%</td>" for _ in cols) + "<td></td></tr>"]
    body = ["<tr>" + _td(r["Date"]) + "".join(_td(r.get(c, "-")) for c in cols) + _td(r["Total"]) + "</tr>"
            for r in rows]
    foot = ["<tr>" + _td(label) + "".join(_td("0.0") for _ in cols) + _td("0.0") + "</tr>"
            for label in ("Total", "Average", "Maximum", "Minimum")]
    return ("<!DOCTYPE html><html><head><title>Farside Investors</title></head><body>"
            f"<h1>{title}</h1><p>All data, US$ millions</p>"
            '<table class="etf" style="width:100%"><thead>' + "".join(head) + "</thead><tbody>"
            + "\n".join(body) + "\n" + "".join(foot) + "</tbody></table>"
            "<table><tr><td>Disclaimer</td></tr></table></body></html>")


class PageServer:
    """Serves one mutable body on loopback with ETag and Last-Modified; records request headers."""

    def __init__(self, body: bytes, content_type: str = "text/html; charset=utf-8"):
        self.content_type = content_type
        self.requests: list[dict] = []
        self.status_override: int | None = None
        self.set(body)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                req = {"method": self.command, "path": self.path, "headers": dict(self.headers),
                       "body": self.rfile.read(length) if length else b""}
                server.requests.append(req)
                if server.status_override:
                    self.send_response(server.status_override)
                    self.send_header("Retry-After", "120")
                    self.end_headers()
                    return
                if self.headers.get("If-None-Match") == server.etag or \
                        self.headers.get("If-Modified-Since") == server.last_modified:
                    self.send_response(304)
                    self.send_header("ETag", server.etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", server.content_type)
                self.send_header("ETag", server.etag)
                self.send_header("Last-Modified", server.last_modified)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/btc/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def set(self, body: bytes) -> None:
        self.body = body
        self._version = getattr(self, "_version", 0) + 1
        self.etag = f'"v{self._version}"'
        self.last_modified = formatdate(1_700_000_000 + self._version * 60, usegmt=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def read_records(bootstrap: str, topic: str, count: int, timeout_s: float = 60.0) -> list:
    """Read a topic from the start until `count` events arrived (or fail after a generous timeout): one
    (key, value) record per event, batch envelopes opened."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest")
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        got: list = []
        deadline = time.monotonic() + timeout_s
        while len(got) < count and time.monotonic() < deadline:
            for recs in consumer.poll(timeout_ms=500).values():
                got += [EventRecord(key, orjson.dumps(event)) for key, event in events_of(recs)]
        return got
    finally:
        consumer.close()
