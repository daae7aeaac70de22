"""Creating and deleting a run's topics (bounded waits; failures become ``BrokerError``).

Which topics exist is always asked with an *all-topics* metadata request: a request that names a
topic creates it, with the broker's default partition count, wherever automatic topic creation is
on — Apache Kafka's default (``auto.create.topics.enable=true``; aiokafka always asks for it) and
always on the embedded Tansu broker. A topic named too early (a rotated generation not created
yet) would be born with the wrong number of partitions; one named after its deletion would come
back.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from lgsp.config import BrokerConfig
from lgsp.errors import BrokerError

log = structlog.get_logger(__name__)
ADMIN_TIMEOUT_S = 30.0


async def _admin(broker: BrokerConfig) -> AIOKafkaAdminClient:
    client = AIOKafkaAdminClient(**broker.common_kwargs(), request_timeout_ms=10_000)
    try:
        async with asyncio.timeout(ADMIN_TIMEOUT_S):
            await client.start()
    except (KeyError, ValueError, AssertionError) as exc:  # aiokafka's SASL/SCRAM exchange
        await client.close()
        if not broker.security_protocol.startswith("SASL"):
            raise
        raise BrokerError(f"SASL {broker.sasl_mechanism} authentication with {broker.bootstrap} "
                          f"failed ({type(exc).__name__}: {exc}); check --sasl-username, "
                          "--sasl-password and --sasl-mechanism") from None
    except (TimeoutError, KafkaError, OSError) as exc:
        await client.close()
        if broker.security_protocol.startswith("SASL") and "Authentication" in repr(exc):
            raise BrokerError(f"SASL {broker.sasl_mechanism} authentication with "
                              f"{broker.bootstrap} failed: {exc}; check --sasl-username, "
                              "--sasl-password and --sasl-mechanism") from None
        problem = await asyncio.to_thread(tls_problem, broker)
        if problem is not None:
            raise BrokerError(f"TLS handshake with {broker.bootstrap} failed: {problem}; check "
                              "--ssl-cafile (the CA that signed the broker's certificate) and "
                              "--security-protocol") from None
        raise BrokerError(f"cannot reach Kafka at {broker.bootstrap}: {exc!r}; check --bootstrap "
                          "or omit it to use the embedded broker") from None
    return client


def tls_problem(broker: BrokerConfig, timeout_s: float = 5.0) -> str | None:
    """Why a TLS handshake with the first bootstrap server fails (certificate not trusted, not
    TLS at all...), or None if it succeeds or TLS is not in use: the Kafka client only says it
    could not connect."""
    context = broker.ssl_context()
    if context is None or not broker.bootstrap:
        return None
    host, _, port = broker.bootstrap.split(",")[0].strip().rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s) as raw, \
                context.wrap_socket(raw, server_hostname=host):
            return None
    except ssl.SSLCertVerificationError as exc:
        return f"the broker's certificate is not trusted ({exc.verify_message})"
    except ssl.SSLError as exc:
        return f"{exc.reason or exc}"
    except (OSError, ValueError):
        return None  # not a TLS problem: the caller's message applies


async def _partitions(client: AIOKafkaAdminClient) -> dict[str, dict[int, int]]:
    """Every topic on the cluster: its partitions and their leaders (-1: none yet), from an
    all-topics metadata request (one naming a topic could create it)."""
    return {t["topic"]: {p["partition"]: p["leader"] for p in t["partitions"]}
            for t in await client.describe_topics() if t["error_code"] == 0}


async def create_topics(broker: BrokerConfig, names: list[str]) -> None:
    """Create these topics with ``broker.partitions`` partitions each, and wait until every
    partition has a leader (Apache Kafka answers CreateTopics before it elects them: a
    producer's first batches would be refused with ``NotLeaderForPartitionError``).

    A topic that exists with fewer partitions was created by a client's metadata request
    before us (automatic creation, the broker's ``num.partitions``): it gets the missing ones."""
    client = await _admin(broker)
    try:
        async with asyncio.timeout(ADMIN_TIMEOUT_S):
            existing = await _partitions(client)
            new = [NewTopic(n, broker.partitions, broker.replication_factor)
                   for n in names if n not in existing]
            if new:
                with contextlib.suppress(TopicAlreadyExistsError):  # a concurrent creator won
                    await client.create_topics(new)
            short = {n: len(existing[n]) for n in names
                     if n in existing and len(existing[n]) < broker.partitions}
            if short:
                log.warning("auto_created_topics_widened", topics=short,
                            partitions=broker.partitions)
                await client.create_partitions(
                    {n: NewPartitions(broker.partitions) for n in short})
            for _ in range(200):  # wait until metadata shows them all, each partition led
                existing = await _partitions(client)
                if all(len(existing.get(n, ())) >= broker.partitions
                       and min(existing[n].values()) >= 0 for n in names):
                    break
                await asyncio.sleep(0.05)
            else:
                raise BrokerError(f"topics {names} were not created on {broker.bootstrap}")
    except (TimeoutError, KafkaError) as exc:
        raise BrokerError(f"creating topics on {broker.bootstrap} failed: {exc!r}") from None
    finally:
        await client.close()
    log.info("topics_created", count=len(names))


async def topic_partitions(broker: BrokerConfig, topics: list[str]) -> dict[str, list[int]]:
    """The partitions of those of ``topics`` that exist now (a missing one is left out, and not
    created by asking)."""
    client = await _admin(broker)
    try:
        async with asyncio.timeout(ADMIN_TIMEOUT_S):
            existing = await _partitions(client)
    except (TimeoutError, KafkaError) as exc:
        raise BrokerError(f"reading the topics of {broker.bootstrap} failed: {exc!r}") from None
    finally:
        await client.close()
    return {t: sorted(existing[t]) for t in topics if t in existing}


async def delete_topics(broker: BrokerConfig, names: list[str]) -> None:
    client = await _admin(broker)
    try:
        async with asyncio.timeout(ADMIN_TIMEOUT_S):
            await client.delete_topics(names)
    except (TimeoutError, KafkaError) as exc:
        log.warning("topic_delete_failed", error=repr(exc))
    finally:
        await client.close()


async def clean_up_topics(broker: BrokerConfig, names: list[str]) -> None:
    """End-of-run clean-up: like ``delete_topics``, but a broker that is gone by then is logged,
    not raised (it must not hide the run's own outcome or report)."""
    from lgsp.bus.reachability import reachable

    if not await reachable(str(broker.bootstrap)):  # gone: do not wait out the admin timeout
        log.warning("topics_not_deleted", count=len(names), error="the broker is unreachable")
        return
    try:
        await delete_topics(broker, names)
    except BrokerError as exc:
        log.warning("topics_not_deleted", count=len(names), error=str(exc))


async def end_offsets(broker: BrokerConfig, topics: list[str],
                      partitions: list[int]) -> dict[TopicPartition, int]:
    """The end offset of these partitions of ``topics`` now (where a reader that starts over
    catches up with the log). A topic that does not exist (a generation not created yet, or one
    deleted) is left out: asking for it would create it."""
    consumer = AIOKafkaConsumer(**broker.consumer_kwargs(None))
    try:
        async with asyncio.timeout(ADMIN_TIMEOUT_S):
            await consumer.start()
            existing = await consumer.topics()  # all topics: naming one could create it
            wanted = [TopicPartition(t, p) for t in topics if t in existing for p in partitions]
            return dict(await consumer.end_offsets(wanted)) if wanted else {}
    except (TimeoutError, KafkaError) as exc:
        raise BrokerError(f"reading the end offsets of {topics} failed: {exc!r}") from None
    finally:
        await consumer.stop()
