"""The coordinator ↔ worker pipe carries a message of any size, on asyncio's loop and on uvloop's.

uvloop's ``add_reader`` makes the descriptor non-blocking; ``multiprocessing.Connection`` then
sent a message larger than the socket's buffer in part (the error swallowed) and read one in part:
at the end of 30-minute runs the coordinator took a live worker for dead ("worker all 1/2 died
(exit code None)") and the run's report lost every figure.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections.abc import Callable
from typing import Any

import pytest

from lgsp.metrics.run import RunMetrics
from lgsp.metrics.state import to_state
from lgsp.run import event_loop
from lgsp.run.protocol import Eof, PipeChannel, Result

BIG = 8 * 1024 * 1024
"""Far larger than a socket pair's buffer."""


def big_result() -> Result:
    return Result(to_state(RunMetrics()), {"padding": "x" * BIG})


def loops() -> list[Any]:
    factories: list[Any] = [pytest.param(None, id="asyncio")]
    factory = event_loop.loop_factory()
    if factory is not None:
        factories.append(pytest.param(factory, id="uvloop"))
    return factories


def run_on(factory: Callable[[], asyncio.AbstractEventLoop] | None, main: Any) -> Any:
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


@pytest.mark.parametrize("factory", loops())
def test_a_message_larger_than_the_buffer_is_sent_whole_from_a_reading_channel(factory):
    mine, theirs = multiprocessing.Pipe()
    channel = PipeChannel(mine)
    received: list[Any] = []
    reader = threading.Thread(target=lambda: received.append(theirs.recv()), daemon=True)

    async def main() -> None:
        channel.attach()  # as a worker does before it sends its Result
        reader.start()
        channel.send(big_result())
        await asyncio.to_thread(reader.join, 30)
        channel.detach()

    run_on(factory, main())
    assert received, "the other end never got the message"
    assert len(received[0].facts["padding"]) == BIG


@pytest.mark.parametrize("factory", loops())
def test_a_message_larger_than_the_buffer_is_received_whole(factory):
    mine, theirs = multiprocessing.Pipe()
    channel = PipeChannel(mine)
    writer = threading.Thread(target=lambda: theirs.send(big_result()), daemon=True)

    async def main() -> Any:
        channel.attach()
        writer.start()
        async with asyncio.timeout(30):
            message = await channel.receive()
        channel.detach()
        return message

    message = run_on(factory, main())
    assert not isinstance(message, Eof), "a live peer was taken for gone"
    assert len(message.facts["padding"]) == BIG
