"""The composition of a run: broker → topics → consumers → routers → producers.

``Simulation`` is the one place that wires ``producers/`` and ``consumers/`` to the bus. One
``AsyncExitStack`` owns everything, so unwinding (success, error, Ctrl-C) stops producers first,
then routers and consumers drain, and the embedded broker is stopped last.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer

from consumers.recipient import RecipientAgents
from consumers.recorder import Recorder
from consumers.tracker import DeliveryTracker
from lgsp.broker.embedded import EmbeddedBroker
from lgsp.bus.admin import create_topics, delete_topics
from lgsp.bus.consume_loop import DeadLetters
from lgsp.bus.router import PlatformRouter
from lgsp.bus.topics import TopicNames
from lgsp.codec.avro import AvroCodec
from lgsp.codec.events import EventCodec
from lgsp.codec.registry import FileSchemaRegistry, SchemaRegistry
from lgsp.codec.rest_registry import RestSchemaRegistry
from lgsp.config import BrokerConfig, RecipientConfig
from lgsp.domain.topology import Topology
from lgsp.errors import BrokerError, ConfigError, LifecycleError
from lgsp.metrics.report import build_report
from lgsp.metrics.run import RunMetrics
from lgsp.profiles import load_topology, load_traffic
from lgsp.signing.keys import SignatureAlgorithm
from lgsp.signing.pki import Pki
from lgsp.signing.signature import SignatureVerifier
from producers.scheduler import OpenLoopScheduler
from producers.sender import AgencySender
from producers.traffic import Draft, TrafficModel

log = structlog.get_logger(__name__)

DEFAULT_PROFILES = ("thanh-hoa", "hai-duong")
Progress = Callable[[str, dict[str, Any]], None]


@dataclass(kw_only=True, frozen=True, slots=True)
class SimulationConfig:
    """What to simulate. Defaults are the README's one-minute run."""

    profiles: tuple[str, ...] = DEFAULT_PROFILES
    documents: int = 500
    rate: float = 20.0
    """Documents per second (open loop)."""
    fan_out_mean: float | None = None
    """Mean recipients per document; None = the traffic profile's (2.9)."""
    signature_algorithm: SignatureAlgorithm = SignatureAlgorithm.RSA2048
    seed: int = 1
    ack_timeout_s: float = 30.0
    """A delivery with no 01 this long after its intended send time is lost."""
    settle_timeout_s: float = 60.0
    """After the last send, how long to wait for every lifecycle to finish."""
    recipient: RecipientConfig = field(default_factory=RecipientConfig)
    lenient_lgsp: bool = False
    run_id: str | None = None
    pki_cache: Path | None = None
    traffic_profile: str = "traffic"
    keep_topics: bool = False
    record_path: Path | None = None
    """Record every topic of the run into this capture file."""
    registry_url: str | None = None
    """A Confluent-compatible Schema Registry to take schemas from instead of the files."""
    document_versions: tuple[int, ...] = ()
    """Document schema versions the agencies write (spread by agency); () = the latest."""

    def __post_init__(self) -> None:
        if self.documents < 0:
            raise ConfigError("--documents must be >= 0")
        if self.rate <= 0:
            raise ConfigError("--rate must be > 0 documents per second")
        if self.ack_timeout_s <= 0 or self.settle_timeout_s <= 0:
            raise ConfigError("--ack-timeout and --settle-timeout must be > 0 seconds")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["signature_algorithm"] = self.signature_algorithm.value
        data["recipient"]["signature_policy"] = self.recipient.signature_policy.value
        data["pki_cache"] = str(self.pki_cache) if self.pki_cache else None
        data["record_path"] = str(self.record_path) if self.record_path else None
        data["profiles"] = list(self.profiles)
        data["document_versions"] = list(self.document_versions)
        return data


