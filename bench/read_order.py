"""Does the order a worker reads its topics in change its alerts? The worker's hot path without a broker.

The throughput bench's backlog (bench/_scenario.py: the Aug 2025 scenario repeated as copies a month
apart, each with its month of open-interest history) is packed into batch envelopes as the bench
publishes it, then handed to the worker's handler (pipeline/stream/handler.py) in takes of 64 messages,
its contagion links fed back as the links topic would, in several read orders:

  arrival         every topic in the order the events arrived (one topic, as `replay` sees it)
  side-by-side    each topic's backlog --chunk messages at a time in turn, as a consumer fetching
                  several topics from their start reads them (their event times drift apart)
  <topic> first   the whole backlog of one context topic (ETF flows, open interest, whale transfers)
                  before the others, as a worker does when those topics are small or already caught up

(A context topic read after the others is not checked: the stream cannot know what it has not read,
and past the allowed lateness it is right to decide without it.)

`--takes FILE` replays instead the takes a worker recorded (`CASCADEWATCH_STREAM__RECORD_TAKES`, or
`bench/throughput.py --record`): the same messages in the same takes, in the order that worker
handled them, with its wall clock, through a fresh handler (one worker, from its start); `--events`
must be the run's.

Each order's alerts are compared, field for field, with `replay`'s over the same events
(bench/_reference.py), and the differences are printed. The wall clock the detector is given is
fixed, so no idle timeout fires: the result depends on the read order alone. Exit code 1 when an
order differs.

Run: python bench/read_order.py [--events N] [--chunk 64] [--without TYPE ...] [--takes FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402
from rich.console import Console  # noqa: E402

from _reference import differences, reference_alerts  # noqa: E402
from _scenario import scenario_events  # noqa: E402
from pipeline.config import Settings  # noqa: E402
from pipeline.stream.handler import Handler  # noqa: E402
from pipeline.stream.messages import Message  # noqa: E402
from pipeline.stream.takes import read_takes  # noqa: E402
from pipeline.wire.batcher import Batcher  # noqa: E402
from pipeline.wire.producer import arrival_ms, key_of, topic_for  # noqa: E402

NOW_MS = 4_000_000_000_000  # a fixed wall clock far after every event: no source times out
TAKE = 64


def envelopes(events: list[dict], settings: Settings, linger_s: float) -> list[Message]:
    """The messages the bench's publisher writes (linger measured on the events' arrival times)."""
    now = [0.0]
    batcher = Batcher(settings.batch.max_events, settings.batch.max_bytes, linger_s, clock=lambda: now[0])
    out: list[Message] = []

    def put(ready):
        out.extend(Message(t, v, k, 0, len(out)) for t, k, v in ready)

    for e in events:
        at = arrival_ms(e)
        if at is not None and at / 1000 > now[0]:
            now[0] = at / 1000
            put(batcher.due())
        put(batcher.add(topic_for(settings, e), key_of(e), orjson.dumps(e)))
    put(batcher.drain())
    return out


def side_by_side(msgs: list[Message], chunk: int) -> list[Message]:
    by_topic: dict[str, list[Message]] = {}
    for m in msgs:
        by_topic.setdefault(m.topic, []).append(m)
    out: list[Message] = []
    for start in range(0, max(map(len, by_topic.values())), chunk):
        for topic_msgs in by_topic.values():
            out.extend(topic_msgs[start:start + chunk])
    return out


def stream_alerts(msgs: list[Message], settings: Settings) -> list[dict]:
    handler = Handler(settings, store=False, snapshot_every_s=None, clock=lambda: NOW_MS / 1000)
    alerts: list[dict] = []
    links: list[Message] = []
    for i in range(0, len(msgs), TAKE):
        out = handler.handle([*links, *msgs[i:i + TAKE]])
        alerts += [orjson.loads(v) for _, v in out.alerts]
        links = [Message(settings.topics.links, v, k, 0, 0) for k, v in out.links]
    while links:
        out = handler.handle(links)
        alerts += [orjson.loads(v) for _, v in out.alerts]
        links = [Message(settings.topics.links, v, k, 0, 0) for k, v in out.links]
    return alerts


def recorded_alerts(path: str, settings: Settings) -> tuple[list[dict], int]:
    """The alerts a fresh handler gives over a worker's recorded takes, and the number of takes."""
    takes = read_takes(path)
    clock = [0.0]
    handler = Handler(settings, store=False, snapshot_every_s=None, clock=lambda: clock[0])
    alerts: list[dict] = []
    for now, msgs in takes:
        clock[0] = now
        alerts += [orjson.loads(v) for _, v in handler.handle(msgs).alerts]
    return alerts, len(takes)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000, help="events of the bench backlog (default 100000)")
    ap.add_argument("--linger", type=float, default=10.0, help="envelope linger on arrival times, s (default 10)")
    ap.add_argument("--chunk", type=int, default=64, help="messages of each topic per turn, side by side (default 64)")
    ap.add_argument("--without", action="append", default=[], metavar="TYPE",
                    help="leave out events of this type (e.g. leverage), from the stream and the reference")
    ap.add_argument("--takes", metavar="FILE", help="replay a worker's recorded takes instead of the read orders")
    args = ap.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 150)
    settings = Settings()
    events = [e for e in scenario_events(args.events) if e["type"] not in args.without]
    reference = reference_alerts(events, settings.detector)
    if args.takes:
        alerts, n = recorded_alerts(args.takes, settings)
        diff = differences(alerts, reference, limit=10)
        console.print(f"[bold]{args.takes}[/] ({n:,} takes): " + ("[green]equal to replay[/]" if not diff else "[red]differs[/]"))
        for line in diff:
            console.print(f"    {line}")
        return 1 if diff else 0
    msgs = envelopes(events, settings, args.linger)
    console.print(f"{len(events):,} events in {len(msgs):,} messages; replay raises {len(reference)} alerts")
    topics = {m.topic for m in msgs}
    orders = {"arrival": msgs, f"side by side, {args.chunk} messages per topic": side_by_side(msgs, args.chunk)}
    for topic in sorted(topics - {settings.topics.liquidations, settings.topics.trade_flow}):
        orders[f"{topic} first"] = sorted(msgs, key=lambda m: m.topic != topic)
    failed = False
    for name, ordered in orders.items():
        diff = differences(stream_alerts(ordered, settings), reference, limit=3)
        failed |= bool(diff)
        console.print(f"[bold]{name}[/]: " + ("[green]equal to replay[/]" if not diff else "[red]differs[/]"))
        for line in diff:
            console.print(f"    {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
