"""Topic rotation on a clock every worker shares: which generations exist, are read, are dropped.

Generation ``g`` takes the documents sent in ``[g·period, (g+1)·period)`` from the schedule start
(the actual time: a sender behind its schedule must not write into a generation that is over).
Its topics are created two periods ahead and readers pick them up one period ahead, so nobody
asks the broker for a topic that does not exist yet (the embedded broker creates topics on
metadata requests). A generation is read until ``keep_s`` after its period ended (the ack
timeout plus a margin: by then every lifecycle of its documents has ended or been declared lost)
and deleted a few seconds later, so the broker holds about ``(period + keep) / period``
generations at any time. Every worker computes the same answers from the same schedule start; no
messages are needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import structlog

from lgsp.bus.admin import clean_up_topics, create_topics, delete_topics
from lgsp.bus.topics import TopicNames
from lgsp.config import BrokerConfig
from lgsp.errors import ConfigError

log = structlog.get_logger(__name__)

AHEAD = 2
"""Generations are created this many periods before their documents (readers: one before)."""
DELETE_MARGIN_S = 5.0
"""Deleted this long after readers let go of a generation."""


@dataclass(frozen=True, slots=True)
class Rotation:
    period_s: float
    keep_s: float
    """How long after its period a generation is still read."""

    def __post_init__(self) -> None:
        if self.period_s <= 0 or self.keep_s < 0:
            raise ConfigError("--rotate-topics must be > 0 seconds")

    def generation_at(self, offset_ns: int) -> int:
        """The generation of a document sent ``offset_ns`` after the schedule start."""
        return max(offset_ns, 0) // int(self.period_s * 1e9)

    def read(self, offset_ns: int) -> range:
        """Generations a reader must hold at ``offset_ns``: from the oldest not yet over to the
        next one (so the first records of a new period find their readers in place)."""
        now_s = offset_ns / 1e9
        oldest = max(math.floor((now_s - self.keep_s) / self.period_s), 0)
        return range(oldest, self.generation_at(offset_ns) + 2)

    def create_by(self, generation: int) -> float:
        """Offset (s) by which ``generation``'s topics must exist: two periods ahead."""
        return max((generation - AHEAD) * self.period_s, 0.0)

    def delete_at(self, generation: int) -> float:
        """Offset (s) from which ``generation``'s topics may be deleted."""
        return (generation + 1) * self.period_s + self.keep_s + DELETE_MARGIN_S


class TopicRotator:
    """The coordinator's side: create generations ahead, delete them once over."""

    def __init__(self, rotation: Rotation, topics: TopicNames, platforms: list[str],
                 broker: BrokerConfig) -> None:
        self.rotation = rotation
        self.topics = topics
        self.platforms = platforms
        self.broker = broker
        self.created = -1
        self.deleted = -1

    async def prepare(self) -> None:
        """Before the schedule starts: generations 0, 1 and 2."""
        await self._create_through(AHEAD)

    async def tick(self, offset_ns: int, *, held_from: int | None = None) -> None:
        """Create what is due ahead; delete what is over by the clock and no longer held:
        ``held_from`` is the oldest generation a reader still needs (one that lags, or a
        lifecycle not over) — a generation is never deleted under a reader."""
        offset_s = offset_ns / 1e9
        due = self.created + 1
        while self.rotation.create_by(due) <= offset_s:  # a late tick catches up
            await self._create_through(due)
            due = self.created + 1
        while self.deleted + 1 <= self.created and \
                (held_from is None or self.deleted + 1 < held_from) and \
                self.rotation.delete_at(self.deleted + 1) <= offset_s:
            generation = self.deleted + 1
            await delete_topics(self.broker, self.topics.generation(self.platforms, generation))
            self.deleted = generation
            log.info("topic_generation_deleted", generation=generation)

    async def _create_through(self, generation: int) -> None:
        for g in range(self.created + 1, generation + 1):
            await create_topics(self.broker, self.topics.generation(self.platforms, g))
            self.created = g
            log.info("topic_generation_created", generation=g)

    async def delete_remaining(self) -> None:
        """End of run: drop what is left (a broker gone by then is logged, not raised)."""
        for generation in range(self.deleted + 1, self.created + 1):
            await clean_up_topics(self.broker, self.topics.generation(self.platforms, generation))
        self.deleted = self.created
