"""Creating and deleting a run's topics (bounded waits; failures become ``BrokerError``)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
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


async def create_topics(broker: BrokerConfig, names: list[str]) -> None:
    client = await _admin(broker)
    try:
        async with asyncio.timeout(ADMIN_TIMEOUT_S):
            existing = set(await client.list_topics())
            new = [NewTopic(n, broker.partitions, broker.replication_factor)
                   for n in names if n not in existing]
            if new:
                with contextlib.suppress(TopicAlreadyExistsError):  # a concurrent creator won
                    await client.create_topics(new)
            for _ in range(100):  # wait until metadata shows them all
                if set(names) <= set(await client.list_topics()):
                    break
                await asyncio.sleep(0.05)
            else:
                raise BrokerError(f"topics {names} were not created on {broker.bootstrap}")
    except (TimeoutError, KafkaError) as exc:
        raise BrokerError(f"creating topics on {broker.bootstrap} failed: {exc!r}") from None
    finally:
        await client.close()
    log.info("topics_created", count=len(names))


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
    catches up with the log)."""
    consumer = AIOKafkaConsumer(**broker.consumer_kwargs(None))
    wanted = [TopicPartition(t, p) for t in topics for p in partitions]
    try:
        async with asyncio.timeout(ADMIN_TIMEOUT_S):
            await consumer.start()
            return dict(await consumer.end_offsets(wanted))
    except (TimeoutError, KafkaError) as exc:
        raise BrokerError(f"reading the end offsets of {topics} failed: {exc!r}") from None
    finally:
        await consumer.stop()
