"""The one broker-and-topics setup of a run: the embedded broker when no bootstrap is given, the
run's topics, and their deletion at the end on a user's cluster (not with ``keep_topics``)."""

from __future__ import annotations

import contextlib

from lgsp.broker.embedded import EmbeddedBroker
from lgsp.bus.admin import clean_up_topics, create_topics
from lgsp.config import BrokerConfig


async def open_bus(stack: contextlib.AsyncExitStack, broker: BrokerConfig, topics: list[str], *,
                   clean_up: bool) -> BrokerConfig:
    """Start the embedded broker on ``stack`` if ``broker`` has no bootstrap, create ``topics``
    and, with ``clean_up`` on a user's cluster, delete them when ``stack`` unwinds. Returns the
    broker config with its bootstrap."""
    external = broker.bootstrap is not None
    if not external:
        embedded = await stack.enter_async_context(EmbeddedBroker())
        broker = broker.with_bootstrap(embedded.bootstrap)
    await create_topics(broker, topics)
    if clean_up and external:
        stack.push_async_callback(clean_up_topics, broker, topics)
    return broker
