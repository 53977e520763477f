"""Driving the worker's plain hot path (pipeline/stream/handler.py) without a broker, as the agent would."""

from __future__ import annotations

from pipeline.config import Settings
from pipeline.stream.handler import Handler
from pipeline.stream.messages import Message, Outputs
from pipeline.wire.batcher import Batcher
from pipeline.wire.producer import arrival_ms, topic_for
from pipeline.contracts.registry import key_of

import orjson


def messages(events: list[dict], settings: Settings, batcher: Batcher | None = None) -> list[Message]:
    """The Kafka messages a producer would write for these events (envelopes unless batching is off)."""
    now = [0.0]
    batcher = batcher or Batcher.from_settings(settings.batch, clock=lambda: now[0])
    out: list[tuple] = []
    for e in events:  # the linger on the events' arrival times, as `publish` does
        now[0] = max(now[0], (arrival_ms(e) or 0) / 1000)
        out.extend(batcher.due())
        out.extend(batcher.add(topic_for(settings, e), key_of(e), orjson.dumps(e)))
    out.extend(batcher.drain())
    offsets: dict[str, int] = {}
    msgs = []
    for topic, key, value in out:
        offsets[topic] = offsets.get(topic, -1) + 1
        msgs.append(Message(topic, value, key, 0, offsets[topic]))
    return msgs


class Loop:
    """A handler fed in takes of `take` messages, its links delivered back to it through a list (the
    links topic), everything it returned kept."""

    def __init__(self, handler: Handler, take: int = 64):
        self.handler, self.take = handler, take
        self.outputs: list[Outputs] = []
        self.state: dict[str, dict] = {}

    def run(self, msgs: list[Message]) -> "Loop":
        links_topic = self.handler.settings.topics.links
        queue = list(msgs)
        while queue:
            chunk, queue = queue[: self.take], queue[self.take:]
            out = self.handler.handle(chunk)
            self.outputs.append(out)
            self.state.update(out.states)
            queue = [Message(links_topic, v, k) for k, v in out.links] + queue
        return self

    def all(self, field: str) -> list:
        return [x for out in self.outputs for x in getattr(out, field)]


def interleaved(msgs: list[Message], first: list[str], chunk: int) -> list[Message]:
    """The messages as a worker reading several topics may take them: `chunk` of each topic's backlog in
    turn, the topics in `first` before the others, each topic in its own order."""
    by_topic: dict[str, list[Message]] = {}
    for m in msgs:
        by_topic.setdefault(m.topic, []).append(m)
    topics = sorted(by_topic, key=lambda t: first.index(t) if t in first else len(first))
    out: list[Message] = []
    for start in range(0, max(len(v) for v in by_topic.values()), chunk):
        for t in topics:
            out.extend(by_topic[t][start: start + chunk])
    return out
