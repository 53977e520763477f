"""Fault drills on the broker, with the real CLI worker and the embedded Tansu broker.

- Started before its broker: the worker says the broker is unreachable, retries with backoff, and
  starts once the broker is up; then it publishes `replay`'s alerts.
- The broker hung mid-episode (SIGSTOP, then SIGCONT: every request times out, the connections stay
  open, the broker keeps its data, as in a network partition or a stalled broker): once it is back,
  no alert is lost, none is repeated.
- The broker restarted mid-episode: the embedded broker keeps topics only in memory, so it comes back
  empty (messages, committed offsets, the state changelog: gone). The worker reconnects, keeps the
  state it holds and detects the rest of the episode from the events published after the restart;
  the alerts published before it (read by whoever followed the topic then) and after it are together
  `replay`'s. What it cannot show: recovery of messages the broker lost (that needs a broker that
  persists them, a Kafka cluster), or a worker restarted while the broker is empty."""

from __future__ import annotations

import signal
import time

import pytest

from pipeline.config import Settings
from pipeline.runtime.broker import EmbeddedBroker, free_port
from pipeline.wire.producer import publish
from pipeline.runtime.topics import ensure_topics
from tests.waiting import wait_for

from .conftest import Worker
from .drill_helpers import (alert_key, alerts_when_complete, assert_replays, figures, offline_alerts, scenario,
                            split_mid_episode)
from .group_helpers import alerts_on_topic, repeated

S = Settings(single_record_batches=True)
HUNG_S = 20.0  # longer than the group's session timeout (5 s in tests): the group must recover too
DOWN_S = 10.0


@pytest.mark.broker  # starts its own, later than the worker
def test_worker_started_before_its_broker_waits_for_it(tmp_path):
    t0 = time.monotonic()
    broker = EmbeddedBroker(port=free_port(), log_path=tmp_path / "broker.log")
    worker = Worker(broker.bootstrap, tmp_path, args=("--no-sink",))
    try:
        worker.start()

        def refusals() -> int:
            assert worker.alive(), f"worker exited:\n{worker.log.read_text()[-3000:]}"
            return worker.log.read_text().count(f"Kafka broker {broker.bootstrap} unreachable")

        wait_for(lambda: refusals() >= 3, "the worker to retry", timeout=120)
        n_refused = refusals()
        log = worker.log.read_text()
        assert "Connection refused" in log and "attempt 1, next in 0.5s" in log and "attempt 2, next in 1.0s" in log
        broker.start()
        t_up = time.monotonic()
        ensure_topics(S, broker.bootstrap)
        wait_for(lambda: "is up after" in worker.log.read_text(), "the worker to see the broker", timeout=120)
        events = scenario()
        worker.wait_caught_up([S.topics.etf_flows], publish([e for e in events if e["type"] == "etf_flow"],
                                                             broker.bootstrap, S))
        written = publish([e for e in events if e["type"] != "etf_flow"], broker.bootstrap, S)
        worker.wait_caught_up([*S.topics.inputs(), S.topics.links], written)
        offline = offline_alerts()
        got = alerts_when_complete(broker.bootstrap, S.topics.alerts, {alert_key(a) for a in offline})
        figures("broker down at start", events=len(events), refused_attempts=n_refused, alerts=len(got),
                expected=len(offline), lost=len(set(map(alert_key, offline)) - set(map(alert_key, got))),
                doubled=sum(repeated(got).values()), alerted_after_up_s=round(time.monotonic() - t_up, 1),
                total_s=round(time.monotonic() - t0, 1))
        assert worker.alive()
        assert_replays(got, offline)
        assert not repeated(got)
    finally:
        worker.stop()
        broker.stop()


