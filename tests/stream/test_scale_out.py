"""Two workers in one consumer group, run as the CLI runs them, on topics of two partitions (BTC and
ETH land on different ones, so on different workers): together they publish `replay`'s alerts,
contagion links crossing between them included; a worker stopped gracefully hands its partitions and
state to the other with no alert lost or repeated; a worker killed with SIGKILL mid-episode is
replaced by the other, and the alerts, deduplicated by (alert_id, stage, revision), are `replay`'s.
Every drill compares the alerts with `replay`'s field for field (sums, counts, windows, evidence)."""

from __future__ import annotations

import os
import signal
import time
import urllib.request

import orjson
import pytest

from pipeline.config import Settings
from pipeline.contracts.models import dump_event
from pipeline.replay import replay_files
from pipeline.runtime.broker import EmbeddedBroker
from pipeline.runtime.topics import ensure_topics
from pipeline.scenarios import bundled
from pipeline.wire.producer import publish
from tests.waiting import wait_for

from .drill_helpers import alert_key, alerts_when_complete, assert_replays, figures, scenario, split_mid_episode
from .group_helpers import alerts_by_asset, alerts_on_topic, assigned, partition_of, repeated

PARTS = 2
S = Settings(partitions=PARTS, single_record_batches=True)
# A feed silent for the idle timeout of wall-clock time stops holding the watermark back. These drills pause
# every feed at once (a worker stopping or killed, the group rebalancing, the rest of the scenario published),
# which on a loaded machine can last longer than the default minute; then the first feed read again moves the
# watermark alone and the others' events come late, a decision about silent feeds, not a handoff. The workers
# and the offline replay take a longer idle timeout (the replay's alerts are the same with either).
IDLE_MS = 600_000
NOT_DELIVERED = "were not delivered since the partition was assigned"  # pipeline/stream/takes.py's warning


@pytest.fixture
def broker(tmp_path):
    """The embedded broker with the pipeline's topics at two partitions."""
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as b:
        ensure_topics(S, b.bootstrap)
        yield b


def start_pair(worker_factory, tmp_path, launcher: str = "pipeline") -> dict[str, object]:
    """Two workers without the sink; returns the one owning each asset once each holds one partition. Each
    worker's seek gate (tests/stream/slow_seek_worker.py, when that is the launcher) is `tmp_path/gate-NAME`."""
    workers = [worker_factory(name, args=("--no-sink",), launcher=launcher,
                              env={"CASCADEWATCH_PARTITIONS": str(PARTS), "CASCADEWATCH_DATA_DIR": str(tmp_path / name),
                                   "CASCADEWATCH_DETECTOR__IDLE_TIMEOUT_MS": str(IDLE_MS),
                                   "CASCADEWATCH_DRILL_SEEK_GATE": str(tmp_path / f"gate-{name}")})
               for name in ("a", "b")]

    def settled():
        for w in workers:
            assert w.alive(), f"worker {w.name} died:\n{w.log.read_text()[-3000:]}"
        parts = [assigned(w.log.read_text(), S.topics.liquidations) for w in workers]
        return all(parts) and parts[0] | parts[1] == set(range(PARTS)) and not parts[0] & parts[1] and parts

    parts = wait_for(settled, "both workers to hold one partition each", timeout=120)
    owner = {asset: workers[0] if partition_of(asset, PARTS) in parts[0] else workers[1] for asset in ("BTC", "ETH")}
    assert owner["BTC"] is not owner["ETH"]  # the episode's contagion link must cross between the workers
    return owner


def feed_etf(worker, bootstrap: str, events: list[dict]) -> list[dict]:
    """Publish the ETF history first (context read on every alert); return the live events."""
    worker.wait_caught_up([S.topics.etf_flows], publish([e for e in events if e["type"] == "etf_flow"], bootstrap, S))
    return [e for e in events if e["type"] != "etf_flow"]


def offline_alerts() -> list[dict]:
    """`replay`'s alerts for the bundled scenario, with the workers' detector settings."""
    config = S.detector.model_copy(update={"idle_timeout_ms": IDLE_MS})
    return [orjson.loads(dump_event(a)) for a in replay_files([bundled()], config).alerts]


