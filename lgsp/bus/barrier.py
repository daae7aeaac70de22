"""A barrier between the hosts that run parts of one load, through a control topic.

Hosts share nothing but the Kafka cluster, so they meet there: each host appends
``{"host": i, "phase": name}`` to ``lgsp.<run>.control`` and reads the topic from the beginning
until every host has reached the phase. Two phases matter: ``ready`` (every host's consumers are
in place before anyone sends) and ``settled`` (a host keeps routing and receiving for the others
until every host's documents have settled).
"""

from __future__ import annotations

import json
import time

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from lgsp.config import BrokerConfig
from lgsp.errors import BrokerError

log = structlog.get_logger(__name__)


class HostBarrier:
    def __init__(self, broker: BrokerConfig, topic: str, *, host: int, hosts: int) -> None:
        self.broker = broker
        self.topic = topic
        self.host = host
        self.hosts = hosts
        self._seen: dict[str, set[int]] = {}

    async def arrive(self, phase: str, *, timeout_s: float) -> None:
        """Announce ``phase`` and wait until all hosts announced it (BrokerError on timeout)."""
        if self.hosts == 1:
            return
        producer = AIOKafkaProducer(**self.broker.producer_kwargs())
        await producer.start()
        try:
            await producer.send_and_wait(self.topic, json.dumps(
                {"host": self.host, "phase": phase}).encode(), partition=0)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(**self.broker.consumer_kwargs(None))
        await consumer.start()
        try:
            consumer.assign([TopicPartition(self.topic, 0)])
            await consumer.seek_to_beginning()
            deadline = time.monotonic() + timeout_s
            while len(self._seen.get(phase, ())) < self.hosts:
                if time.monotonic() > deadline:
                    missing = sorted(set(range(self.hosts)) - self._seen.get(phase, set()))
                    raise BrokerError(f"hosts {[m + 1 for m in missing]} did not reach "
                                      f"'{phase}' within {timeout_s:.0f} s")
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for record in records:
                        self._note(record.value)
        finally:
            await consumer.stop()
        log.info("hosts_met", phase=phase, hosts=self.hosts)

    def _note(self, value: bytes | None) -> None:
        try:
            message = json.loads(value or b"")
            self._seen.setdefault(str(message["phase"]), set()).add(int(message["host"]))
        except (ValueError, KeyError, TypeError):
            log.warning("control_record_ignored", value=repr(value)[:80])
