"""Workers handing partitions over, driven step by step (tests/stream/group_model.py): a rebalance in the
middle of the episode, a worker killed while its state is on the way to the broker. The alerts, after
deduplication by (alert_id, stage, revision), are the offline core's field for field, every cascade
sum included; and the two orders that used to lose an event (a take handled while partitions were
being given up, acknowledgements before the broker had the state) are shown to change the alerts."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from pipeline.config import Settings
from pipeline.contracts.models import dump_event
from pipeline.detect import CascadeDetector
from pipeline.replay import ReplayResult, load
from pipeline.scenarios import bundled
from pipeline.stream.handler import Handler
from pipeline.stream.takes import read_takes

from .drill_helpers import scenario
from .group_model import Broker, Worker, partition_of, run_group, unique_alerts
from .group_model import load as load_logs
from .handler_helpers import messages

S = Settings(partitions=2)
PARTS = 2


@pytest.fixture(scope="module")
def offline() -> dict[tuple, dict]:
    """The core over the scenario in event time, links delivered at once (what one worker gives)."""
    det = CascadeDetector(S.detector)
    return unique_alerts([orjson.loads(dump_event(a)) for e in load([bundled()], ReplayResult()) for a in det.feed(e)])


@pytest.fixture(scope="module")
def msgs():
    return messages(scenario(), S)


def new_broker(msgs) -> Broker:
    broker = Broker(S, PARTS)
    load_logs(broker, msgs)
    return broker


def part(asset: str) -> int:
    return partition_of(asset.encode(), PARTS)


def stage_seen(broker: Broker, asset: str, stage: str):
    return lambda *_: any(a["asset"] == asset and a["stage"] == stage for a in broker.alerts)


def differences(got: dict, offline: dict) -> dict:
    return {k: {f: (got.get(k, {}).get(f), a.get(f)) for f in a if got.get(k, {}).get(f) != a.get(f)}
            for k, a in offline.items() if got.get(k) != a} | {k: "extra" for k in got.keys() - offline.keys()}


def test_one_worker_gives_the_offline_alerts(msgs, offline):
    broker = new_broker(msgs)
    w = Worker(broker, "a")
    w.assign({0, 1})
    asyncio.run(w.run())
    assert part("BTC") != part("ETH")  # the drills below hand one asset over and keep the other
    assert unique_alerts(broker.alerts) == offline
    assert len(broker.alerts) == len(offline)
    assert all(broker.committed[tp] == len(log) for tp, log in broker.logs.items())


async def rebalance_mid_episode(broker: Broker, old_agent: bool = False) -> tuple[Worker, Worker, list]:
    """A holds both partitions until the BTC sell alert is out (the cascades are still to come); B joins:
    A gives up everything, a take arrives while the group is rebalancing, then A keeps ETH and B takes
    BTC. `old_agent`: the take is handled and acknowledged at once, its state left for a later save, as
    the agent did before."""
    a, b = Worker(broker, "a"), Worker(broker, "b")
    a.assign({0, 1})
    await a.run(until=stage_seen(broker, "BTC", "sell"))
    await a.takes.revoked()
    acks: list = []
    if old_agent:
        a.takes.paused = False
        a.checkpoint.hold = acks.append
    during = a.fetch()  # delivered while the group is rebalancing
    a.now += 1
    await a.takes.step()
    for ack in acks:
        await ack()
    handled_during = [] if a.takes.messages else during
    await a.takes.assigned()
    await b.takes.assigned()
    a.assign({part("ETH")})
    b.assign({part("BTC")})
    await run_group([a, b])
    return a, b, handled_during


def test_a_rebalance_mid_episode_loses_and_repeats_nothing(msgs, offline):
    broker = new_broker(msgs)
    a, b, handled_during = asyncio.run(rebalance_mid_episode(broker))
    assert handled_during == []  # nothing is handled between giving partitions up and the new assignment
    assert differences(unique_alerts(broker.alerts), offline) == {}
    assert len(broker.alerts) == len(offline)  # none published twice
    # each asset's later alerts came from its new owner, from the state the other one saved
    assert b.handler.detector.assets.keys() & {"BTC"} and "BTC" not in a.handler.detector.assets
    assert all(broker.committed[tp] == len(log) for tp, log in broker.logs.items())


def test_a_take_handled_during_the_rebalance_would_miss_from_the_sums(msgs, offline):
    """The order the agent allowed before: the take's events are acknowledged, then the cached state that
    holds them is dropped; the next event reloads the table without them."""
    broker = new_broker(msgs)
    _, _, handled_during = asyncio.run(rebalance_mid_episode(broker, old_agent=True))
    assert handled_during
    assert differences(unique_alerts(broker.alerts), offline)


async def kill_with_state_in_flight(broker: Broker, acknowledge_first: bool) -> Worker:
    """A holds both partitions; once the BTC sell alert is out the broker stops confirming state records,
    and A is killed at its next save that waits for one. B then takes everything over. With
    `acknowledge_first`, a save counts as done before the broker has the records (as when Faust's
    producer flush gave up and the commit went ahead)."""
    a = Worker(broker, "a")
    a.assign({0, 1})
    await a.run(until=stage_seen(broker, "BTC", "sell"))
    broker.auto_confirm = False
    if acknowledge_first:
        async def send(asset, partition, snap):
            broker.in_flight.append((asset, snap, asyncio.get_running_loop().create_future()))
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done

        a.checkpoint.send = send
        for _ in range(8):  # acknowledged takes, their states never reach the broker
            await a.step()
    else:
        for _ in range(20):  # takes until one waits for the broker to confirm the state it saves
            task = asyncio.create_task(a.step())
            for _ in range(10):
                await asyncio.sleep(0)
            if not task.done():
                break
        assert not task.done() and broker.in_flight  # its takes since the last save are not acknowledged
        task.cancel()
    broker.lose_in_flight()  # kill -9
    a.alive = False
    broker.auto_confirm = True
    b = Worker(broker, "b")
    b.assign({0, 1})
    await b.run()
    return b


def test_a_worker_killed_while_its_state_is_on_the_way_is_replaced(msgs, offline):
    broker = new_broker(msgs)
    asyncio.run(kill_with_state_in_flight(broker, acknowledge_first=False))
    assert differences(unique_alerts(broker.alerts), offline) == {}  # repeats allowed, field for field the same
    assert all(broker.committed[tp] == len(log) for tp, log in broker.logs.items())


def test_acknowledging_before_the_broker_has_the_state_loses_events(msgs, offline):
    broker = new_broker(msgs)
    asyncio.run(kill_with_state_in_flight(broker, acknowledge_first=True))
    assert differences(unique_alerts(broker.alerts), offline)


def test_records_skipped_after_an_assignment_are_reported(msgs, caplog):
    """A consumer that skips records of a partition after an assignment (as Faust did when it sought a
    partition in the middle of a fetched batch) is reported with the offsets skipped; reading again from
    the committed offsets after the next assignment (going back) is not."""
    broker = new_broker(msgs)
    w = Worker(broker, "a")
    w.assign({0, 1})
    tp = (S.topics.liquidations, part("BTC"))

    def reports() -> list[str]:
        return [r.getMessage() for r in caplog.records if "were not delivered" in r.getMessage()]

    async def go() -> int:
        await w.run(until=lambda w: w.position.get(tp, 0) >= 1)
        assert not reports()
        skip_from = w.position[tp]
        w.position[tp] += 3
        await w.run(until=lambda w: w.position[tp] > skip_from + 3)
        await w.takes.revoked()
        await w.takes.assigned()
        w.assign({0, 1})
        await w.run(until=lambda w: w.position[tp] > skip_from + 10)
        return skip_from

    with caplog.at_level("WARNING", logger="cascadewatch.stream"):
        skip_from = asyncio.run(go())
    assert reports() == [f"{tp[0]}[{tp[1]}]: offsets {skip_from}..{skip_from + 2} were not delivered since the "
                         "partition was assigned"]


def test_recorded_takes_replay_the_worker_offline(msgs, offline, tmp_path):
    """With `record` set every take is appended to a file: read back, the same messages in the same takes,
    with the clock the handler ran at, and handled again by a fresh handler they give the same alerts."""
    broker = new_broker(msgs)
    w = Worker(broker, "a")
    w.takes.record = str(tmp_path / "takes.jsonl")
    w.assign({0, 1})
    asyncio.run(w.run())
    takes = read_takes(w.takes.record)
    handled = [m for _, batch in takes for m in batch]
    assert len(takes) > 10 and {m.topic for m in handled} >= {S.topics.liquidations, S.topics.links}
    assert all(isinstance(m.value, bytes) and m.offset is not None for m in handled)
    clock = [0.0]
    again = Handler(S, store=False, clock=lambda: clock[0], snapshot_every_s=None)
    alerts = []
    for now, batch in takes:
        clock[0] = now
        alerts += [orjson.loads(v) for _, v in again.handle(batch).alerts]
    assert unique_alerts(alerts) == unique_alerts(broker.alerts) == offline
