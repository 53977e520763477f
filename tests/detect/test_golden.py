"""The detector's decisions on fixed simulator runs equal the stored golden alerts, field for field,
whatever the input path: models one at a time, records one at a time, or batches of records."""

from __future__ import annotations

import orjson
import pytest

from pipeline.contracts.light import parse_light
from pipeline.detect import CascadeDetector
from tests.detect.golden import CASES, ORDERS, alert_rows, case_events, digest, in_order, load, reference_run


@pytest.fixture(scope="module")
def golden() -> dict:
    return load()


def records(dicts) -> list:
    return [parse_light(orjson.dumps(d)) for d in dicts]


def one_record_at_a_time(dicts) -> list:
    det = CascadeDetector()
    alerts = []
    for rec in records(dicts):
        alerts.extend(det.feed(rec))
    return alerts + det.finish()


def in_batches(dicts, size: int = 500) -> list:
    det = CascadeDetector()
    recs = records(dicts)
    alerts = []
    for i in range(0, len(recs), size):
        alerts.extend(det.feed_many(recs[i:i + size]))
    return alerts + det.finish()


RUNS = {"models": reference_run, "records": one_record_at_a_time, "batches": in_batches}
# records one at a time differ from batches only in the call: once is enough
COMBOS = [(order, run) for order in ORDERS for run in sorted(RUNS) if run != "records" or order == "arrival"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_simulator_input_is_the_one_the_golden_was_made_from(golden, name):
    assert digest(case_events(name)) == golden[name]["input_sha256"], \
        "the simulator's output changed: regenerate the golden (python -m tests.detect.golden) from the reference detector"


@pytest.mark.parametrize(("order", "run"), COMBOS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_alerts_equal_the_golden_field_for_field(golden, name, order, run):
    want = golden[name][order]
    got = alert_rows(RUNS[run](in_order(case_events(name), order)))
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"alert {i} differs"
    assert any(a["stage"] == "cascade" for a in want)  # the case holds decisions worth comparing


def a_backlog_at_one_moment(dicts, size: int = 5_000) -> list:
    """Records in large batches while the wall clock stands still (a worker catching up): a silent feed
    never idles out, so the watermark waits behind it and then moves hours at once."""
    det = CascadeDetector()
    recs = records(dicts)
    alerts = []
    for i in range(0, len(recs), size):
        alerts.extend(det.feed_many(recs[i:i + size], now_ms=2_000_000_000_000))
    return alerts + det.finish()


def per_asset(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r["asset"], []).append(r)
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_backlog_read_at_one_wall_clock_moment_gives_the_golden_alerts(golden, name):
    """Each asset's alerts, in its order, field for field (one advance decides several assets at once, so
    the order between assets may differ: topics are ordered per asset)."""
    want = golden[name]["arrival"]
    got = alert_rows(a_backlog_at_one_moment(in_order(case_events(name), "arrival")))
    assert per_asset(got) == per_asset(want)