class Simulation:
    """A whole bus in one process: senders, one router per platform, recipient agents, tracker."""

    def __init__(self, config: SimulationConfig, broker: BrokerConfig,
                 progress: Progress | None = None) -> None:
        self.config = config
        self.broker = broker
        self.progress = progress or (lambda _event, _data: None)
        self.run_id = config.run_id or f"run-{secrets.token_hex(4)}"
        self.topics = TopicNames(self.run_id)
        self.topology: Topology = load_topology(list(config.profiles))
        self.traffic = TrafficModel(self.topology, load_traffic(config.traffic_profile),
                                    seed=config.seed, fan_out_mean=config.fan_out_mean)
        self.metrics = RunMetrics()
        self.events = EventCodec(AvroCodec(self._registry(config.registry_url)))
        self.tracker = DeliveryTracker(self.topology, self.metrics,
                                       ack_timeout_s=config.ack_timeout_s)
        self.pki: Pki | None = None
        self.sender: AgencySender | None = None
        self.producer: AIOKafkaProducer | None = None
        self.agents: dict[str, RecipientAgents] = {}
        self.routers: dict[str, PlatformRouter] = {}
        self._stack = contextlib.AsyncExitStack()
        self._started = False
        self._stopped = False
        self.started_at: dt.datetime | None = None
        self.recorded: int | None = None
        self.bootstrap_source = "external" if broker.bootstrap else "embedded"

    @staticmethod
    def _registry(url: str | None) -> SchemaRegistry:
        if url is None:
            return FileSchemaRegistry()
        registry = RestSchemaRegistry(url)
        registry.preload()  # fetch every schema now, never on the consume path
        return registry

    # ---- lifecycle ---------------------------------------------------------------------------
    async def start(self, drafts: list[Draft] | None = None) -> None:
        """Start the broker (if embedded), topics, consumers and routers, and prepare the keys of
        the senders in ``drafts``."""
        if self._stopped:
            raise LifecycleError(f"simulation {self.run_id} is stopped; create a new one")
        if self._started:
            raise LifecycleError(f"simulation {self.run_id} is already started")
        self._started = True
        self.started_at = dt.datetime.now(dt.UTC)
        try:
            await self._start(drafts or [])
        except BaseException:
            await self._stack.aclose()
            raise

    async def _start(self, drafts: list[Draft]) -> None:
        if self.broker.bootstrap is None:
            embedded = await self._stack.enter_async_context(EmbeddedBroker())
            self.broker = self.broker.with_bootstrap(embedded.bootstrap)
        senders = sorted({d.sender for d in drafts})
        self.progress("pki", {"agencies": len(senders)})
        self.pki = await asyncio.to_thread(self._make_pki, senders)
        verifier = SignatureVerifier(self.pki.directory)
        platforms = self.topology.platforms
        names = self.topics.all_for(platforms)
        await create_topics(self.broker, names)
        if not self.config.keep_topics and self.bootstrap_source == "external":
            self._stack.push_async_callback(delete_topics, self.broker, names)
        self.producer = AIOKafkaProducer(**self.broker.producer_kwargs())
        await self.producer.start()
        self._stack.push_async_callback(self.producer.stop)
        dead_letters = DeadLetters(self.producer, self.topics.dead_letter, self.events,
                                   self.metrics)
        common = {"topology": self.topology, "topics": self.topics, "broker": self.broker,
                  "producer": self.producer, "events": self.events, "metrics": self.metrics,
                  "dead_letters": dead_letters}
        for platform in platforms:
            self.agents[platform] = RecipientAgents(
                platform, verifier=verifier, on_status=self.tracker.on_status,
                config=self.config.recipient, **common)  # type: ignore[arg-type]
            self.routers[platform] = PlatformRouter(
                platform, lenient=self.config.lenient_lgsp, **common)  # type: ignore[arg-type]
        # Consumers start concurrently: each group join takes seconds on the broker side.
        components = [*self.agents.values(), *self.routers.values()]
        results = await asyncio.gather(*(c.start() for c in components), return_exceptions=True)
        for component, result in zip(components, results, strict=True):
            if not isinstance(result, BaseException):
                self._stack.push_async_callback(component.stop)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        self.sender = AgencySender(topology=self.topology, pki=self.pki, events=self.events,
                                   producer=self.producer, topics=self.topics,
                                   metrics=self.metrics, expect=self.tracker.expect,
                                   on_send_failed=self.tracker.send_failed,
                                   document_versions=self.config.document_versions)
        # Issue every sender's certificates now, so sign cost measures signing, not issuance.
        sender = self.sender
        await asyncio.to_thread(lambda: [sender.credentials(code) for code in senders])
        log.info("simulation_started", run_id=self.run_id, bootstrap=self.broker.bootstrap,
                 platforms=platforms, agencies=len(self.topology.agencies))

    def _make_pki(self, senders: list[str]) -> Pki:
        pki = Pki(self.config.signature_algorithm, cache_dir=self.config.pki_cache)
        generated = pki.prepare(senders)
        log.info("pki_ready", algorithm=pki.algorithm.value, agencies=len(senders),
                 keys_generated=generated)
        return pki

    async def stop(self) -> None:
        """Stop routers and consumers (draining), the producer, then the embedded broker."""
        if self._stopped:
            return
        self._stopped = True
        await self._stack.aclose()

    async def __aenter__(self) -> Simulation:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- running ----------------------------------------------------------------------------
    async def send_load(self, drafts: list[Draft]) -> OpenLoopScheduler:
        if self.sender is None:
            raise LifecycleError(f"simulation {self.run_id} is not started")
        sender = self.sender
        scheduler = OpenLoopScheduler(rate=self.config.rate, count=len(drafts),
                                      lag=self.metrics.schedule_lag)

        next_sweep = time.monotonic()

        async def submit(i: int, intended_ns: int) -> asyncio.Future[Any]:
            nonlocal next_sweep
            if time.monotonic() >= next_sweep:  # timeouts apply while sending too
                self.check_stages()
                self.tracker.sweep()
                next_sweep = time.monotonic() + 0.1
                self.progress("sending", {"sent": i, "of": len(drafts),
                                          "pending": self.tracker.pending})
            return await sender.submit(drafts[i], intended_ns)

        await scheduler.run(submit)
        if scheduler.failed_sends:
            self.metrics.send_errors["produce_failed"] += scheduler.failed_sends
        return scheduler

    def check_stages(self) -> None:
        """Raise if a router or recipient stage died: the run cannot complete without it."""
        for component in (*self.routers.values(), *self.agents.values()):
            failure = component.loop.failure
            if failure is not None:
                raise BrokerError(f"stage {component.loop.name} failed: {failure!r}; the run "
                                  "was stopped") from failure

    async def settle(self) -> None:
        """Wait, bounded, until every delivery reached a terminal status or was declared lost."""
        deadline = time.monotonic() + self.config.settle_timeout_s + self.config.ack_timeout_s
        while self.tracker.pending and time.monotonic() < deadline:
            self.check_stages()
            self.tracker.sweep()
            self.progress("settling", {"pending": self.tracker.pending})
            await asyncio.sleep(0.05)
        self.tracker.finish()

    async def run(self) -> dict[str, Any]:
        """Plan, start, send, settle, stop; return the report."""
        drafts = [self.traffic.draft() for _ in range(self.config.documents)]
        began = time.monotonic()
        try:
            await self.start(drafts)
            recording = self._start_recording()
            send_began = time.monotonic()
            await self.send_load(drafts)
            send_s = time.monotonic() - send_began
            await self.settle()
            load_s = time.monotonic() - send_began
            if recording is not None:
                await self._finish_recording(*recording)
        finally:
            await self.stop()
        return self.report(load_s, setup_s=send_began - began, send_s=send_s)

    def _start_recording(self) -> tuple[Recorder, asyncio.Task[int]] | None:
        if self.config.record_path is None:
            return None
        recorder = Recorder(broker=self.broker, topics=self.topics.all_for(self.topology.platforms),
                            out=self.config.record_path, registry=self.events.codec.registry)
        return recorder, asyncio.create_task(recorder.run(follow=True))

    async def _finish_recording(self, recorder: Recorder, task: asyncio.Task[int]) -> None:
        recorder.stop()
        async with asyncio.timeout(120):
            written = await task
        self.recorded = written

    def report(self, duration_s: float, setup_s: float = 0.0,
               send_s: float | None = None) -> dict[str, Any]:
        run = {"run_id": self.run_id, "started_at": self.started_at.isoformat()
               if self.started_at else None, "broker": self.bootstrap_source,
               "bootstrap": self.broker.bootstrap, "setup_s": round(setup_s, 3),
               "recorded": ({"file": str(self.config.record_path), "records": self.recorded}
                            if self.config.record_path else None),
               "config": self.config.to_json()}
        topology = {"tiers": self.topology.tiers, "agencies": len(self.topology.agencies),
                    "counts_by_tier": self.topology.counts_by_tier(),
                    "platforms": self.topology.platforms}
        return build_report(self.metrics, run=run, topology=topology, duration_s=duration_s,
                            send_duration_s=send_s)
