"""The sink agent's insert retries: a store that fails transiently loses and duplicates nothing."""

from __future__ import annotations

import asyncio

import pytest

from pipeline.sinks.writer import insert_with_retry as _insert_with_retry


class Flaky:
    """A real store whose first `fail` inserts raise after (or before) writing, like a lost reply."""

    def __init__(self, store, fail: int, write_before_failing: bool):
        self.store, self.fail, self.write_first = store, fail, write_before_failing

    def insert_events(self, batch):
        if self.fail:
            self.fail -= 1
            if self.write_first:
                self.store.insert_events(batch)
            raise ConnectionError("connection reset")
        return self.store.insert_events(batch)


@pytest.mark.parametrize("write_first", [False, True])
def test_retried_batch_is_written_once(store, ev, write_first, monkeypatch):
    monkeypatch.setattr(asyncio, "sleep", lambda s: _noop())
    batch = [ev.liquidation(f"liq-{i}", ts=ev.T0 + i) for i in range(50)]
    counts = asyncio.run(_insert_with_retry(Flaky(store, 2, write_first), batch))
    assert counts == {"liquidations": 50}
    assert store.query("SELECT count() FROM liquidations")[1][0][0] == 50


def test_keeps_retrying_through_a_long_outage(store, ev, monkeypatch):
    monkeypatch.setattr(asyncio, "sleep", lambda s: _noop())
    flaky = Flaky(store, 25, False)
    assert asyncio.run(_insert_with_retry(flaky, [ev.liquidation()])) == {"liquidations": 1}
    assert flaky.fail == 0


async def _noop():
    return None
