"""The bundled aug2025 scenario as a store holds it after the demo, for the analytics, dashboard and
report tests: the scenario's events with a 40-second OKX feed gap in the middle of the crash (its
bars and liquidations lost, as a real gap loses them), the feed_health events a live connector
would have written for it, and the alerts the detector raises on that data (pipeline.replay.run).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import uuid

import orjson

from pipeline.contracts.interchange import read_events
from pipeline.contracts.models import DeadLetter, dump_event
from pipeline.replay import run
from pipeline.scenarios import bundled
from pipeline.sources.exchanges.health import FeedHealth

UTC = dt.timezone.utc
GAP_VENUE = "okx"
GAP_START_MS = int(dt.datetime(2025, 8, 24, 21, 22, tzinfo=UTC).timestamp() * 1000)
GAP_MS = 40_000
MINUTE = 60_000


def _in_gap(event: dict) -> bool:
    return (event.get("venue") == GAP_VENUE and event["type"] in ("liquidation", "trade_flow")
            and GAP_START_MS <= event["ts"] < GAP_START_MS + GAP_MS)


def _health(venue: str, status: str, ts: int, n: int, *, rate: float = 0.0, liq_rate: float = 0.0,
            trade_rate: float = 0.0, gap_ms: int = 0, reconnects: int = 0, detail: str = "") -> dict:
    return FeedHealth(event_id=f"{venue}:{status}:{ts}:{n}", venue=venue, status=status, ts=ts, detail=detail,
                      messages_per_s=rate, liquidations_per_s=liq_rate, trades_per_s=trade_rate, errors=0,
                      reconnects=reconnects, gap_ms=gap_ms, window_s=60.0 if status == "rates" else 0.0,
                      ).model_dump(mode="json")


def feed_health(events: list[dict]) -> list[dict]:
    """connected at the start, a `rates` event per venue and minute with the minute's message rates, and
    the OKX gap (gap_start, disconnected, connected, gap_end)."""
    market = [e for e in events if e["type"] in ("liquidation", "trade_flow")]
    start = min(e["ts"] for e in market) // MINUTE * MINUTE
    end = max(e["ts"] for e in market) // MINUTE * MINUTE + MINUTE
    out = []
    for venue in sorted({e["venue"] for e in market}):
        out.append(_health(venue, "connected", start, 0, detail="subscribed"))
        per_minute: dict[int, list[int]] = {}
        for e in market:
            if e["venue"] == venue:
                counts = per_minute.setdefault(e["ts"] // MINUTE * MINUTE, [0, 0])
                counts[e["type"] == "trade_flow"] += 1
        for n, minute in enumerate(range(start, end, MINUTE)):
            liq, bars = per_minute.get(minute, [0, 0])
            out.append(_health(venue, "rates", minute + MINUTE - 1, n, rate=(liq + bars * 40) / 60,
                               liq_rate=liq / 60, trade_rate=bars * 40 / 60))
    gap_end = GAP_START_MS + GAP_MS
    out += [_health(GAP_VENUE, "gap_start", GAP_START_MS, 0, detail="no message for 10 s"),
            _health(GAP_VENUE, "disconnected", GAP_START_MS + 10_000, 0, detail="ping timeout"),
            _health(GAP_VENUE, "connected", gap_end, 1, reconnects=1, detail="subscribed"),
            _health(GAP_VENUE, "gap_end", gap_end, 0, gap_ms=GAP_MS, reconnects=1,
                    detail="liquidations during the gap are lost")]
    return out


def refused(ts: int) -> dict:
    """One message the worker dead-lettered during the episode (a truncated liquidation)."""
    value = b'{"type": "liquidation", "venue": "okx", "ts": 17'
    return DeadLetter(reason="malformed_json", error="unexpected end of input", source_topic="exchange.liquidations",
                      partition=1, offset=4711, original_b64=base64.b64encode(value).decode(),
                      original_size=len(value), received_ts=ts).model_dump(mode="json")


def scenario_events() -> tuple[list[dict], list[dict]]:
    """(input events incl. feed_health and one dead letter, alerts), as the pipeline dumps them."""
    path = bundled("aug2025")
    models = [e for e in read_events(path) if hasattr(e, "type")]
    models = [m for m in models if not _in_gap(m.model_dump(mode="json"))]
    models.sort(key=lambda e: e.ts)
    # The alerts table keeps one row per stage of an alert: its latest revision.
    latest = {(a.alert_id, a.stage): a for a in run(models).alerts}
    alerts = [orjson.loads(dump_event(a)) for a in latest.values()]
    events = [orjson.loads(dump_event(e)) for e in models]
    return events + feed_health(events) + [refused(GAP_START_MS + GAP_MS + 5_000)], alerts


def redelivered(events: list[dict], alerts: list[dict]) -> list[dict]:
    """What an at-least-once pipeline writes again after a restart: the largest liquidations, some bars,
    a whale deposit, an alert stage. Every query must count them once."""
    liquidations = sorted((e for e in events if e["type"] == "liquidation"), key=lambda e: -e["notional_usd"])
    bars = [e for e in events if e["type"] == "trade_flow"]
    deposit = max((e for e in events if e["type"] == "whale_transfer"), key=lambda e: e["usd_value"])
    return liquidations[:100] + bars[::100] + [deposit, alerts[-1]]


def load_scenario(store) -> tuple[list[dict], list[dict]]:
    """Write the scenario through the sink's row code (Store.insert_events), then write part of it
    again in later batches (redelivery); returns the distinct (events, alerts)."""
    events, alerts = scenario_events()
    written = store.insert_events(events + alerts)
    assert sum(written.values()) == len(events) + len(alerts), written
    again = redelivered(events, alerts)
    for i in range(0, len(again), 50):
        store.insert_events(again[i:i + 50])
    return events, alerts


def chdb_path(tmp_path_factory) -> str:
    """The chDB data path to use: the one this process already has open (chDB allows one per process;
    other test packages open theirs first), else a fresh one."""
    from pipeline.sinks import _chdb

    with _chdb._SESSIONS_LOCK:
        already_open = list(_chdb._SESSIONS)
    return already_open[0] if already_open else str(tmp_path_factory.mktemp("chdb-analytics"))


@contextlib.contextmanager
def scenario_store(tmp_path_factory, prefix: str):
    """A chDB store on a database of its own with the schema applied and the scenario loaded;
    yields (store, events, alerts) and drops the database afterwards."""
    from pipeline.sinks.clickhouse import open_store

    database = f"{prefix}_{uuid.uuid4().hex[:8]}"
    store = open_store(f"chdb://{chdb_path(tmp_path_factory)}?database={database}")
    try:
        store.apply_schema()
        events, alerts = load_scenario(store)
        yield store, events, alerts
    finally:
        try:
            store.query(f"DROP DATABASE IF EXISTS {database}")
        finally:
            store.close()
