"""The agent's sending: a take's output is all confirmed by the broker before the take can go on; what the
broker refuses is sent again, never dropped."""

from __future__ import annotations

import asyncio
import base64

import orjson
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from pipeline.contracts.models import ContractError
from pipeline.stream.app import OUTPUT_TOPICS, send_outputs
from pipeline.stream.deadletter import FALLBACK_KEEP, dead_letter
from pipeline.stream.messages import Outputs


class Topic:
    """What send_outputs needs of a Faust topic: `send` buffers the record and gives the future of its
    acknowledgement, which the broker resolves later (here: the test, or `refuse` for the first sends)."""

    def __init__(self, refuse: list[BaseException] | None = None) -> None:
        self.sent: list[tuple[bytes | None, bytes, asyncio.Future]] = []
        self.refuse = list(refuse or [])

    async def send(self, key, value):
        fut = asyncio.get_running_loop().create_future()
        self.sent.append((key, value, fut))
        if self.refuse:
            fut.set_exception(self.refuse.pop(0))
        return fut


async def no_wait(_s: float) -> None:
    await asyncio.sleep(0)


def test_every_output_is_confirmed_before_the_take_goes_on():
    async def run():
        sends = {name: Topic() for name in OUTPUT_TOPICS}
        out = Outputs(alerts=[(b"BTC", b"a")], links=[(b"ETH", b"l")], late=[(b"BTC", b"x")], dead=[(None, b"d")])
        task = asyncio.create_task(send_outputs(sends, out))
        await asyncio.sleep(0)
        assert [[(k, v) for k, v, _ in sends[n].sent] for n in OUTPUT_TOPICS] == [
            [(b"BTC", b"a")], [(b"ETH", b"l")], [(b"BTC", b"x")], [(None, b"d")]]
        for name in ("alerts", "links", "late"):
            sends[name].sent[0][2].set_result(None)
        await asyncio.sleep(0.01)
        assert not task.done()  # the dead letter is not confirmed yet: its refused message's offset must not commit
        sends["deadletter"].sent[0][2].set_result(None)
        await asyncio.wait_for(task, 10)

    asyncio.run(run())


def test_a_send_the_broker_fails_is_sent_again_until_it_is_taken():
    """A broker away for a while (a delivery timeout): the take waits and goes on once it is back."""
    async def run():
        sends = {name: Topic() for name in OUTPUT_TOPICS}
        sends["alerts"].refuse = [KafkaTimeoutError(), KafkaTimeoutError()]
        waits = []

        async def wait(s):
            waits.append(s)
            await asyncio.sleep(0)

        task = asyncio.create_task(send_outputs(sends, Outputs(alerts=[(b"BTC", b"a")]), sleep=wait))
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(sends["alerts"].sent) == 3:
                break
        assert [v for _, v, _ in sends["alerts"].sent] == [b"a", b"a", b"a"] and waits == [0.5, 1.0]
        assert not task.done()
        sends["alerts"].sent[2][2].set_result(None)
        await asyncio.wait_for(task, 10)

    asyncio.run(run())


def test_a_dead_letter_the_topic_refuses_as_too_large_is_sent_again_cut_until_it_fits():
    """A dead-letter topic made by hand with the broker's default limit (about 1 MB) refuses a refused 1 MiB
    message written in base64; one with a smaller limit refuses even the first 512 KiB."""
    big = b"{" + b"x" * (FALLBACK_KEEP * 2)
    record = orjson.dumps(dead_letter(ContractError("oversize", "too big"), topic="t", partition=0, offset=5,
                                      key=b"BTC", value=big))

    async def run():
        sends = {name: Topic() for name in OUTPUT_TOPICS}
        sends["deadletter"].refuse = [MessageSizeTooLargeError(), MessageSizeTooLargeError()]
        task = asyncio.create_task(send_outputs(sends, Outputs(dead=[(b"BTC", record)]), sleep=no_wait))
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(sends["deadletter"].sent) == 3:
                break
        sent = sends["deadletter"].sent
        kept = [base64.b64decode(orjson.loads(v)["original_b64"]) for _, v, _ in sent]
        assert kept == [big, big[:FALLBACK_KEEP], b""]
        sent[2][2].set_result(None)
        await asyncio.wait_for(task, 10)
        doc = orjson.loads(sent[2][1])
        assert sent[2][0] == b"BTC" and doc["original_size"] == len(big) and doc["offset"] == 5

    asyncio.run(run())
