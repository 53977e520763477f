"""Shared by the fault drills: the bundled scenario, the offline alerts to compare with, metrics,
interleaving bad messages into a stream, and a figures line printed in the test output."""

from __future__ import annotations

import random
import time
import urllib.request

import orjson

from pipeline.contracts.models import dump_event
from pipeline.replay import replay_files
from pipeline.scenarios import bundled
from tests.conftest import read_topic


def scenario() -> list[dict]:
    return [orjson.loads(line) for line in bundled().read_bytes().splitlines()]


def split_mid_episode(live: list[dict]) -> tuple[list[dict], list[dict]]:
    """The live events up to 15 min after the BTC deposit (its selling seen, the cascade not yet) and the rest."""
    deposit = next(e for e in live if e["type"] == "whale_transfer" and e["amount"] == 24_000.0)
    cut = deposit["block_time"] + 15 * 60_000
    first = [e for e in live if (e.get("observed_ts") or e.get("received_ts") or e["ts"]) < cut]
    return first, live[len(first):]


def alert_key(a: dict) -> tuple:
    return a["alert_id"], a["stage"], a.get("revision", 0)


def offline_alerts(without: set[str] = frozenset(), tmp=None) -> list[dict]:
    """What `replay` gives for the bundled scenario (the reference every drill compares with), optionally
    without the events whose event_id is in `without` (written to a file under `tmp`)."""
    if not without:
        return [orjson.loads(dump_event(a)) for a in replay_files([bundled()]).alerts]
    path = tmp / "scenario-without.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in bundled().read_bytes().splitlines()
                              if orjson.loads(line).get("event_id") not in without))
    return [orjson.loads(dump_event(a)) for a in replay_files([path]).alerts]


def assert_replays(got: list[dict], offline: list[dict]) -> None:
    """`got` holds `offline`'s alerts and no other, field for field (repeats of one are allowed)."""
    by_key = {alert_key(a): a for a in got}
    assert sorted(by_key) == sorted(map(alert_key, offline)), sorted(set(by_key) ^ set(map(alert_key, offline)))
    for a in offline:
        b = by_key[alert_key(a)]
        assert b == a, (alert_key(a), a["kind"], {k: (b.get(k), a.get(k)) for k in a.keys() | b.keys()
                                                  if b.get(k) != a.get(k)})


def alerts_when_complete(bootstrap: str, topic: str, expected: set, timeout: float = 120.0,
                         complete=None) -> list[dict]:
    """The alerts on the topic once their keys are `expected` (cross-asset messages may still be on their
    way when the inputs are consumed), or `complete(alerts)` holds when given, or what is there after
    `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        got = [orjson.loads(r.value) for r in read_topic(bootstrap, topic, idle_ms=500)]
        done = complete(got) if complete is not None else {alert_key(a) for a in got} == expected
        if done or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def metric(port: int, name: str, topics: list[str] | None = None) -> float:
    """A counter summed over its labels (only the series of `topics`, when given)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{")
               and (topics is None or any(f'topic="{t}"' in line for t in topics)))


def interleave(valid: list, bad: list, seed: int) -> list:
    """`bad` spread at random positions among `valid`, each list keeping its own order."""
    rng = random.Random(seed)
    slots = sorted(rng.randrange(len(valid) + 1) for _ in bad)
    out, j = [], 0
    for i, item in enumerate(valid):
        while j < len(bad) and slots[j] == i:
            out.append(bad[j])
            j += 1
        out.append(item)
    return out + bad[j:]


def figures(drill: str, **numbers) -> str:
    line = f"[drill] {drill}: " + ", ".join(f"{k} {v}" for k, v in numbers.items())
    print(line)
    return line


def context_first(events: list[dict]) -> tuple[list[dict], list[dict]]:
    """(context history, the rest): ETF flows and the open interest from before the exchange feeds
    start, which a worker reading these topics' history has before the feeds. Published and consumed
    first, a stream then sees what the offline replay sees (leverage then holds the watermark as the
    other feeds do)."""
    start = min(e["ts"] for e in events if e["type"] in ("trade_flow", "liquidation"))
    early = [e["type"] == "etf_flow" or (e["type"] == "leverage" and e["ts"] < start) for e in events]
    return [e for e, x in zip(events, early) if x], [e for e, x in zip(events, early) if not x]
