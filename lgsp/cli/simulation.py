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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import structlog
from aiokafka import ConsumerRecord

from consumers.recipient import RecipientAgents
from consumers.recorder import Recorder
from consumers.recovery import statuses_sent
from consumers.tracker import DeliveryTracker
from consumers.tracker_checkpoint import TrackerCheckpoint
from consumers.tracker_feed import TrackerFeed
from lgsp.broker.embedded import EmbeddedBroker
from lgsp.bus.admin import clean_up_topics, create_topics, end_offsets
from lgsp.bus.consume_loop import ConsumeLoop, DeadLetters, Futures, Handler
from lgsp.bus.ledger import LedgerWriter
from lgsp.bus.producer import TrackingProducer
from lgsp.bus.revocations import RevocationFeed, publish_revocations
from lgsp.bus.rotation import Rotation
from lgsp.bus.router import PlatformRouter
from lgsp.bus.shard import Shard
from lgsp.bus.topics import TopicNames
from lgsp.codec.avro import AvroCodec
from lgsp.codec.events import EventCodec
from lgsp.codec.registry import FileSchemaRegistry, SchemaRegistry
from lgsp.codec.rest_registry import RestSchemaRegistry
from lgsp.config import BrokerConfig, RecipientConfig
from lgsp.domain.topology import Topology
from lgsp.errors import ConfigError, LifecycleError, StageFailed
from lgsp.faults import FaultPlan
from lgsp.metrics.report import build_report
from lgsp.metrics.run import RunMetrics
from lgsp.metrics.series import IntervalSeries
from lgsp.profiles import load_topology, load_traffic
from lgsp.signing.keys import SignatureAlgorithm
from lgsp.signing.pki import Pki, PkiExport
from lgsp.signing.signature import SignatureVerifier
from producers.faults import FaultInjector, issue_faulty_seals
from producers.load_shape import LoadShape
from producers.scheduler import OpenLoopScheduler
from producers.sender import AgencySender, issue_credentials
from producers.traffic import Draft, TrafficModel

log = structlog.get_logger(__name__)

SEND, TRACK, ROUTE, RECEIVE = "send", "track", "route", "receive"
ROLES = frozenset({SEND, TRACK, ROUTE, RECEIVE})
"""What a process of a run does: send its agencies' documents, track them (with the statuses
coming back), route the platforms' inbound topics, take in documents as recipients. A sender
without the tracker writes the senders' ledger (``lgsp.bus.ledger``) that a tracker process
reads."""
PRODUCER_STOP_TIMEOUT_S = 5.0
"""At the end, records still unsent after this long fail instead of waiting out the client."""

DEFAULT_PROFILES = ("thanh-hoa", "hai-duong")
Progress = Callable[[str, dict[str, Any]], None]