def scrape(worker) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{worker.metrics_port}/metrics", timeout=30).read().decode()


def assert_alerts_are_replays(got: list[dict], offline: list[dict]) -> None:
    # Every alert of the replay field for field (sums, counts, windows, evidence), and no other; a repeat
    # of one (same alert_id, stage and revision) must be the same alert.
    assert_replays(got, offline)
    for a in got:
        assert a == next(b for b in offline if alert_key(b) == alert_key(a))
    stages = {(a["asset"], a["kind"], a["stage"]) for a in got}
    assert {("BTC", "whale_cascade", s) for s in ("watch", "sell", "cascade")} <= stages
    assert {("ETH", "contagion_cascade", s) for s in ("watch", "cascade")} <= stages


def test_two_workers_share_the_partitions_and_publish_replays_alerts(broker, worker_factory, tmp_path):
    t0 = time.monotonic()
    owner = start_pair(worker_factory, tmp_path)
    events = scenario()
    live = feed_etf(owner["BTC"], broker.bootstrap, events)
    written = publish(live, broker.bootstrap, S)
    owner["BTC"].wait_caught_up([*S.topics.inputs(), S.topics.links], written)
    offline = offline_alerts()
    got = alerts_when_complete(broker.bootstrap, S.topics.alerts, {alert_key(a) for a in offline})
    per_worker = {asset: alerts_by_asset(scrape(w)) for asset, w in owner.items()}
    figures("two workers", events=len(events), alerts=len(got), expected=len(offline),
            lost=len(set(map(alert_key, offline)) - set(map(alert_key, got))), doubled=sum(repeated(got).values()),
            btc_worker=dict(per_worker["BTC"]), eth_worker=dict(per_worker["ETH"]),
            total_s=round(time.monotonic() - t0, 1))
    assert_alerts_are_replays(got, offline)
    assert not repeated(got)
    # each asset's alerts came from the worker holding its partition: the ETH contagion cascade was
    # raised by one worker from a link the other published
    assert per_worker["BTC"]["BTC"] > 0 and per_worker["BTC"]["ETH"] == 0
    assert per_worker["ETH"]["ETH"] > 0 and per_worker["ETH"]["BTC"] == 0


def test_a_stopped_worker_hands_its_partitions_and_state_to_the_other(broker, worker_factory, tmp_path):
    t0 = time.monotonic()
    owner = start_pair(worker_factory, tmp_path)
    events = scenario()
    live = feed_etf(owner["BTC"], broker.bootstrap, events)
    first, rest = split_mid_episode(live)
    owner["BTC"].wait_caught_up(S.topics.inputs(), publish(first, broker.bootstrap, S))
    before = alerts_on_topic(broker.bootstrap, S.topics.alerts)
    btc = [a["stage"] for a in before if a["asset"] == "BTC"]
    assert btc == ["watch", "sell"]  # mid-episode: the cascade is still to come

    owner["BTC"].stop()  # SIGTERM: Faust leaves the group after committing
    survivor = owner["ETH"]
    wait_for(lambda: assigned(survivor.log.read_text(), S.topics.liquidations) == set(range(PARTS)),
             "the survivor to take every partition", timeout=120)
    publish(rest, broker.bootstrap, S)
    offline = offline_alerts()
    got = alerts_when_complete(broker.bootstrap, S.topics.alerts, {alert_key(a) for a in offline}, timeout=180)
    figures("graceful handoff", events=len(events), alerts=len(got), expected=len(offline),
            before_stop=len(before), lost=len(set(map(alert_key, offline)) - set(map(alert_key, got))),
            doubled=sum(repeated(got).values()), total_s=round(time.monotonic() - t0, 1))
    assert survivor.alive()
    assert NOT_DELIVERED not in survivor.log.read_text()
    assert_alerts_are_replays(got, offline)
    assert not repeated(got)  # nothing published twice across the handoff


