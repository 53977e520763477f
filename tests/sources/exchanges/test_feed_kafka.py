"""`cascadewatch feed VENUE --kafka --raw-trades` publishes to a real (embedded Tansu) broker: the
recorded BitMEX session and two doc-shaped liquidations, from the local replay server, read back
from the topics."""

from __future__ import annotations

import json
from collections import Counter

import jsonschema
import typer
from typer.testing import CliRunner

from pipeline.config import Settings
from pipeline.contracts.models import Trade
from pipeline.sources.exchanges import get_venue
from pipeline.sources.exchanges.feed_cli import feed
from tests.conftest import read_topic
from tests.envelopes import events_of
from tests.waiting import interrupt_when

from .conftest import ROOT, validate_event, validate_health
from .live_cases import bitmex_case
from .replay_server import Script, hold, local_server

TRADE_SCHEMA = jsonschema.Draft202012Validator(json.loads((ROOT / "schemas" / "trade.schema.json").read_text()))


def test_feed_publishes_liquidations_bars_health_and_raw_trades(broker):
    case = bitmex_case()
    frames = case.data + case.liquidations

    def serve(ws, script):
        script.recv(ws)
        for f in frames:
            ws.send(f)
        hold(ws, 120)

    app = typer.Typer()
    app.command("feed")(feed)
    app.command("other")(lambda: None)  # keep `feed` a subcommand, as when mounted on the main app
    env = {"KAFKA_BOOTSTRAP": broker.bootstrap, "CASCADEWATCH_SINGLE_RECORD_BATCHES": "true"}
    topics = Settings().topics
    parser = get_venue("bitmex")
    sent = [t for f in frames for t in parser.parse(json.loads(f), 0).trades]

    def all_published():
        return (len(events_of(read_topic(broker.bootstrap, topics.trades, idle_ms=200))) == len(sent)
                and len(events_of(read_topic(broker.bootstrap, topics.liquidations, idle_ms=200))) == 2)

    with local_server(Script(serve)) as url:
        stopper = interrupt_when(all_published, "every trade and liquidation on the topics")  # then Ctrl-C
        res = CliRunner().invoke(app, ["feed", "bitmex", "-s", ",".join(case.symbols), "--url", url,
                                       "--kafka", "--raw-trades", "--no-leverage"], env=env)
        stopper.join(10)
    assert stopper.met and res.exit_code == 0, res.output
    assert '"type":' not in res.stdout  # --kafka alone writes no JSON lines to stdout

    read = {name: events_of(read_topic(broker.bootstrap, name))
            for name in (topics.liquidations, topics.trade_flow, topics.feed_health, topics.trades)}

    liqs = read[topics.liquidations]
    for _, e in liqs:
        validate_event(e)
    assert sorted(e["side"] for _, e in liqs) == ["long", "short"]
    assert {k for k, _ in liqs} == {b"BTC"}

    assert len(sent) >= 5

    bars = read[topics.trade_flow]
    for key, b in bars:
        validate_event(b)
        assert key == b["asset"].encode()
    assert sum(b["trade_count"] for _, b in bars) == len(sent)
    assert {b["asset"] for _, b in bars} == {"BTC", "UNI", "MATIC"}

    trades = read[topics.trades]
    for key, t in trades:
        TRADE_SCHEMA.validate(t)
        Trade.model_validate(t)
        assert key == t["asset"].encode()
    assert len({t["event_id"] for _, t in trades}) == len(trades) == len(sent)
    assert Counter(t["symbol"] for _, t in trades) == Counter(t.symbol for t in sent)
    assert sum(t["notional_usd"] for _, t in trades) == sum(t.notional_usd for t in sent)

    health = read[topics.feed_health]
    for key, h in health:
        validate_health(h)
        assert key == b"bitmex"
    assert [h["status"] for _, h in health] == ["connected", "disconnected"]