@dataclass(kw_only=True, frozen=True, slots=True)
class SimulationConfig:
    """What to simulate. Defaults are the README's one-minute run."""

    profiles: tuple[str, ...] = DEFAULT_PROFILES
    documents: int | None = 500
    """Documents to send; None = as many as the load shape holds in ``duration_s``."""
    rate: float = 20.0
    """Documents per second (open loop); the peak rate of a shaped load."""
    shape: str = "constant"
    """Load shape (see ``producers.load_shape``): constant, ramp:A..B, steps:..., workday."""
    duration_s: float | None = None
    """Length of the schedule; None = ``documents / rate``."""
    warmup_s: float = 0.0
    """Documents intended in the first seconds are sent and counted but left out of latency."""
    interval_s: float = 5.0
    """Width of the interval series."""
    rotate_s: float | None = None
    """Rotate the run's topics every so many seconds of schedule (bounded broker memory)."""
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
    broker_timeout_s: float = 30.0
    """The run ends (exit 4, with the report of what was confirmed) once the broker has been
    unreachable this long; shorter outages are ridden out."""
    faults: FaultPlan = field(default_factory=FaultPlan)
    """Fault injection (``--inject``): the share of documents given each fault kind."""
    """Document schema versions the agencies write (spread by agency); () = the latest."""

    def __post_init__(self) -> None:
        if self.documents is not None and self.documents < 0:
            raise ConfigError("--documents must be >= 0")
        if self.documents is None and self.duration_s is None \
                and not self.shape.startswith("steps:"):
            raise ConfigError("give --documents or --duration")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ConfigError("--duration must be > 0 seconds")
        if self.rotate_s is not None and self.rotate_s <= 0:
            raise ConfigError("--rotate-topics must be > 0 seconds")
        if self.rotate_s is not None and self.record_path is not None:
            raise ConfigError("--record keeps every topic; it cannot be combined with topic "
                              "rotation (--rotate-topics)")
        if self.warmup_s < 0:
            raise ConfigError("--warmup must be >= 0 seconds")
        if self.interval_s <= 0:
            raise ConfigError("the series interval must be > 0 seconds")
        if self.rate <= 0:
            raise ConfigError("--rate must be > 0 documents per second")
        if self.broker_timeout_s <= 0:
            raise ConfigError("--broker-timeout must be > 0 seconds")
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

    def check_warmup(self) -> None:
        """A warm-up as long as the schedule would leave no latency figure at all."""
        if self.warmup_s and self.warmup_s >= self.load_shape().duration_s:
            raise ConfigError(f"--warmup {self.warmup_s:g} s is not shorter than the "
                              f"{self.load_shape().duration_s:g} s schedule: no document would "
                              "be measured")

    def rotation(self) -> Rotation | None:
        if self.rotate_s is None:
            return None
        return Rotation(self.rotate_s, keep_s=self.ack_timeout_s + 5.0)

    def load_shape(self) -> LoadShape:
        duration = self.duration_s
        if duration is None:
            if self.shape.startswith("steps:"):
                return LoadShape.parse(self.shape, rate=self.rate, duration_s=None)
            if self.shape != "constant":  # the parser names an unknown shape, or asks for one
                return LoadShape.parse(self.shape, rate=self.rate, duration_s=None)
            duration = (self.documents or 0) / self.rate
        return LoadShape.parse(self.shape, rate=self.rate, duration_s=duration)


