"""The worker's hot path alone: `Handler.handle` over the throughput bench's backlog, no broker, no Faust.

The backlog (bench/_scenario.py, the Aug 2025 scenario repeated) is written as the bench publishes it:
one event per message, and in batch envelopes (linger on the events' arrival times, --linger s). Each
is handed to a fresh handler in takes of --take messages (each message built as the agent builds it), its contagion links fed back as the links
topic would, once without storing (`worker --no-sink`) and once building the rows to store. The
wall clock the detector is given is fixed. Reported: CPU time (process time, best of --repeat
rounds, the rounds interleaving the modes) per message and per event, events per CPU second, and the
alerts raised (the same in every row, or the run exits 1). --usual adds each mode with the handler's
usual parse path (orjson and the contract checks) instead of the msgspec decoder.

--profile MODE runs one round of MODE (single, single+rows, batched, batched+rows) under cProfile and
prints the functions that took the most time, by own time and by cumulative time.

Run: python bench/handler.py [--events N] [--take 64] [--repeat 3] [--profile single]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from _scenario import scenario_events  # noqa: E402
from read_order import NOW_MS, envelopes  # noqa: E402
from pipeline.config import Settings  # noqa: E402
from pipeline.stream.handler import Handler  # noqa: E402
from pipeline.stream.messages import Message  # noqa: E402
from pipeline.wire.producer import key_of, topic_for  # noqa: E402

MODES = ("single", "single+rows", "batched", "batched+rows")


def run(msgs: list[Message], settings: Settings, store: bool, take: int, fast: bool = True) -> tuple[float, int, int]:
    """CPU seconds to build every message and handle it (links fed back), the events seen and the alerts raised."""
    handler = Handler(settings, store=store, snapshot_every_s=None, clock=lambda: NOW_MS / 1000,
                      **({} if fast else {"fast": False}))
    links_topic = settings.topics.links
    events = alerts = 0
    pending: list[Message] = []
    fields = [tuple(m) if isinstance(m, tuple) else (m.topic, m.value, m.key, m.partition, m.offset) for m in msgs]
    t0 = time.process_time()
    for i in range(0, len(fields), take):
        # As the agent does: a Message built for each Kafka message of the take, then the take handled.
        out = handler.handle([*pending, *[Message(*f) for f in fields[i:i + take]]])
        events += out.events
        alerts += len(out.alerts)
        pending = [Message(links_topic, v, k, 0, 0) for k, v in out.links]
    while pending:
        out = handler.handle(pending)
        events += out.events
        alerts += len(out.alerts)
        pending = [Message(links_topic, v, k, 0, 0) for k, v in out.links]
    return time.process_time() - t0, events, alerts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=50_000, help="events of the backlog (default 50000)")
    ap.add_argument("--linger", type=float, default=10.0, help="envelope linger on arrival times, s (default 10)")
    ap.add_argument("--take", type=int, default=64, help="messages per take, as the worker (default 64)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds per mode, the best reported (default 3)")
    ap.add_argument("--usual", action="store_true",
                    help="also run each mode with the handler's usual parse path (orjson), without the msgspec decoder")
    ap.add_argument("--profile", choices=MODES, help="profile one round of this mode instead")
    ap.add_argument("--top", type=int, default=25, help="functions listed by --profile (default 25)")
    args = ap.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 150)
    settings = Settings()
    events = scenario_events(args.events)
    backlogs = {"single": _singles(events, settings),
                "batched": envelopes(events, settings, args.linger)}
    console.print(f"{len(events):,} events; single: {len(backlogs['single']):,} messages, batched: "
                  f"{len(backlogs['batched']):,} ({len(events) / len(backlogs['batched']):.1f} events/message); "
                  f"take {args.take}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.profile:
        kind, _, rows = args.profile.partition("+")
        prof = cProfile.Profile()
        prof.enable()
        run(backlogs[kind], settings, bool(rows), args.take)
        prof.disable()
        stats = pstats.Stats(prof, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
        return 0
    table = Table(title="Handler.handle, CPU time (best of %d)" % args.repeat)
    for col in ("backlog", "rows", "parse", "messages", "events", "CPU s", "µs/message", "µs/event", "events/CPU-s", "alerts"):
        table.add_column(col, justify="left" if col in ("backlog", "rows", "parse") else "right")
    seen_alerts: set[int] = set()
    modes = [(m, True) for m in MODES] + ([(m, False) for m in MODES] if args.usual else [])
    best: dict[tuple, tuple] = {}
    for _ in range(args.repeat):  # rounds interleave the modes, so a change in the machine's load hits them alike
        for mode, fast in modes:
            kind, _, rows = mode.partition("+")
            cpu, n, alerts = run(backlogs[kind], settings, bool(rows), args.take, fast)
            seen_alerts.add(alerts)
            if (mode, fast) not in best or cpu < best[(mode, fast)][0]:
                best[(mode, fast)] = (cpu, n, alerts)
    for (mode, fast), (cpu, n, alerts) in best.items():
        kind, _, rows = mode.partition("+")
        msgs = backlogs[kind]
        table.add_row(kind, "built" if rows else "none", "decoder" if fast else "usual", f"{len(msgs):,}", f"{n:,}",
                      f"{cpu:.2f}", f"{cpu / len(msgs) * 1e6:.1f}", f"{cpu / n * 1e6:.2f}", f"{n / cpu:,.0f}", str(alerts))
    console.print(table)
    console.print(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if len(seen_alerts) != 1:
        console.print(f"[red]the modes raised different numbers of alerts: {sorted(seen_alerts)}[/]")
        return 1
    return 0


def _singles(events: list[dict], settings: Settings) -> list[Message]:
    """One event per message, as `produce --single-events` writes them."""
    return [Message(topic_for(settings, e), orjson.dumps(e), key_of(e), 0, i) for i, e in enumerate(events)]


if __name__ == "__main__":
    sys.exit(main())
