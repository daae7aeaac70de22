"""A barrier between the hosts that run parts of one load, through a control topic.

Hosts share nothing but the Kafka cluster, so they meet there: each host appends
``{"host": i, "phase": name}`` to ``lgsp.<run>.control`` and reads the topic from the beginning
until every host has reached the phase. A phase may carry a payload (sent in chunks): at ``pki``
each host hands over its CA and certificates, so every host's verifiers trust the others'
signers. ``ready``: every host's consumers are in place before anyone sends. ``settled``: a host
keeps routing and receiving for the others until every host's documents have settled.
"""

from __future__ import annotations

import json
import time
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from lgsp.config import BrokerConfig
from lgsp.errors import BrokerError

log = structlog.get_logger(__name__)

CHUNK_CHARS = 400_000
"""Payload characters per control record (well under the 1 MiB default message size)."""


class HostBarrier:
    def __init__(self, broker: BrokerConfig, topic: str, *, host: int, hosts: int) -> None:
        self.broker = broker
        self.topic = topic
        self.host = host
        self.hosts = hosts
        self._parts: dict[tuple[str, int], dict[int, str]] = {}
        self._expected: dict[tuple[str, int], int] = {}

    def _complete(self, phase: str) -> set[int]:
        return {host for (p, host), parts in self._parts.items()
                if p == phase and len(parts) == self._expected[(p, host)]}

    async def arrive(self, phase: str, *, timeout_s: float,
                     payload: Any = None) -> dict[int, Any]:
        """Announce ``phase`` (with a JSON ``payload``) and wait until all hosts announced it;
        return every host's payload by host index (BrokerError on timeout)."""
        if self.hosts == 1:
            return {self.host: payload}
        text = json.dumps(payload)
        chunks = [text[i:i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [""]
        producer = AIOKafkaProducer(**self.broker.producer_kwargs())
        await producer.start()
        try:
            for part, chunk in enumerate(chunks):
                await producer.send_and_wait(self.topic, json.dumps(
                    {"host": self.host, "phase": phase, "part": part, "parts": len(chunks),
                     "data": chunk}).encode(), partition=0)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(**self.broker.consumer_kwargs(None))
        await consumer.start()
        try:
            consumer.assign([TopicPartition(self.topic, 0)])
            await consumer.seek_to_beginning()
            deadline = time.monotonic() + timeout_s
            while len(self._complete(phase)) < self.hosts:
                if time.monotonic() > deadline:
                    missing = sorted(set(range(self.hosts)) - self._complete(phase))
                    raise BrokerError(f"hosts {[m + 1 for m in missing]} did not reach "
                                      f"'{phase}' within {timeout_s:.0f} s")
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for record in records:
                        self._note(record.value)
        finally:
            await consumer.stop()
        log.info("hosts_met", phase=phase, hosts=self.hosts)
        return {host: json.loads("".join(parts[i] for i in range(len(parts))))
                for (p, host), parts in self._parts.items() if p == phase}

    def _note(self, value: bytes | None) -> None:
        try:
            message = json.loads(value or b"")
            key = (str(message["phase"]), int(message["host"]))
            self._expected[key] = int(message["parts"])
            self._parts.setdefault(key, {})[int(message["part"])] = str(message["data"])
        except (ValueError, KeyError, TypeError):
            log.warning("control_record_ignored", value=repr(value)[:80])
