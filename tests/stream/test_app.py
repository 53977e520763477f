"""The agent's sending: a take's output is all confirmed by the broker before the take can be acknowledged."""

from __future__ import annotations

import asyncio

import pytest

from pipeline.stream.app import OUTPUT_TOPICS, send_outputs
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
