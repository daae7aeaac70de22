"""The one broker fixture and shared helpers.

Broker sources, in order: ``LGSP_TEST_BOOTSTRAP`` (an external cluster) → testcontainers Kafka when
a Docker engine answers → the embedded Tansu broker. Nothing is skipped for lack of Docker.

A test that must cut its broker off (a network outage) starts one of its own with
``own_broker``: the embedded broker, or Apache Kafka through ``scripts/apache-kafka.sh`` when
``LGSP_TEST_OWN_BROKER=apache-kafka`` (CI's Apache Kafka tier sets it).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lgsp.broker.embedded import EmbeddedBroker

BROKER_START_TIMEOUT_S = 60
APACHE_KAFKA_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "apache-kafka.sh"

# the scenario checks shared with benchmarks/repeat_scenarios.py: failing asserts show their values
pytest.register_assert_rewrite("tests.e2e.scenarios")


def _docker_engine_answers() -> bool:
    if not (os.environ.get("DOCKER_HOST") or Path("/var/run/docker.sock").exists()):
        return False
    try:
        import docker
    except ImportError:
        return False
    client = None
    try:
        client = docker.from_env(timeout=3)
        client.ping()
    except Exception:  # noqa: BLE001 - any failure means "no engine here"
        return False
    finally:
        if client is not None:
            client.close()
    return True


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A Kafka bootstrap address for the whole session."""
    external = os.environ.get("LGSP_TEST_BOOTSTRAP")
    if external:
        yield external
        return
    if _docker_engine_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    broker = EmbeddedBroker()
    try:
        broker.start_sync(timeout_s=BROKER_START_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001
        pytest.exit(f"the embedded broker did not start: {exc}", returncode=3)
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@contextlib.contextmanager
def own_broker(*, advertised_port: int, state_dir: Path) -> Iterator[str]:
    """A broker for this test alone that advertises ``advertised_port`` (a proxy in front of it);
    yields the broker's own address. Apache Kafka when ``LGSP_TEST_OWN_BROKER=apache-kafka``
    (its data and log in ``state_dir``), else the embedded broker."""
    kind = os.environ.get("LGSP_TEST_OWN_BROKER", "embedded")
    if kind == "embedded":
        broker = EmbeddedBroker(advertised_port=advertised_port)
        broker.start_sync(timeout_s=BROKER_START_TIMEOUT_S)
        try:
            yield broker.bootstrap
        finally:
            broker.stop()
        return
    if kind != "apache-kafka":
        pytest.exit(f"LGSP_TEST_OWN_BROKER={kind!r}: expected embedded or apache-kafka",
                    returncode=3)
    env = {**os.environ, "LGSP_KAFKA_STATE": str(state_dir),
           "LGSP_KAFKA_ADVERTISED_PORT": str(advertised_port)}
    started = subprocess.run(["bash", str(APACHE_KAFKA_SCRIPT), "start"], env=env,
                             capture_output=True, text=True, timeout=BROKER_START_TIMEOUT_S + 60,
                             check=False)
    try:
        assert started.returncode == 0, f"Apache Kafka did not start: {started.stderr}"
        yield started.stdout.strip()
    finally:
        subprocess.run(["bash", str(APACHE_KAFKA_SCRIPT), "stop"], env=env, capture_output=True,
                       timeout=60, check=False)


@pytest.fixture(scope="session")
def pki_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A key cache shared by the session (RSA keys take ~0.1 s each to generate)."""
    env = os.environ.get("LGSP_PKI_CACHE")
    return Path(env) if env else tmp_path_factory.mktemp("pki-cache")


@pytest.fixture
def run_id() -> str:
    """A unique run id, so every test has its own topics and groups."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    """A leaked client's ResourceWarning lands on the test that leaked it."""
    yield
    gc.collect()


async def wait_for(condition: Callable[[], bool], *, timeout_s: float = 30.0,
                   what: str = "condition") -> None:
    """Poll ``condition`` every 20 ms; fail the test if it is not true within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.02)
