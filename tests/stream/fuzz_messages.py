"""Seeded bad messages for an input topic, each one checked to be refused by the contract parser.

Mutations of real scenario events (truncated JSON, wrong types, missing or out-of-range fields,
unknown or foreign `type`, oversize, non-UTF-8 and non-object payloads, random bytes, deep nesting).
A mutation the parser happens to accept is mutated again, so every message returned is bad; its
expected dead-letter reason is the one the parser gives."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

import orjson

from pipeline.contracts.models import ContractError, parse_event

WRONG_VALUES = [None, "", "x", "NaN", "1e999", -1, -1e308, 2**80, True, [], {}, [1, 2], {"a": 1}, 1.5, "2025-08-24"]


@dataclass(frozen=True)
class BadMessage:
    topic: str
    key: bytes
    value: bytes
    reason: str


def _dumps(obj) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:  # integers past 64 bits: the stdlib writes them
        return json.dumps(obj).encode()


def _mutate(rng: random.Random, ev: dict, foreign: list[dict], max_bytes: int) -> bytes:
    raw = orjson.dumps(ev)
    # oversize messages are rare (each is max_bytes long); the other kinds equally likely
    kind = 6 if rng.random() < 0.002 else rng.choice([0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11])
    if kind == 0:  # truncated
        return raw[:rng.randrange(1, len(raw) - 1)]
    if kind == 1:  # random bytes
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if kind == 2:  # a field of the wrong type or out of range
        d = dict(ev)
        d[rng.choice(sorted(d))] = rng.choice(WRONG_VALUES)
        return _dumps(d)
    if kind == 3:  # a field missing
        d = dict(ev)
        del d[rng.choice(sorted(d))]
        return orjson.dumps(d)
    if kind == 4:  # unknown type
        return orjson.dumps({**ev, "type": rng.choice(["meme", "Liquidation", "", "alert ", 7, None])})
    if kind == 5:  # a valid event of another topic
        return orjson.dumps(rng.choice(foreign))
    if kind == 6:  # oversize
        return orjson.dumps({**ev, "pad": "x" * (max_bytes + rng.randrange(1, 1000))})
    if kind == 7:  # not UTF-8
        return raw.replace(b'"', b'"\xff\xfe', 1)
    if kind == 8:  # JSON that is not an object
        return orjson.dumps(rng.choice([[ev], "event", 42, None, True, [1, 2, 3]]))
    if kind == 9:  # deep nesting
        depth = rng.randrange(100, 2000)
        return b"[" * depth + b"]" * depth
    if kind == 10:  # two objects, or trailing garbage
        return raw + rng.choice([b" {}", b",", raw, b"\x00"])
    d = dict(ev)  # several fields wrong at once
    for k in rng.sample(sorted(d), k=min(3, len(d))):
        d[k] = rng.choice(WRONG_VALUES)
    return _dumps(d)


def bad_messages(topic: str, own: list[dict], foreign: list[dict], n: int, *, expect: set[str], max_bytes: int,
                 seed: int) -> list[BadMessage]:
    """`n` messages for `topic` that the parser refuses, built from its valid events `own`."""
    rng = random.Random(seed)
    out: list[BadMessage] = []
    while len(out) < n:
        ev = rng.choice(own)
        for _ in range(20):
            value = _mutate(rng, ev, foreign, max_bytes)
            try:
                parse_event(value, max_bytes=max_bytes, expect=expect)
            except ContractError as err:
                key = rng.choice([str(ev.get("asset", "")).encode(), b"", b"\xff\x00", b"BTC"])
                out.append(BadMessage(topic, key, value, err.reason))
                break
    return out
