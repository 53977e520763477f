"""Fault drill: the ClickHouse store unavailable while the worker runs (the real CLI worker and chDB,
every write refused while a switch file exists), from before the live events are published until
every alert is out and the sink has retried. The worker keeps detecting and publishing every alert
during the outage, the sink retries, and once the store is back every event and alert is stored
exactly once under FINAL."""

from __future__ import annotations

import time

from pipeline.config import Settings
from pipeline.wire.producer import publish

from tests.waiting import wait_for

from .drill_helpers import alert_key, figures, offline_alerts, scenario
from .group_helpers import alerts_on_topic

S = Settings(single_record_batches=True)
RETRIES = 3  # refused writes the sink must have retried before the store comes back
TABLES = {"liquidation": "liquidations", "trade_flow": "trade_flow", "whale_transfer": "whale_transfers",
          "etf_flow": "etf_flows"}


def test_store_outage_loses_and_doubles_nothing(broker, worker_factory, tmp_path):
    t0 = time.monotonic()
    down, refused = tmp_path / "store-down", tmp_path / "store-refused"
    worker = worker_factory(launcher="tests.stream.outage_worker",
                            env={"CASCADEWATCH_DRILL_STORE_DOWN": str(down),
                                 "CASCADEWATCH_DRILL_STORE_REFUSED": str(refused),
                                 "CASCADEWATCH_SINK__RETRY_MAX_DELAY_S": "2"})
    events = scenario()
    etf = [e for e in events if e["type"] == "etf_flow"]
    live = [e for e in events if e["type"] != "etf_flow"]
    sink_topics = [*S.topics.inputs(), S.topics.links]  # what the worker reads (it stores its own alerts)
    worker.wait_caught_up(sink_topics, publish(etf, broker.bootstrap, S))  # stored before the outage

    down.touch()
    t_down = time.monotonic()
    written = publish(live, broker.bootstrap, S)
    offline = offline_alerts()
    expected = {alert_key(a) for a in offline}
    # detection and alerting go on while nothing can be stored

    def all_alerts():
        alerts = alerts_on_topic(broker.bootstrap, S.topics.alerts)
        return {alert_key(a) for a in alerts} == expected and alerts

    got = wait_for(all_alerts, "every alert during the outage", timeout=240)
    alerted_s = time.monotonic() - t_down

    def n_refused() -> int:
        return len(refused.read_text().splitlines()) if refused.exists() else 0

    wait_for(lambda: n_refused() >= RETRIES, "the sink to retry", timeout=120)
    assert worker.alive()
    refused_during = n_refused()
    down.unlink()
    t_up = time.monotonic()
    worker.wait_caught_up(sink_topics, written, timeout=240)
    recovered_s = time.monotonic() - t_up
    worker.stop()  # chDB's data path belongs to one process at a time

    want = {table: sum(e["type"] == kind for e in events) for kind, table in TABLES.items()}
    want["alerts"] = len({(a["alert_id"], a["stage"]) for a in offline})  # a revision replaces its stage's row
    final = worker.sql("SELECT " + ", ".join(f"(SELECT count() FROM {t} FINAL) AS {t}" for t in want))[0]
    figures("store outage", events=len(events), alerts=len(got), expected_alerts=len(offline),
            outage_s=round(t_up - t_down, 1), alerted_after_s=round(alerted_s, 1), refused_writes=refused_during,
            recovered_s=round(recovered_s, 1), rows=sum(final.values()), expected_rows=sum(want.values()),
            lost=sum(max(0, want[t] - final[t]) for t in want), doubled=sum(max(0, final[t] - want[t]) for t in want),
            total_s=round(time.monotonic() - t0, 1))
    assert refused_during >= RETRIES
    assert final == want
    by_key = {alert_key(a): a for a in got}
    for a in offline:
        assert by_key[alert_key(a)] == a
