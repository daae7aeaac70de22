"""SASL options reach aiokafka, and a failed authentication is one clear error.

A successful SCRAM login cannot be shown on the embedded broker: this Tansu build creates users
only through a broker that does not require authentication, and its memory storage starts empty
on every start. What is checked: the options become aiokafka's, the client really authenticates
(a broker requiring SASL refuses wrong credentials), and that refusal is named, not a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from lgsp.broker.embedded import EmbeddedBroker
from lgsp.bus.admin import create_topics
from lgsp.config import BrokerConfig
from lgsp.errors import BrokerError, ConfigError
from tests.cli.test_cli import run as run_cli

pytestmark = pytest.mark.e2e


async def test_sasl_options_become_aiokafka_settings():
    broker = BrokerConfig(bootstrap="kafka:9093", security_protocol="SASL_SSL",
                          sasl_mechanism="SCRAM-SHA-512", sasl_username="lgsp",
                          sasl_password="s3cret")  # noqa: S106 - a test value
    kwargs = broker.common_kwargs()
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert (kwargs["sasl_mechanism"], kwargs["sasl_plain_username"],
            kwargs["sasl_plain_password"]) == ("SCRAM-SHA-512", "lgsp", "s3cret")
    assert kwargs["ssl_context"] is not None
    # aiokafka accepts them as they are (it validates protocol/mechanism at construction)
    producer = AIOKafkaProducer(**broker.producer_kwargs())
    consumer = AIOKafkaConsumer(**broker.consumer_kwargs("g"))
    await producer.stop()
    await consumer.stop()


def test_sasl_without_credentials_is_a_config_error():
    with pytest.raises(ConfigError, match="--sasl-username"):
        BrokerConfig(bootstrap="kafka:9093", security_protocol="SASL_PLAINTEXT",
                     sasl_mechanism="PLAIN")


@pytest.fixture(scope="module")
def auth_broker() -> Iterator[str]:
    broker = EmbeddedBroker(authentication=True)
    broker.start_sync()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


def test_wrong_scram_credentials_are_refused_clearly(auth_broker):
    broker = BrokerConfig(bootstrap=auth_broker, security_protocol="SASL_PLAINTEXT",
                          sasl_mechanism="SCRAM-SHA-256", sasl_username="nobody",
                          sasl_password="wrong")  # noqa: S106 - a test value
    with pytest.raises(BrokerError, match=r"SASL SCRAM-SHA-256 authentication with .* failed"):
        asyncio.run(create_topics(broker, ["x"]))


def test_the_cli_says_so_in_one_line_and_exits_4(auth_broker, pki_cache):
    result = run_cli(["simulate", "--bootstrap", auth_broker, "--documents", "5",
                      "--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanism",
                      "SCRAM-SHA-512", "--sasl-username", "nobody", "--sasl-password", "wrong",
                      "--pki-cache", str(pki_cache), "--no-progress"], timeout=120)
    assert result.returncode == 4, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SASL SCRAM-SHA-512 authentication" in lines[0]
    assert "--sasl-password" in lines[0]
