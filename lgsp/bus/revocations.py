"""Certificate revocation over the bus: the run's CA publishes revoked serials on a topic, and
every verifier follows it for the whole run.

A record per revocation, on partition 0 (one order for everyone), JSON:
``{"serial": "<hex>", "revoked_at": "<ISO 8601 UTC>", "reason": "<RFC 5280 reason>"}``. A
verifier refuses any signature by a revoked certificate from the moment it read the entry
(``SignatureError(reason="revoked")``); entries it cannot read are logged and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import Iterable

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from lgsp.config import BrokerConfig
from lgsp.errors import BrokerError
from lgsp.signing.pki import CertificateDirectory

log = structlog.get_logger(__name__)

PARTITION = 0
POLL_MS = 200
STOP_TIMEOUT_S = 5.0


def revocation_record(serial: str, reason: str = "keyCompromise",
                      at: dt.datetime | None = None) -> bytes:
    return json.dumps({"serial": serial, "reason": reason,
                       "revoked_at": (at or dt.datetime.now(dt.UTC)).isoformat()}).encode()


async def publish_revocations(broker: BrokerConfig, topic: str, serials: Iterable[str],
                              reason: str = "keyCompromise") -> int:
    """The CA's side: publish these serials as revoked; returns how many were published."""
    producer = AIOKafkaProducer(**broker.producer_kwargs())
    try:
        async with asyncio.timeout(30):
            await producer.start()
            futures = [await producer.send(topic, revocation_record(s, reason),
                                           partition=PARTITION) for s in serials]
            await asyncio.gather(*futures)
    except (TimeoutError, KafkaError) as exc:
        raise BrokerError(f"publishing revocations on {topic} failed: {exc!r}") from None
    finally:
        await producer.stop()
    log.info("revocations_published", topic=topic, count=len(futures), reason=reason)
    return len(futures)


class RevocationFeed:
    """Follows the revocation topic from its start and applies each entry to ``directory``."""

    def __init__(self, broker: BrokerConfig, topic: str, directory: CertificateDirectory) -> None:
        self.broker = broker
        self.topic = topic
        self.directory = directory
        self.applied = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(**self.broker.consumer_kwargs(None))
        await consumer.start()
        tp = TopicPartition(self.topic, PARTITION)
        consumer.assign([tp])
        consumer.seek(tp, 0)  # every revocation since the run began (not ListOffsets' view)
        self._consumer = consumer
        self._task = asyncio.create_task(self._follow(consumer), name="revocation feed")

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=POLL_MS)
            for records in batch.values():
                for record in records:
                    self._apply(record.value)

    def _apply(self, value: bytes | None) -> None:
        try:
            entry = json.loads(value or b"")
            serial = str(entry["serial"]).lower()
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("revocation_unreadable", topic=self.topic, error=repr(exc))
            return
        if serial not in self.directory.revoked:
            self.directory.revoke(serial)
            self.applied += 1
            log.info("certificate_revoked", serial=serial, reason=entry.get("reason"))

    async def wait_for(self, serials: Iterable[str], timeout_s: float = 30.0) -> None:
        """Until every one of ``serials`` is applied (the run must not start before)."""
        wanted = {s.lower() for s in serials}
        deadline = time.monotonic() + timeout_s
        while not wanted <= self.directory.revoked:
            if self._task is not None and self._task.done():
                self._task.result()  # the feed failed: say why
            if time.monotonic() > deadline:
                missing = len(wanted - self.directory.revoked)
                raise BrokerError(f"{missing} revocation(s) did not arrive on {self.topic} "
                                  f"within {timeout_s:.0f} s")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, KafkaError):
                await self._task
        if self._consumer is not None:
            try:  # a consumer of a vanished broker would wait out its request timeouts
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await self._consumer.stop()
            except TimeoutError:
                log.warning("revocation_feed_stop_timed_out", timeout_s=STOP_TIMEOUT_S)