class Simulation:
    """One worker's share of a bus (or the whole bus, by default): the senders of its agencies,
    the routers and recipient agents of its partitions, and the tracker of its own documents."""

    def __init__(self, config: SimulationConfig, broker: BrokerConfig,
                 progress: Progress | None = None, *, shard: Shard | None = None,
                 pki: PkiExport | None = None, trusted: tuple[PkiExport, ...] = (),
                 roles: frozenset[str] = ROLES, recover: bool = False,
                 checkpoint: Path | None = None) -> None:
        """``roles``: what this process does of ``ROLES`` (all by default; a crash-tolerant run
        splits them over processes). ``recover``: a restarted process rebuilds its state from the
        bus — recipients read back the statuses their agencies sent (``consumers.recovery``), a
        tracker reads the ledger and the statuses again (``consumers.tracker_feed``), from its
        ``checkpoint`` file if it saved one (``consumers.tracker_checkpoint``)."""
        unknown = roles - ROLES
        if unknown or not roles:
            raise ConfigError(f"roles {sorted(roles)} must be some of {sorted(ROLES)}")
        if TRACK in roles and SEND not in roles and roles != {TRACK}:
            raise ConfigError("a tracker without its senders runs in a process of its own "
                              f"(roles {sorted(roles)})")
        self.roles = roles
        self.recover = recover
        self.checkpoint_path = checkpoint
        self.config = config
        self.broker = broker
        self.progress = progress or (lambda _event, _data: None)
        self.shard = shard or Shard.whole(broker.partitions)
        self.pki_export = pki
        self.trusted = trusted
        self.run_id = config.run_id or f"run-{secrets.token_hex(4)}"
        self.topics = TopicNames(self.run_id)
        self.topology: Topology = load_topology(list(config.profiles))
        self.traffic = TrafficModel(self.topology, load_traffic(config.traffic_profile),
                                    seed=config.seed, fan_out_mean=config.fan_out_mean)
        self.metrics = RunMetrics(series=IntervalSeries(interval_s=config.interval_s,
                                                        warmup_s=config.warmup_s))
        self.events = EventCodec(AvroCodec(self._registry(config.registry_url)))
        self.tracker = DeliveryTracker(self.topology, self.metrics,
                                       ack_timeout_s=config.ack_timeout_s)
        self.pki: Pki | None = None
        self.sender: AgencySender | None = None
        self.ledger: LedgerWriter | None = None
        """A sender without its tracker writes what it sent here (``lgsp.bus.ledger``)."""
        self.feed: TrackerFeed | None = None
        """A tracker without its sender reads the ledger and the statuses through this."""
        self.revocations: RevocationFeed | None = None
        """The verifiers' view of the CA's revocation topic (``lgsp.bus.revocations``)."""
        self.producer: TrackingProducer | None = None
        self.scheduler: OpenLoopScheduler[Draft] | None = None
        self.agents: dict[str, RecipientAgents] = {}
        self.loop: ConsumeLoop | None = None
        self.routers: dict[str, PlatformRouter] = {}
        self._families: frozenset[str] = frozenset()
        """Topic families (``<platform>.inbound|deliver``) the roles of this process read."""
        self._stack = contextlib.AsyncExitStack()
        self._schedule_start_ns: int | None = None
        self._following_rotation = False
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

    # ---- planning ------------------------------------------------------------------------------
    def plan(self) -> Iterator[tuple[int, Draft]]:
        """(intended offset from the schedule start in ns, draft) of this worker's documents.

        Every worker draws the same global sequence (same seed) and keeps the documents of the
        agencies it owns, so a run's documents do not depend on how many workers send them."""
        shape = self.config.load_shape()
        for offset in shape.offsets_ns(self.config.documents):
            draft = self.traffic.draft()
            if self.shard.owns(draft.sender):
                yield offset, draft

    def senders(self, small_run: int = 20_000) -> list[str]:
        """The agencies that will send: drawn from the plan for a small run, all agencies of the
        topology for a long one (every agency can send; keys are cached after the first run)."""
        shape = self.config.load_shape()
        count = shape.expected_count()
        if self.config.documents is not None:
            count = min(count, self.config.documents)
        if count > small_run:
            return sorted(self.topology.agencies)
        dry = TrafficModel(self.topology, load_traffic(self.config.traffic_profile),
                           seed=self.config.seed, fan_out_mean=self.config.fan_out_mean)
        return sorted({dry.draft().sender for _ in range(count)})

    # ---- lifecycle ---------------------------------------------------------------------------
    async def start(self, drafts: list[Draft] | None = None, *,
                    senders: list[str] | None = None) -> None:
        """Start the broker (if embedded), topics, consumers and routers, and prepare the
        credentials of the senders (those of ``drafts``, or ``senders``)."""
        if self._stopped:
            raise LifecycleError(f"simulation {self.run_id} is stopped; create a new one")
        if self._started:
            raise LifecycleError(f"simulation {self.run_id} is already started")
        self._started = True
        self.started_at = dt.datetime.now(dt.UTC)
        if senders is None:
            senders = sorted({d.sender for d in drafts or []})
        try:
            await self._start(senders)
        except BaseException:
            await self._stack.aclose()
            raise

    async def _start(self, senders: list[str]) -> None:
        if self.broker.bootstrap is None:
            embedded = await self._stack.enter_async_context(EmbeddedBroker())
            self.broker = self.broker.with_bootstrap(embedded.bootstrap)
        self.progress("pki", {"agencies": len(senders)})
        self.pki = await asyncio.to_thread(self._make_pki, senders)
        verifier = SignatureVerifier(self.pki.directory)
        platforms = self.topology.platforms
        names = self.topics.all_for(platforms)
        await create_topics(self.broker, names)
        if (not self.config.keep_topics and self.bootstrap_source == "external"
                and self.shard.index == 0):
            self._stack.push_async_callback(clean_up_topics, self.broker, names)
        self.producer = TrackingProducer.for_broker(self.broker)
        await self.producer.start()
        self._stack.push_async_callback(self.producer.stop_within, PRODUCER_STOP_TIMEOUT_S)
        await self._follow_revocations()
        dead_letters = DeadLetters(self.producer, self.topics.dead_letter, self.events,
                                   self.metrics)
        common = {"topology": self.topology, "topics": self.topics, "producer": self.producer,
                  "events": self.events, "metrics": self.metrics}
        handlers: dict[str, Handler] = {}
        stages: dict[str, str] = {}
        for platform in platforms:
            agents = self.agents[platform] = RecipientAgents(
                platform, verifier=verifier,
                on_status=self.tracker.on_status if {SEND, TRACK} <= self.roles else None,
                accept_documents=RECEIVE in self.roles,
                config=self.config.recipient, **common)  # type: ignore[arg-type]
            router = self.routers[platform] = PlatformRouter(
                platform, lenient=self.config.lenient_lgsp, **common)  # type: ignore[arg-type]
            if RECEIVE in self.roles or {SEND, TRACK} <= self.roles:
                handlers[_family(agents.topic)] = agents.handle
                stages[_family(agents.topic)] = f"recipient:{platform}"
            elif TRACK in self.roles:  # a tracker process: statuses for its senders
                handlers[_family(agents.topic)] = self._feed().handle
                stages[_family(agents.topic)] = f"tracker:{platform}"
            if ROUTE in self.roles:
                handlers[_family(router.topic)] = router.handle
                stages[_family(router.topic)] = f"router:{platform}"
        topics = self._live_topics([c.topic for c in (*self.routers.values(),
                                                      *self.agents.values())
                                    if _family(c.topic) in handlers])
        if self.roles == {TRACK}:
            handlers[_family(self.topics.ledger)] = self._feed().handle
            stages[_family(self.topics.ledger)] = "tracker:ledger"
            topics.append(self.topics.ledger)
            await self._checkpointed_tracking(topics)
        self._families = frozenset(handlers)
        if self.recover and RECEIVE in self.roles:
            await self._resume_recipients(platforms)

        async def dispatch(record: ConsumerRecord[bytes, bytes], futures: Futures) -> None:
            await handlers[_family(record.topic)](record, futures)

        # One consumer per worker for every stage of its partitions: fewer fetches to poll
        # (the broker does not wake a waiting fetch, so each consumer polls) and bigger batches.
        # A tracker process never commits: it resumes from its checkpoint when restarted.
        if topics:  # a sender whose tracker is another process reads nothing
            self.loop = ConsumeLoop(
                name=f"worker {self.shard}", broker=self.broker, topic=topics,
                commit=self.roles != {TRACK},
                group=self.topics.group("worker", "all" if self.roles == ROLES
                                        else "+".join(sorted(self.roles))),
                handler=dispatch, dead_letters=dead_letters,
                partitions=self.shard.owned_partitions,
                stage_of=lambda record: stages[_family(record.topic)],
                start=self.feed.positions if self.feed is not None else None)
            for agents in self.agents.values():
                self._stack.push_async_callback(agents.stop)  # lifecycles finish after the loop
            await self.loop.start()
            self._stack.push_async_callback(self.loop.stop)
        if SEND in self.roles:
            await self._prepare_sender(senders)
        log.info("simulation_started", run_id=self.run_id, bootstrap=self.broker.bootstrap,
                 platforms=platforms, agencies=len(self.topology.agencies), shard=str(self.shard))

    async def _prepare_sender(self, senders: list[str]) -> None:
        """The agencies' sender, reporting to this process's tracker or, when the tracker is a
        process of its own, to the senders' ledger; every certificate issued now, so sign cost
        measures signing, not issuance."""
        if self.pki is None or self.producer is None:
            raise LifecycleError("the sender needs the run's PKI and producer")
        tracking: LedgerWriter | DeliveryTracker = self.tracker
        if TRACK not in self.roles:
            tracking = self.ledger = LedgerWriter(self.producer, self.topics.ledger,
                                                  self.shard.owned_partitions)
            self.ledger.start()
            self._stack.push_async_callback(self.ledger.close, end=False)
        sender = self.sender = AgencySender(
            topology=self.topology, pki=self.pki, events=self.events, producer=self.producer,
            topics=self.topics, metrics=self.metrics, expect=tracking.expect,
            on_send_failed=tracking.send_failed,
            document_versions=self.config.document_versions,
            faults=self._fault_injector(senders), on_fault=tracking.injected,
            on_fault_refused=tracking.detected_at_send)
        mine = [code for code in senders if self.shard.owns(code)]
        await asyncio.to_thread(lambda: [sender.credentials(code) for code in mine])

    async def _checkpointed_tracking(self, topics: list[str]) -> None:
        """A tracker process: resume from its checkpoint (or offset 0) when restarted, and keep
        saving one."""
        feed = self._feed()
        checkpoint = None
        if self.checkpoint_path is not None:
            checkpoint = TrackerCheckpoint(self.checkpoint_path, self.tracker, feed)
        if self.recover:
            if checkpoint is not None:
                checkpoint.load()
            feed.replay_from(await end_offsets(self.broker, topics, self.shard.owned_partitions))
        if checkpoint is not None:
            saving = asyncio.create_task(checkpoint.keep_saving(), name="tracker checkpoint")
            self._stack.callback(saving.cancel)

    def _feed(self) -> TrackerFeed:
        if self.feed is None:
            self.feed = TrackerFeed(self.tracker, self.events, ledger_topic=self.topics.ledger,
                                    ledger_partitions=self.shard.owned_partitions)
        return self.feed

    def _live_topics(self, names: list[str]) -> list[str]:
        """The topics to read now for these (unrotated) ``names``: with topic rotation and a
        known schedule start (a restarted worker), the same families in every live generation."""
        rotation, start_ns = self.config.rotation(), self._schedule_start_ns
        if rotation is None or start_ns is None:
            return names
        families = {_family(name) for name in names}
        return [name for g in rotation.read(time.monotonic_ns() - start_ns)
                for name in self.topics.generation(self.topology.platforms, g)
                if _family(name) in families]

    async def _resume_recipients(self, platforms: list[str]) -> None:
        """A restarted recipient process: what its agencies already answered, before consuming."""
        sent = await statuses_sent(self.broker,
                                   self._live_topics([self.topics.inbound(p) for p in platforms]),
                                   self.events, self.shard.owns)
        resumed = 0
        for platform, agents in self.agents.items():
            resumed += agents.resume({key: s for key, s in sent.items()
                                      if self.topology.platform_of(key[1]) == platform})
        log.info("recipients_resumed", shard=str(self.shard), deliveries=len(sent),
                 lifecycles_resumed=resumed)

    async def _follow_revocations(self) -> None:
        """Verifiers follow the CA's revocation topic all run; the revocations issued before
        the run (this CA's and trusted hosts') must be in force before anything is sent."""
        if self.pki is None:
            raise LifecycleError("revocations need the run's PKI")
        own = self.pki.export()
        if self.pki_export is None and own.revoked_serials():  # this process made the CA
            await publish_revocations(self.broker, self.topics.revocations,
                                      own.revoked_serials())
        feed = RevocationFeed(self.broker, self.topics.revocations, self.pki.directory)
        await feed.start()
        self._stack.push_async_callback(feed.stop)
        await feed.wait_for([serial for export in (own, *self.trusted)
                             for serial in export.revoked_serials()])
        self.revocations = feed

    def _fault_injector(self, senders: list[str]) -> FaultInjector | None:
        if not self.config.faults:
            return None
        pki, topology = self.pki, self.topology
        if pki is None:
            raise LifecycleError("fault injection needs the run's PKI")
        return FaultInjector(self.config.faults, seed=self.config.seed * 7919 + self.shard.index,
                             pki=pki, signers=senders,
                             credentials=lambda code: issue_credentials(pki, topology, code),
                             holder_of=lambda code: topology.agency(code).name)

    def _make_pki(self, senders: list[str]) -> Pki:
        if self.pki_export is not None:
            return Pki(restore=self.pki_export, cache_dir=self.config.pki_cache,
                       trust=self.trusted)
        pki = Pki(self.config.signature_algorithm, cache_dir=self.config.pki_cache)
        generated = pki.prepare(senders)
        issue_faulty_seals(pki, self.config.faults, senders,
                           lambda code: self.topology.agency(code).name)
        log.info("pki_ready", algorithm=pki.algorithm.value, agencies=len(senders),
                 keys_generated=generated)
        return pki

    async def abort(self) -> None:
        """The run is over without draining (the broker is gone): drop in-flight work, stop."""
        if self.loop is not None:
            await self.loop.abort()
        for agents in self.agents.values():
            agents.abort()
        if self.producer is not None:
            self.producer.fail_pending("the run was aborted")
        await self.stop()

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
    def begin_measuring(self, start_ns: int) -> None:
        """The schedule starts at ``start_ns`` (monotonic): the series' origin and warm-up end.
        (A restarted worker knows it before it starts reading; a second call changes nothing.)"""
        if self._schedule_start_ns == start_ns:
            return
        self._schedule_start_ns = start_ns
        warmup_ns = int(self.config.warmup_s * 1e9)
        self.metrics.series.restart(start_ns)
        self.metrics.measure_from_ns = start_ns + warmup_ns
        self.metrics.measure_from_wall_us = (time.time_ns() + (start_ns - time.monotonic_ns())
                                             + warmup_ns) // 1000

    async def send_schedule(self, schedule: Iterable[tuple[int, Draft]], start_ns: int, *,
                            stop: asyncio.Event | None = None) -> OpenLoopScheduler[Draft]:
        """Send ``schedule`` open loop from ``start_ns`` (monotonic)."""
        if self.sender is None:
            raise LifecycleError(f"simulation {self.run_id} is not started or does not send")
        sender = self.sender
        rotation = self.config.rotation()
        if rotation is not None:
            sender.generation_of = lambda now_ns: rotation.generation_at(now_ns - start_ns)
        self.follow_schedule(start_ns)
        # yield after every late submit: a sender behind its schedule must not starve the
        # routers and recipients of its own worker (they would look slower than they are)
        scheduler = self.scheduler = OpenLoopScheduler(schedule, start_ns=start_ns,
                                                       lag=self.metrics.schedule_lag,
                                                       yield_every=1)
        next_sweep = time.monotonic()

        async def submit(draft: Draft, intended_ns: int) -> asyncio.Future[Any]:
            nonlocal next_sweep
            if time.monotonic() >= next_sweep:  # timeouts apply while sending too
                self.check_stages()
                self.sweep()
                next_sweep = time.monotonic() + 0.1
            return await sender.submit(draft, intended_ns)

        await scheduler.run(submit, stop=stop)
        if self.ledger is not None:  # the tracker process: nothing more will be sent
            await self.ledger.close()
        if scheduler.failed_sends:
            self.metrics.send_errors["produce_failed"] += scheduler.failed_sends
        return scheduler

    def follow_schedule(self, start_ns: int) -> None:
        """The schedule started at ``start_ns``: measure on its clock and, with topic rotation,
        read the live generations from now on (every role; idempotent)."""
        self.begin_measuring(start_ns)
        rotation = self.config.rotation()
        if rotation is not None and not self._following_rotation:
            self._following_rotation = True
            self._follow_rotation(rotation, start_ns)

    def _follow_rotation(self, rotation: Rotation, start_ns: int) -> None:
        """Keep every loop reading the live topic generations, until the simulation stops."""
        unrotated = [self.topics.ledger] if self.roles == {TRACK} else []

        def update() -> None:
            generations = rotation.read(time.monotonic_ns() - start_ns)
            if self.loop is not None:
                self.loop.want([name for g in generations
                                for name in self.topics.generation(self.topology.platforms, g)
                                if _family(name) in self._families] + unrotated)
            if self.producer is not None:  # deleted generations leave the producer's metadata
                self.producer.retain(partial(_not_before, generations.start))

        async def follow() -> None:
            while True:
                update()
                await asyncio.sleep(0.5)

        update()
        task = asyncio.create_task(follow(), name="rotation")
        self._stack.callback(task.cancel)

    async def send_load(self, drafts: list[Draft]) -> OpenLoopScheduler[Draft]:
        """Send these drafts at the configured constant rate, starting now."""
        interval_ns = 1e9 / self.config.rate
        schedule = ((int(i * interval_ns), d) for i, d in enumerate(drafts))
        return await self.send_schedule(schedule, time.monotonic_ns())

    def check_stages(self) -> None:
        """Raise if a router or recipient stage died: the run cannot complete without it."""
        loop = self.loop
        if loop is not None and loop.failure is not None:
            raise StageFailed(f"stage {loop.name} failed: {loop.failure!r}; the run was "
                              "stopped") from loop.failure

    def sweep(self) -> None:
        """Declare lost what has had no 01 for the ack timeout — not while a restarted tracker
        is still reading what was on the bus before (the 01 may be further on)."""
        if self.feed is None or not self.feed.catching_up:
            self.tracker.sweep()

    async def follow_senders(self) -> None:
        """A tracker process while its senders send: sweep until every sender of its shard
        wrote its end mark on the ledger."""
        if self.feed is None:
            raise LifecycleError(f"simulation {self.run_id} does not track from the ledger")
        while not self.feed.senders_done:
            self.check_stages()
            self.sweep()
            await asyncio.sleep(0.1)

    async def settle(self, *, finish: bool = True) -> None:
        """Wait, bounded, until every delivery reached a terminal status or was declared lost;
        with ``finish``, then count what is left as lost or incomplete."""
        deadline = time.monotonic() + self.config.settle_timeout_s + self.config.ack_timeout_s
        while ((self.tracker.pending or (self.feed is not None and self.feed.catching_up))
               and time.monotonic() < deadline):
            self.check_stages()
            self.sweep()
            self.progress("settling", {"pending": self.tracker.pending})
            await asyncio.sleep(0.05)
        if finish:
            self.finish_tracking()

    def finish_tracking(self) -> None:
        """End of run: what is still open is lost or incomplete; unmatched statuses counted."""
        self.tracker.finish()
        if self.feed is not None:
            self.feed.finish()

    def snapshot(self) -> dict[str, Any]:
        """Live figures for progress lines and Prometheus (cheap enough for once a second)."""
        scheduler = self.scheduler
        routes = self.metrics.routes.values()
        return {
            # the moment "due" is counted at: a sender's (other processes' snapshots are older
            # or newer than the schedule they did not send)
            **({"at_ns": time.monotonic_ns()} if SEND in self.roles else {}),
            "target": scheduler.submitted + scheduler.refused if scheduler else 0,
            "sent": scheduler.submitted if scheduler else 0,
            "behind_ms": round(scheduler.behind_ns / 1e6, 1) if scheduler else 0.0,
            "pending": self.tracker.pending,
            **{name: sum(getattr(r, name) for r in routes)
               for name in ("delivered", "completed", "rejected", "undeliverable", "lost",
                            "send_failed")},
            "dead_letters": sum(self.metrics.dead_letters.values()),
            "signature_failures": sum(self.metrics.signing.failures.values()),
            "send_to_arrived": self.tracker.live_arrived.encode(),
        }

    async def run(self) -> dict[str, Any]:
        """Plan, start, send, settle, stop; return the report (one process, the whole bus)."""
        began = time.monotonic()
        try:
            await self.start(senders=self.senders())
            recording = self.start_recording()
            send_began = time.monotonic()
            await self.send_schedule(self.plan(), time.monotonic_ns())
            send_s = time.monotonic() - send_began
            await self.settle()
            load_s = time.monotonic() - send_began
            if recording is not None:
                await self.finish_recording(*recording)
        finally:
            await self.stop()
        return self.report(load_s, setup_s=send_began - began, send_s=send_s)

    def start_recording(self) -> tuple[Recorder, asyncio.Task[int]] | None:
        if self.config.record_path is None:
            return None
        recorder = Recorder(broker=self.broker, topics=self.topics.all_for(self.topology.platforms),
                            out=self.config.record_path, registry=self.events.codec.registry)
        return recorder, asyncio.create_task(recorder.run(follow=True))

    async def finish_recording(self, recorder: Recorder, task: asyncio.Task[int]) -> None:
        recorder.stop()
        async with asyncio.timeout(120):
            written = await task
        self.recorded = written

    def run_facts(self, setup_s: float = 0.0, workers: int = 1) -> dict[str, Any]:
        return {"run_id": self.run_id, "started_at": self.started_at.isoformat()
                if self.started_at else None, "broker": self.bootstrap_source,
                "bootstrap": self.broker.bootstrap, "setup_s": round(setup_s, 3),
                "workers": workers,
                "recorded": ({"file": str(self.config.record_path), "records": self.recorded}
                             if self.config.record_path else None),
                "config": self.config.to_json()}

    def topology_facts(self) -> dict[str, Any]:
        return {"tiers": self.topology.tiers, "agencies": len(self.topology.agencies),
                "counts_by_tier": self.topology.counts_by_tier(),
                "platforms": self.topology.platforms}

    def report(self, duration_s: float, setup_s: float = 0.0,
               send_s: float | None = None) -> dict[str, Any]:
        return build_report(self.metrics, run=self.run_facts(setup_s),
                            topology=self.topology_facts(), duration_s=duration_s,
                            send_duration_s=send_s,
                            load=self.config.load_shape().describe())


def _not_before(oldest: int, topic: str) -> bool:
    """Whether ``topic`` is unrotated or of generation ``oldest`` or later."""
    generation = TopicNames.generation_of(topic)
    return generation is None or generation >= oldest


def _family(topic: str) -> str:
    """``<platform>.inbound|deliver`` of a topic name, whatever its run and generation."""
    return ".".join(topic.rsplit(".", 2)[-2:])
