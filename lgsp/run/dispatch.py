"""The dispatcher of a worker's one consume loop: each record goes to the stage that owns its
topic family (``<platform>.inbound``, ``<platform>.deliver``, ``ledger``), whatever the run and the
topic generation (faust's ``transport/conductor.py`` is the model).

One consumer per worker reads every stage's partitions: fewer fetches to poll (the embedded broker
does not wake a waiting fetch, so each consumer polls) and bigger batches."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import ConsumerRecord

from lgsp.bus.consume_loop import Futures, Handler
from lgsp.bus.topics import TopicNames
from lgsp.errors import LifecycleError


@dataclass(frozen=True, slots=True)
class Route:
    stage: str
    """The stage's name in logs and dead letters: ``router:LGSP-H56``, ``recipient:VDXP``..."""
    handler: Handler


class Dispatcher:
    """Topic family → (stage, handler)."""

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}

    def add(self, topic: str, stage: str, handler: Handler) -> None:
        """Records of ``topic``'s family (every generation of it) go to ``handler``."""
        family = TopicNames.family(topic)
        if family in self._routes:
            raise LifecycleError(f"topic family {family} already goes to "
                                 f"{self._routes[family].stage}")
        self._routes[family] = Route(stage, handler)

    def reads(self, topic: str) -> bool:
        return TopicNames.family(topic) in self._routes

    @property
    def families(self) -> frozenset[str]:
        return frozenset(self._routes)

    def stage_of(self, record: ConsumerRecord[bytes, bytes]) -> str:
        return self._routes[TopicNames.family(record.topic)].stage

    async def __call__(self, record: ConsumerRecord[bytes, bytes], futures: Futures) -> None:
        await self._routes[TopicNames.family(record.topic)].handler(record, futures)