def test_broker_hung_mid_episode_loses_no_alert(broker, worker_factory):
    t0 = time.monotonic()
    worker = worker_factory(args=("--no-sink",))
    events = scenario()
    worker.wait_caught_up([S.topics.etf_flows], publish([e for e in events if e["type"] == "etf_flow"],
                                                         broker.bootstrap, S))
    first, rest = split_mid_episode([e for e in events if e["type"] != "etf_flow"])
    publish(first, broker.bootstrap, S)
    wait_for(lambda: any(a["asset"] == "BTC" and a["stage"] == "sell"
                         for a in alerts_on_topic(broker.bootstrap, S.topics.alerts)),
             "the BTC sell alert", timeout=180)
    broker.proc.send_signal(signal.SIGSTOP)  # hung mid-episode, likely while the worker is still consuming
    t_hung = time.monotonic()
    try:
        wait_for(lambda: time.monotonic() - t_hung >= HUNG_S, "the end of the outage", timeout=HUNG_S + 5, step=0.2)
        assert worker.alive(), f"worker exited while the broker was hung:\n{worker.log.read_text()[-3000:]}"
    finally:
        broker.proc.send_signal(signal.SIGCONT)
    t_back = time.monotonic()
    publish(rest, broker.bootstrap, S)
    offline = offline_alerts()
    got = alerts_when_complete(broker.bootstrap, S.topics.alerts, {alert_key(a) for a in offline}, timeout=180)
    figures("broker hung", events=len(events), hung_s=round(t_back - t_hung, 1), alerts=len(got),
            expected=len(offline), lost=len(set(map(alert_key, offline)) - set(map(alert_key, got))),
            doubled=sum(repeated(got).values()), total_s=round(time.monotonic() - t0, 1))
    assert worker.alive()
    assert_replays(got, offline)
    assert not repeated(got)


ASSIGNED = "Executing _on_partitions_assigned"


def test_broker_restarted_empty_mid_episode(broker, worker_factory):
    t0 = time.monotonic()
    worker = worker_factory(args=("--no-sink",))
    events = scenario()
    worker.wait_caught_up([S.topics.etf_flows], publish([e for e in events if e["type"] == "etf_flow"],
                                                         broker.bootstrap, S))
    first, rest = split_mid_episode([e for e in events if e["type"] != "etf_flow"])
    worker.wait_caught_up(S.topics.inputs(), publish(first, broker.bootstrap, S))
    before = alerts_on_topic(broker.bootstrap, S.topics.alerts)  # as a follower of the topic saw them
    assert [a["stage"] for a in before if a["asset"] == "BTC"] == ["watch", "sell"]
    mark = len(worker.log.read_text())
    broker.stop()
    t_down = time.monotonic()
    # down for a while (by the clock), and until the worker has failed to reconnect a few times
    wait_for(lambda: time.monotonic() - t_down >= DOWN_S
             and worker.log.read_text()[mark:].count("Connect call failed") >= 5,
             "the worker to fail reconnecting", timeout=120, step=0.2)
    assert worker.alive()
    assigned = worker.log.read_text().count(ASSIGNED)
    broker.start()  # same port, empty
    t_up = time.monotonic()
    ensure_topics(S, broker.bootstrap)
    # The worker rejoins the new (empty) broker's group before the rest is published: a consumer still
    # fetching at its old positions would skip the first messages of the emptied topics (see
    # docs/reliability.md), which says nothing about the worker's state.
    wait_for(lambda: worker.log.read_text().count(ASSIGNED) > assigned, "the worker to rejoin the group",
             timeout=180, step=0.2)
    publish(rest, broker.bootstrap, S)
    offline = offline_alerts()
    after_keys = {alert_key(a) for a in offline} - {alert_key(a) for a in before}
    after = alerts_when_complete(broker.bootstrap, S.topics.alerts, after_keys, timeout=180)
    got = before + after
    figures("broker restarted empty", events=len(events), alerts_before=len(before), alerts_after=len(after),
            expected=len(offline), lost=len(set(map(alert_key, offline)) - set(map(alert_key, got))),
            doubled=sum(repeated(got).values()), down_s=round(t_up - t_down, 1),
            total_s=round(time.monotonic() - t0, 1))
    assert worker.alive()
    # The episode went on from the state the worker held: same alerts, field for field.
    assert_replays(got, offline)
    assert not repeated(got)