def test_a_killed_worker_is_replaced_mid_episode(broker, worker_factory, tmp_path):
    t0 = time.monotonic()
    owner = start_pair(worker_factory, tmp_path)
    events = scenario()
    live = feed_etf(owner["BTC"], broker.bootstrap, events)
    first, rest = split_mid_episode(live)
    publish(first, broker.bootstrap, S)
    # SIGKILL the moment the episode's selling is published, while the worker is still consuming
    wait_for(lambda: any(a["asset"] == "BTC" and a["stage"] == "sell"
                         for a in alerts_on_topic(broker.bootstrap, S.topics.alerts)),
             "the BTC sell alert", timeout=180)
    os.kill(owner["BTC"].proc.pid, signal.SIGKILL)
    owner["BTC"].proc.wait()
    before = alerts_on_topic(broker.bootstrap, S.topics.alerts)
    survivor = owner["ETH"]
    wait_for(lambda: assigned(survivor.log.read_text(), S.topics.liquidations) == set(range(PARTS)),
             "the survivor to take every partition", timeout=120)
    publish(rest, broker.bootstrap, S)
    offline = offline_alerts()
    got = alerts_when_complete(broker.bootstrap, S.topics.alerts, {alert_key(a) for a in offline}, timeout=180)
    figures("kill -9", events=len(events), alerts=len(got), unique=len(set(map(alert_key, got))),
            expected=len(offline), before_kill=len(before),
            lost=len(set(map(alert_key, offline)) - set(map(alert_key, got))),
            doubled=sum(repeated(got).values()), total_s=round(time.monotonic() - t0, 1))
    assert survivor.alive()
    assert NOT_DELIVERED not in survivor.log.read_text()
    # Field for field; an alert published again after the kill (its state not yet confirmed when the worker
    # died) must be the same alert.
    assert_alerts_are_replays(got, offline)


def test_records_fetched_before_the_seek_of_a_takeover_are_not_lost(broker, worker_factory, tmp_path):
    """The graceful handoff with the survivor's seek to the committed offsets held until the rest of the
    episode is on the broker (a slow seek, which a loaded machine gives at random): the consumer hands no
    input record on before that seek, and the alerts are replay's field for field. Before the worker stopped
    the flow at the new assignment, Faust (after restoring the table) let the fetcher deliver records while
    the seek was pending; the seek then made the rest of their batch a gap counted as acknowledged and
    cleared what the agent had not taken: those events were committed without ever being handled."""
    t0 = time.monotonic()
    owner = start_pair(worker_factory, tmp_path, launcher="tests.stream.slow_seek_worker")
    survivor = owner["ETH"]
    gate = tmp_path / f"gate-{survivor.name}"
    events = scenario()
    live = feed_etf(owner["BTC"], broker.bootstrap, events)
    first, rest = split_mid_episode(live)
    owner["BTC"].wait_caught_up(S.topics.inputs(), publish(first, broker.bootstrap, S))

    (gate / "armed").touch()
    owner["BTC"].stop()
    wait_for(lambda: (gate / "held").exists(), "the survivor's seek after the takeover", timeout=120)
    publish(rest, broker.bootstrap, S)  # on the broker, behind the committed offsets, while the seek is held
    (gate / "go").touch()
    offline = offline_alerts()
    got = alerts_when_complete(broker.bootstrap, S.topics.alerts, {alert_key(a) for a in offline}, timeout=180)
    held = (gate / "held").read_text().strip()
    early = (gate / "early").read_text().splitlines() if (gate / "early").exists() else []  # the seek is done
    figures("seek held at the takeover", events=len(events), alerts=len(got), expected=len(offline),
            handed_on_before_seek=len(early), lost=len(set(map(alert_key, offline)) - set(map(alert_key, got))),
            doubled=sum(repeated(got).values()), total_s=round(time.monotonic() - t0, 1))
    assert survivor.alive()
    assert not early, f"{len(early)} input records handed on before the seek, from {early[0]}"
    assert held == "flow_active=False"
    assert NOT_DELIVERED not in survivor.log.read_text()
    assert_alerts_are_replays(got, offline)
    assert not repeated(got)
