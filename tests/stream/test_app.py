"""The agent's sending: a take's output is all confirmed by the broker before the take can be acknowledged."""

from __future__ import annotations

import asyncio
import base64

import orjson
import pytest
from aiokafka.errors import MessageSizeTooLargeError

from pipeline.contracts.models import ContractError
from pipeline.stream.app import OUTPUT_TOPICS, send_outputs
from pipeline.stream.deadletter import FALLBACK_KEEP, dead_letter
from pipeline.stream.messages import Outputs


class Topic:
    """What send_outputs needs of a Faust topic: `send` buffers the record and gives the future of its
    acknowledgement, which the broker resolves later (here: `ack`)."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes, asyncio.Future]] = []

    async def send(self, key, value):
        fut = asyncio.get_running_loop().create_future()
        self.sent.append((key, value, fut))
        return fut


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


def test_a_send_the_broker_refuses_fails_the_take():
    async def run():
        sends = {name: Topic() for name in OUTPUT_TOPICS}
        task = asyncio.create_task(send_outputs(sends, Outputs(dead=[(None, b"d")])))
        await asyncio.sleep(0)
        sends["deadletter"].sent[0][2].set_exception(RuntimeError("MessageSizeTooLarge"))
        with pytest.raises(RuntimeError, match="MessageSizeTooLarge"):
            await asyncio.wait_for(task, 10)

    asyncio.run(run())


def test_a_dead_letter_the_topic_refuses_as_too_large_is_sent_again_cut():
    """A dead-letter topic made by hand with the broker's default limit (about 1 MB) refuses a refused 1 MiB
    message written in base64: the take must still go on, with what fits."""
    big = b"{" + b"x" * (FALLBACK_KEEP * 2)
    record = orjson.dumps(dead_letter(ContractError("oversize", "too big"), topic="t", partition=0, offset=5,
                                      key=b"BTC", value=big))

    async def run():
        sends = {name: Topic() for name in OUTPUT_TOPICS}
        task = asyncio.create_task(send_outputs(sends, Outputs(dead=[(b"BTC", record)])))
        await asyncio.sleep(0)
        sends["deadletter"].sent[0][2].set_exception(MessageSizeTooLargeError())
        for _ in range(100):  # until it is sent again
            await asyncio.sleep(0.01)
            if len(sends["deadletter"].sent) == 2:
                break
        key, again, fut = sends["deadletter"].sent[1]
        assert not task.done()  # waiting for the second send to be confirmed
        fut.set_result(None)
        await asyncio.wait_for(task, 10)
        doc = orjson.loads(again)
        assert key == b"BTC" and base64.b64decode(doc["original_b64"]) == big[:FALLBACK_KEEP]
        assert doc["original_size"] == len(big) and doc["offset"] == 5 and doc["reason"] == "oversize"

    asyncio.run(run())


def test_an_alert_the_topic_refuses_as_too_large_fails_the_take():
    async def run():
        sends = {name: Topic() for name in OUTPUT_TOPICS}
        task = asyncio.create_task(send_outputs(sends, Outputs(alerts=[(b"BTC", b"a")])))
        await asyncio.sleep(0)
        sends["alerts"].sent[0][2].set_exception(MessageSizeTooLargeError())
        with pytest.raises(MessageSizeTooLargeError):
            await asyncio.wait_for(task, 10)

    asyncio.run(run())
