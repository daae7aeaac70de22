"""Reading what outside routers read and write (``--external platform=…``/``vdxp``), all run.

One consumer (no group, every partition from offset 0, holes read again: ``lgsp.bus.holes``)
follows the inbound topic of each external platform and the topics its router writes to, and
hands every record to that platform's audit (``consumers.platform_audit``), which pairs what the
router wrote with what it read as they come. ``finish()`` reads on until nothing new came for a
second, then the audits grade what is left; their metrics merge into the run's report.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from consumers.platform_audit import PlatformAudit
from lgsp.bus.admin import topic_partitions
from lgsp.bus.holes import HoleGuard
from lgsp.codec.events import EventCodec
from lgsp.config import BrokerConfig
from lgsp.errors import BrokerError
from lgsp.metrics.run import RunMetrics
from lgsp.metrics.state import merge
from lgsp.run.plan import RunPlan

log = structlog.get_logger(__name__)

QUIET_S = 1.0
"""Asked to finish, the watch stops once nothing new came for this long."""
FINISH_TIMEOUT_S = 60.0
POLL_MS = 100


class PlatformWatch:
    """Follows the external platforms' topics from ``start()`` to ``finish()``."""

    def __init__(self, plan: RunPlan, broker: BrokerConfig, events: EventCodec) -> None:
        self.broker = broker
        self.audits = [PlatformAudit(platform, plan.topology, plan.topics, events,
                                     lenient=plan.config.lenient_lgsp)
                       for platform in plan.config.external.platforms]
        self._stop = asyncio.Event()
        self._task: asyncio.Task[int] | None = None
        self.records = 0

    @property
    def topics(self) -> list[str]:
        return sorted({t for audit in self.audits for t in audit.topics_read})

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="platform watch")

    def measure_from(self, at_ms: float) -> None:
        """The hop latency of records read from ``at_ms`` on is measured (after the warm-up)."""
        for audit in self.audits:
            audit.measure_from(at_ms)

    async def finish(self) -> RunMetrics:
        """Read what is left, then grade: the metrics of every external platform."""
        self._stop.set()
        if self._task is not None:
            async with asyncio.timeout(FINISH_TIMEOUT_S):
                self.records = await self._task
        metrics = merge([audit.finish() for audit in self.audits])
        log.info("external_platforms_graded", records=self.records,
                 platforms=[a.platform for a in self.audits])
        return metrics

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _follow(self) -> int:
        consumer = AIOKafkaConsumer(**{**self.broker.consumer_kwargs(None), "group_id": None,
                                       "auto_offset_reset": "earliest"})
        await consumer.start()
        try:
            return await self._read(consumer)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _read(self, consumer: AIOKafkaConsumer) -> int:
        existing = await topic_partitions(self.broker, self.topics)
        missing = [t for t in self.topics if not existing.get(t)]
        if missing:
            raise BrokerError(f"the external platforms' topics {missing} do not exist on "
                              f"{self.broker.bootstrap}")
        partitions = [TopicPartition(t, p) for t in self.topics for p in existing[t]]
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, 0)  # the run's own topics: read them whole
        position: dict[TopicPartition, int] = dict.fromkeys(partitions, 0)
        guard = HoleGuard(lambda: consumer, "platform watch")
        count = 0
        quiet_since = time.monotonic()
        while not (self._stop.is_set() and time.monotonic() - quiet_since > QUIET_S):
            batch = guard.take(await consumer.getmany(timeout_ms=POLL_MS, max_records=2000),
                               position.get)
            if not batch:
                continue
            quiet_since = time.monotonic()
            for tp, records in batch.items():
                for record in records:
                    for audit in self.audits:
                        audit.see(record.topic, record.key, record.value, record.headers,
                                  record.timestamp)
                    position[tp] = record.offset + 1
                    count += 1
        return count
