"""The collector tuned for streaming: the detector over a scenario sets off almost no collection, where the
default sets off hundreds (counted, not timed)."""

from __future__ import annotations

import gc

import orjson

from pipeline.contracts.light import parse_light
from pipeline.detect import CascadeDetector
from pipeline.runtime.gc_tuning import THRESHOLD, tune_gc
from pipeline.scenarios import bundled


def collections_while_detecting(lines: list[bytes]) -> int:
    runs = []

    def count(phase, info):
        if phase == "start":
            runs.append(info["generation"])

    gc.callbacks.append(count)
    try:
        det = CascadeDetector()
        for i in range(0, len(lines), 500):
            det.process_many([parse_light(raw) for raw in lines[i:i + 500]])
    finally:
        gc.callbacks.remove(count)
    return len(runs)


def test_tuned_collection_runs_rarely_under_the_detector():
    lines = [line for line in bundled().read_bytes().splitlines() if line.strip()]
    assert len(lines) > 10_000 and orjson.loads(lines[0])
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        gc.collect()
        default = collections_while_detecting(lines)
        tune_gc()
        assert gc.get_threshold() == THRESHOLD
        tuned = collections_while_detecting(lines)
    finally:
        gc.set_threshold(*before)
    assert default > 20 and tuned <= default // 10, (default, tuned)
