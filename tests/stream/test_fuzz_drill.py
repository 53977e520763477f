"""Fault drill: 10,000 fuzzed messages per input topic mixed into the bundled scenario, through the
real worker on the embedded broker. Every bad message is dead-lettered with its reason and original
bytes, every valid one is processed, and the alerts are the ones `replay` gives without them.

One effect of the flood is allowed for and printed: the worker reads the topics side by side, not in
event time, so 10,000 junk messages ahead of a topic's few valid events (10 whale transfers) delay
those relative to the market data; one delayed past the allowed lateness is dropped as late (and
published on the `late` topic), as the detector does for any late event. The alerts must then be
`replay`'s over the scenario without those late events: the junk itself decides nothing."""

from __future__ import annotations

import base64
import time
from collections import Counter

import orjson
import pytest

from pipeline.config import Settings
from pipeline.wire.producer import publish, topic_for
from pipeline.stream.app import topic_types
from tests.conftest import read_topic

from .drill_helpers import (alert_key, alerts_when_complete, context_first, figures, interleave, metric,
                            offline_alerts, scenario)
from .fuzz_messages import bad_messages

S = Settings()
# Published in record batches (the 60k messages take a few seconds, not a minute of single-record sends).
# A fresh consumer group reads batches from the start without the stall Tansu shows on resuming mid-batch.
BATCHED = Settings(single_record_batches=False)
PER_TOPIC = 10_000


@pytest.mark.timeout(900)
def test_fuzzed_messages_are_dead_lettered_and_change_no_alert(broker, worker_factory, tmp_path):
    t0 = time.monotonic()
    events = scenario()
    expect = topic_types(S)
    bad = {}  # topic -> BadMessage list
    for i, topic in enumerate(S.topics.inputs()):
        own = [e for e in events if topic_for(S, e) == topic]
        foreign = [e for e in events if topic_for(S, e) != topic]
        bad[topic] = bad_messages(topic, own, foreign, PER_TOPIC, expect=expect[topic],
                                  max_bytes=S.max_event_bytes, seed=i)
    expected_dead = Counter((m.topic, m.value) for msgs in bad.values() for m in msgs)
    reasons = {(m.topic, m.value): m.reason for msgs in bad.values() for m in msgs}
    as_sent = {t: [(m.topic, m.key, m.value) for m in msgs] for t, msgs in bad.items()}

    worker = worker_factory()
    etf, live = context_first(events)
    worker.wait_caught_up([S.topics.etf_flows, S.topics.leverage],
                          publish(interleave(etf, as_sent[S.topics.etf_flows], 1), broker.bootstrap, BATCHED))
    others = [m for t in S.topics.inputs() if t != S.topics.etf_flows for m in as_sent[t]]
    t_pub = time.monotonic()
    written = publish(interleave(live, others, 2), broker.bootstrap, BATCHED)
    t_sent = time.monotonic()
    worker.wait_caught_up([*S.topics.inputs(), S.topics.links], written, timeout=600)
    t_done = time.monotonic()
    assert worker.alive()

    late = [orjson.loads(r.value) for r in read_topic(broker.bootstrap, S.topics.late)]
    offline = offline_alerts({e.get("event_id") for e in late} - {None}, tmp_path)
    got = alerts_when_complete(broker.bootstrap, S.topics.alerts, {alert_key(a) for a in offline}, timeout=60)
    dead = [orjson.loads(r.value) for r in read_topic(broker.bootstrap, S.topics.deadletter)]
    got_dead = Counter((d["source_topic"], base64.b64decode(d["original_b64"])) for d in dead)
    wrong_reason = [d for d in dead if d["reason"] != reasons[(d["source_topic"], base64.b64decode(d["original_b64"]))]]
    processed = metric(worker.metrics_port, "cascadewatch_events_total", S.topics.inputs())
    n_bad = sum(expected_dead.values())
    figures("fuzz", events=len(events), bad=n_bad, dead_lettered=len(dead), processed=int(processed),
            late=len(late), late_types=dict(Counter(e["type"] for e in late)),
            alerts=len(got), expected_alerts=len(offline), lost=max(0, n_bad - len(dead)),
            doubled=max(0, len(dead) - n_bad), publish_s=round(t_sent - t_pub, 1),
            consume_s=round(t_done - t_sent, 1), total_s=round(time.monotonic() - t0, 1))

    by_key = {alert_key(a): a for a in got}
    missing = sorted(set(map(alert_key, offline)) - set(by_key))
    extra = sorted(set(by_key) - set(map(alert_key, offline)))
    assert not missing and not extra, (missing, extra, [(a["asset"], a["kind"], a["stage"]) for a in offline])
    assert got_dead == expected_dead  # each bad message once, with its original bytes, from its topic
    assert not wrong_reason, wrong_reason[:3]
    assert all(d["error"] for d in dead)
    assert processed == len(events)  # every valid one reached the detector
    assert metric(worker.metrics_port, "cascadewatch_deadletter_total") == n_bad
    assert sorted(by_key) == sorted(alert_key(a) for a in offline) and len(got) == len(offline)
    for a in offline:  # the same alerts, field for field, as the offline replay without the bad messages
        assert by_key[alert_key(a)] == a
