"""The sink's background writer on a real chDB store behind a switch: reading is not held up by a
store that is down (up to the backlog bound), nothing is acknowledged before it is stored, and once
the store is back every row is written once, in order of acknowledgement."""

from __future__ import annotations

import asyncio

from pipeline.sinks.writer import BackgroundWriter


class Switched:
    """The real store, refusing every insert while `down` (as an unreachable server does)."""

    def __init__(self, store):
        self.store, self.down, self.refused = store, True, 0

    def insert_events(self, batch):
        if self.down:
            self.refused += 1
            raise ConnectionError("connection refused")
        return self.store.insert_events(batch)


async def _until(cond, timeout: float = 60.0) -> None:
    async def poll():
        while not cond():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(poll(), timeout)


def test_reading_goes_on_while_the_store_is_down_and_nothing_is_acked_unstored(store, ev):
    switched = Switched(store)
    acked: list[str] = []
    stored: list[dict] = []

    async def ack(token):
        acked.append(token)

    async def drill():
        writer = BackgroundWriter(switched, ack=ack, batch_size=10, flush_interval_s=0.05, max_backlog=100,
                                  retry_max_delay_s=0.05, on_stored=stored.append)
        async with writer.running():
            for i in range(95):  # below the bound: every put returns while nothing can be stored
                await writer.put(ev.liquidation(f"liq-{i}", ts=ev.T0 + i), f"t{i}")
            await writer.put(None, "unstorable")  # acknowledged in its turn, stores nothing
            await _until(lambda: switched.refused >= 3)
            assert acked == []
            blocked = asyncio.ensure_future(writer.put(ev.liquidation("liq-over", ts=ev.T0 + 999), "over"))
            for _ in range(4):  # these fill the backlog (the batch in flight counts) before `over` runs
                await writer.put(ev.liquidation(f"liq-{95 + _}", ts=ev.T0 + 95 + _), f"t{95 + _}")
            await asyncio.sleep(0.2)
            assert not blocked.done()
            switched.down = False
            await asyncio.wait_for(blocked, 60)
            await _until(lambda: len(acked) == 101)

    asyncio.run(drill())
    assert acked[:96] == [*(f"t{i}" for i in range(95)), "unstorable"]
    assert sorted(acked) == sorted([*(f"t{i}" for i in range(99)), "unstorable", "over"])
    assert sum(c["liquidations"] for c in stored) == 100
    assert store.query("SELECT count() FROM liquidations FINAL")[1][0][0] == 100
    assert store.query("SELECT count() FROM liquidations")[1][0][0] == 100


def test_rows_given_together_are_stored_before_any_of_their_inputs_is_acknowledged(store, ev):
    switched = Switched(store)
    switched.down = False
    acked: list[str] = []
    stored_at_ack: list[int] = []

    async def ack(token):
        acked.append(token)
        stored_at_ack.append(store.query("SELECT count() FROM liquidations")[1][0][0])

    async def run():
        writer = BackgroundWriter(switched, ack=ack, batch_size=4, flush_interval_s=0.05, max_backlog=100)
        async with writer.running():
            rows = [ev.liquidation(f"liq-{i}", ts=ev.T0 + i) for i in range(10)]  # more than one batch
            await writer.put_many(rows, ["m1", "m2"])
            await writer.put_many([], [])  # nothing: nothing queued
            await _until(lambda: len(acked) == 2)

    asyncio.run(run())
    assert acked == ["m1", "m2"] and stored_at_ack == [10, 10]


class Counting:
    """The real store, counting rollup refreshes."""

    def __init__(self, store):
        self.store, self.refreshes = store, 0

    def insert_events(self, batch, stale=None):
        return self.store.insert_events(batch, stale)

    def refresh_rollups(self, stale):
        self.refreshes += 1
        return self.store.refresh_rollups(stale)


def test_rollups_are_refreshed_together_and_inputs_acknowledged_only_after(store, ev):
    counting = Counting(store)
    now = [0.0]
    acked: list[str] = []

    def rollup_rows() -> int:
        return store.query("SELECT sum(liquidations) FROM liquidations_1m")[1][0][0] or 0

    async def ack(token):
        acked.append((token, rollup_rows()))

    async def run():
        writer = BackgroundWriter(counting, ack=ack, batch_size=5, flush_interval_s=0.02, max_backlog=100,
                                  rollup_interval_s=10.0, clock=lambda: now[0])
        async with writer.running():
            for i in range(4):  # one minute, touched by every insert
                await writer.put_many([ev.liquidation(f"liq-{i}-{j}", ts=ev.T0 + 1000 * (3 * i + j)) for j in range(3)],
                                      [f"m{i}"])
            await _until(lambda: store.query("SELECT count() FROM liquidations")[1][0][0] == 12)
            await asyncio.sleep(0.1)  # several flushes: stored, not refreshed, nothing acknowledged
            assert acked == [] and counting.refreshes == 0 and rollup_rows() == 0
            now[0] = 10.0
            await _until(lambda: len(acked) == 4)

    asyncio.run(run())
    assert counting.refreshes == 1
    assert acked == [(f"m{i}", 12) for i in range(4)]  # in order, each once its minute was recomputed
