"""The composition of a run: broker → topics → consumers → routers → producers.

``Simulation`` is the one place that wires ``producers/`` and ``consumers/`` to the bus. One
``AsyncExitStack`` owns everything, so unwinding (success, error, Ctrl-C) stops producers first,
then routers and consumers drain, and the embedded broker is stopped last.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import structlog

from consumers.recipient import RecipientAgents
from consumers.recovery import statuses_sent
from consumers.status_sealer import StatusSealer
from consumers.tracker import DeliveryTracker
from consumers.tracker_checkpoint import TrackerCheckpoint
from consumers.tracker_feed import TrackerFeed
from lgsp.bus.admin import end_offsets
from lgsp.bus.consume_loop import ConsumeLoop, DeadLetters
from lgsp.bus.ledger import LedgerWriter
from lgsp.bus.producer import TrackingProducer
from lgsp.bus.revocations import RevocationFeed, publish_revocations
from lgsp.bus.rotation import Rotation
from lgsp.bus.router import PlatformRouter
from lgsp.bus.shard import Shard
from lgsp.bus.topics import TopicNames
from lgsp.bus.tracing import Tracing, tracing_for
from lgsp.codec.avro import AvroCodec
from lgsp.codec.events import EventCodec
from lgsp.codec.registry import FileSchemaRegistry
from lgsp.codec.rest_registry import RestSchemaRegistry
from lgsp.config import BrokerConfig
from lgsp.domain.topology import Topology
from lgsp.errors import ConfigError, LifecycleError, StageFailed
from lgsp.metrics.report import build_report
from lgsp.metrics.run import RunMetrics
from lgsp.metrics.series import IntervalSeries
from lgsp.run.bus_only import Ending, SubmissionWatch
from lgsp.run.bus_setup import open_bus
from lgsp.run.config import SimulationConfig
from lgsp.run.credentials import issue_run_pki
from lgsp.run.dispatch import Dispatcher
from lgsp.run.plan import SMALL_RUN, RunPlan
from lgsp.run.recording import RunRecording, run_facts
from lgsp.run.roles import ROLES, Role, RoleParts, StatusReader
from lgsp.signing.pki import Pki, PkiExport
from lgsp.signing.pool import SigningPool
from lgsp.signing.signature import SignatureVerifier
from lgsp.signing.status_seal import StatusSealCheck
from producers.faults import FaultInjector
from producers.scheduler import OpenLoopScheduler
from producers.sender import AgencySender, Prepared, issue_credentials
from producers.sign_ahead import SignAhead
from producers.traffic import Draft

log = structlog.get_logger(__name__)

PRODUCER_STOP_TIMEOUT_S = 5.0
"""At the end, records still unsent after this long fail instead of waiting out the client."""

Progress = Callable[[str, dict[str, Any]], None]


class Simulation:
    """One worker's share of a bus (or the whole bus, by default): the senders of its agencies,
    the routers and recipient agents of its partitions, and the tracker of its own documents.
    What it builds and reads follows its roles (``lgsp.run.roles.RoleParts``)."""

    def __init__(self, config: SimulationConfig, broker: BrokerConfig,
                 progress: Progress | None = None, *, shard: Shard | None = None,
                 pki: PkiExport | None = None, trusted: tuple[PkiExport, ...] = (),
                 roles: frozenset[Role] = ROLES, recover: bool = False,
                 checkpoint: Path | None = None, plan: RunPlan | None = None,
                 first_generation: int | None = None, tracing: Tracing | None = None) -> None:
        """``roles``: what this process does of ``ROLES`` (all by default; a crash-tolerant run
        splits them over processes). ``recover``: a restarted process rebuilds its state from the
        bus — recipients read back the statuses their agencies sent (``consumers.recovery``), a
        tracker reads the ledger and the statuses again (``consumers.tracker_feed``), from its
        ``checkpoint`` file if it saved one (``consumers.tracker_checkpoint``). ``plan``: the
        run's plan when the caller made it (the coordinator's), else made from ``config``.
        ``tracing``: where this process's spans go (a test's in-memory exporter); by default
        OTLP to ``config.otlp_endpoint``, or none (``lgsp.bus.tracing``)."""
        self.parts = RoleParts(roles)
        self.roles = roles
        self.recover = recover
        self.first_generation = first_generation
        """A restarted worker with topic rotation: read from this generation on at first."""
        self.checkpoint_path = checkpoint
        self.checkpoint: TrackerCheckpoint | None = None
        self.config = config
        self.broker = broker
        self.progress = progress or (lambda _event, _data: None)
        self.shard = shard or Shard.whole(broker.partitions)
        self.pki_export = pki
        self.trusted = trusted
        self.run_plan = plan or RunPlan.of(config)
        self.run_id = self.run_plan.run_id
        self.topics = self.run_plan.topics
        self.topology: Topology = self.run_plan.topology
        self.traffic = self.run_plan.traffic()
        self.tracing = tracing if tracing is not None else tracing_for(
            config.otlp_endpoint, instance=f"{self.run_id}/{self.shard}/{self.parts.name}")
        self.metrics = RunMetrics(series=IntervalSeries(interval_s=config.series_interval_s(),
                                                        warmup_s=config.warmup_s))
        self.events = EventCodec(AvroCodec(
            FileSchemaRegistry() if config.registry_url is None
            else RestSchemaRegistry(config.registry_url)))
        self.tracker = DeliveryTracker(self.topology, self.metrics,
                                       ack_timeout_s=config.ack_timeout_s,
                                       external=config.external.recipient_set,
                                       routers_probed=bool(config.external.platforms))
        self.watch: SubmissionWatch | None = None
        """A bus-only run: what its routers see submitted, for its tracker."""
        if self.parts.observes:
            if config.bus_only is None:
                raise LifecycleError("a process that tracks what its routers see needs a "
                                     "bus-only run's config (--bus-only)")
            self.watch = SubmissionWatch(self.tracker, self.metrics, self.topology,
                                         config.bus_only)
        self.pki: Pki | None = None
        self.seals: StatusSealCheck | None = None
        """The run requires status seals (``--status-seals``): what tells a forged status."""
        self.sender: AgencySender | None = None
        self.ledger: LedgerWriter | None = None
        """A sender without its tracker writes what it sent here (``lgsp.bus.ledger``)."""
        self.feed: TrackerFeed | None = None
        """A tracker without its sender reads the ledger and the statuses through this."""
        self.revocations: RevocationFeed | None = None
        """The verifiers' view of the CA's revocation topic (``lgsp.bus.revocations``)."""
        self.producer: TrackingProducer | None = None
        self.scheduler: OpenLoopScheduler[Any] | None = None
        self.sign_ahead: SignAhead | None = None
        """Signs the schedule's documents ahead in a pool of processes (``--sign-ahead``)."""
        self.agents: dict[str, RecipientAgents] = {}
        self.loop: ConsumeLoop | None = None
        self.routers: dict[str, PlatformRouter] = {}
        self.dispatcher = Dispatcher()
        """Topic family → the stage of this process that reads it."""
        self._stack = contextlib.AsyncExitStack()
        self._schedule_start_ns: int | None = None
        self._following_rotation = False
        self._started = False
        self._stopped = False
        self.started_at: dt.datetime | None = None
        self.recorded: int | None = None
        self.bootstrap_source = "external" if broker.bootstrap else "embedded"

    # ---- planning ------------------------------------------------------------------------------
    def plan(self) -> Iterator[tuple[int, Draft]]:
        """(intended offset from the schedule start in ns, draft) of this worker's documents."""
        return self.run_plan.schedule(self.shard, self.traffic)

    def senders(self, small_run: int = SMALL_RUN) -> list[str]:
        """The agencies that will send (``RunPlan.senders``)."""
        return self.run_plan.senders(small_run)

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
        registry = self.events.codec.registry
        if isinstance(registry, RestSchemaRegistry):  # every schema now, never on the consume path
            await asyncio.to_thread(registry.preload)
        if self.config.seals_required and not self.events.statuses_carry_seals:
            schema = self.events.status_schema
            raise ConfigError(f"the run seals statuses but the latest {schema.subject} is version "
                              f"{schema.version}, which has no seal field: register "
                              "schemas/status-event/v2.avsc (or --status-seals off)")
        names = self.run_plan.bus_topics()
        self._stack.push_async_callback(self.tracing.shutdown)  # last: after every span ended
        self.broker = await open_bus(self._stack, self.broker, names,
                                     clean_up=not self.config.keep_topics
                                     and self.shard.index == 0)
        self.progress("pki", {"agencies": len(senders)})
        self.pki = await asyncio.to_thread(self._make_pki, senders)
        self.producer = TrackingProducer.for_broker(self.broker)
        await self.producer.start()
        self._stack.push_async_callback(self.producer.stop_within, PRODUCER_STOP_TIMEOUT_S)
        await self._follow_revocations()
        verifier = SignatureVerifier(self.pki.directory)
        self.seals = StatusSealCheck(verifier) if self.config.seals_required else None
        if self.seals is not None and (self.parts.tracks_here or self.parts.tracks_alone):
            self.tracker.check_seals(self.seals)
        self._build_platforms(verifier)
        if self.parts.tracks_alone:
            self.dispatcher.add(self.topics.ledger, "tracker:ledger", self._feed().handle)
        topics = self._live_topics([t for t in (*(r.topic for r in self.routers.values()),
                                                *(a.topic for a in self.agents.values()))
                                    if self.dispatcher.reads(t)])
        if self.parts.tracks_alone:
            topics.append(self.topics.ledger)
            await self._checkpointed_tracking(topics)
        if self.recover and self.parts.receives:
            await self._resume_recipients(self.topology.platforms)
        if topics:  # a sender whose tracker is another process reads nothing
            self.loop = ConsumeLoop(
                name=f"worker {self.shard}", broker=self.broker, topic=topics,
                commit=not self.parts.tracks_alone,
                group=self.topics.group("worker", self.parts.name),
                handler=self.dispatcher,
                dead_letters=DeadLetters(self.producer, self.topics.dead_letter, self.events,
                                         self.metrics),
                partitions=self.shard.owned_partitions, stage_of=self.dispatcher.stage_of,
                start=self.feed.positions if self.feed is not None else None)
            for agents in self.agents.values():
                self._stack.push_async_callback(agents.stop)  # lifecycles finish after the loop
            await self.loop.start()
            self._stack.push_async_callback(self.loop.stop)
        if self.parts.sends:
            await self._prepare_sender(senders)
        log.info("simulation_started", run_id=self.run_id, bootstrap=self.broker.bootstrap,
                 platforms=self.topology.platforms, agencies=len(self.topology.agencies),
                 shard=str(self.shard))

    def _build_platforms(self, verifier: SignatureVerifier) -> None:
        """Each platform's router and recipient agents, and the stages of this process's roles
        in the dispatcher (``RoleParts``)."""
        if self.producer is None:
            raise LifecycleError("the platforms need the run's producer")
        watch = self.watch
        on_status = (None if not self.parts.tracks_here else self.tracker.on_status
                     if watch is None else watch.on_status)
        sealer = (StatusSealer(self.pki, self.topology, self.metrics)
                  if self.seals is not None and self.pki is not None and self.parts.receives
                  else None)
        for platform in self.topology.platforms:
            agents = self.agents[platform] = RecipientAgents(
                platform, verifier=verifier, topology=self.topology, topics=self.topics,
                producer=self.producer, events=self.events, metrics=self.metrics,
                on_status=on_status,
                accept_documents=self.parts.receives, config=self.config.recipient,
                tracing=self.tracing, external=self.config.external.recipient_set,
                sealer=sealer)
            router = self.routers[platform] = PlatformRouter(
                platform, lenient=self.config.lenient_lgsp, topology=self.topology,
                topics=self.topics, producer=self.producer, events=self.events,
                metrics=self.metrics, tracing=self.tracing,
                on_submission=None if watch is None else watch.on_submission)
            match self.parts.deliver_reader:
                case StatusReader.RECIPIENTS:
                    self.dispatcher.add(agents.topic, f"recipient:{platform}", agents.handle)
                case StatusReader.TRACKER:  # a tracker process: statuses for its senders
                    self.dispatcher.add(agents.topic, f"tracker:{platform}", self._feed().handle)
            if self.parts.routes and platform not in self.config.external.platform_set:
                self.dispatcher.add(router.topic, f"router:{platform}", router.handle)

    async def _prepare_sender(self, senders: list[str]) -> None:
        """The agencies' sender, reporting to this process's tracker or, when the tracker is a
        process of its own, to the senders' ledger; every certificate issued now, so sign cost
        measures signing, not issuance."""
        if self.pki is None or self.producer is None:
            raise LifecycleError("the sender needs the run's PKI and producer")
        tracking: LedgerWriter | DeliveryTracker = self.tracker
        if self.parts.writes_ledger:
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
            on_fault_refused=tracking.detected_at_send, tracing=self.tracing)
        mine = [code for code in senders if self.shard.owns(code)]
        credentials = await asyncio.to_thread(
            lambda: [c for code in mine for c in sender.credentials(code)])
        if self.config.sign_ahead and credentials:
            pool = SigningPool(credentials, self.config.sign_ahead)
            self._stack.push_async_callback(pool.close)
            await pool.start()
            self.sign_ahead = SignAhead(sender, pool)

    async def _checkpointed_tracking(self, topics: list[str]) -> None:
        """A tracker process: resume from its checkpoint (or offset 0) when restarted, and keep
        saving one."""
        feed = self._feed()
        checkpoint = None
        if self.checkpoint_path is not None:
            checkpoint = self.checkpoint = TrackerCheckpoint(
                self.checkpoint_path, self.tracker, feed, held=self._generation_needed_now)
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
                                    ledger_partitions=self.shard.owned_partitions,
                                    tracing=self.tracing)
        return self.feed

    def _live_topics(self, names: list[str]) -> list[str]:
        """The topics to read now for these (unrotated) ``names``: with topic rotation and a
        known schedule start (a restarted worker), the same families in every live generation."""
        rotation, start_ns = self.config.rotation(), self._schedule_start_ns
        if rotation is None or start_ns is None:
            return names
        families = {TopicNames.family(name) for name in names}
        generations = rotation.read(time.monotonic_ns() - start_ns)
        first = min(generations.start, self.first_generation or generations.start)
        return [name for g in range(first, generations.stop)
                for name in self.topics.generation(self.topology.platforms, g)
                if TopicNames.family(name) in families]

    def _answered_here(self, code: str) -> bool:
        """Whether this shard's recipients answer for agency ``code`` (not the user's service)."""
        return self.shard.owns(code) and code not in self.config.external.recipient_set

    async def _resume_recipients(self, platforms: list[str]) -> None:
        """A restarted recipient process: what its agencies already answered, before consuming."""
        seals = self.seals
        sent = await statuses_sent(self.broker,
                                   self._live_topics([self.topics.inbound(p) for p in platforms]),
                                   self.events, self._answered_here,
                                   None if seals is None else lambda s: seals(s) is None)
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
                             holder_of=lambda code: topology.agency(code).name,
                             unknown_at_home=not self.config.lenient_lgsp)

    def _make_pki(self, senders: list[str]) -> Pki:
        """The coordinator's PKI (a worker), or one issued here (a simulation on its own)."""
        if self.pki_export is not None:
            return Pki(restore=self.pki_export, cache_dir=self.config.pki_cache,
                       trust=self.trusted)
        return issue_run_pki(self.config, self.topology, senders,
                             self.run_plan.recipients() if self.config.seals_required else [])

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
        if self.watch is not None:  # bus-only: every document it sees is measured
            self.watch.begin()
            return
        self.metrics.measure_from_ns = start_ns + warmup_ns
        self.metrics.measure_from_wall_us = (time.time_ns() + (start_ns - time.monotonic_ns())
                                             + warmup_ns) // 1000

    async def send_schedule(self, schedule: Iterable[tuple[int, Draft]], start_ns: int, *,
                            stop: asyncio.Event | None = None) -> OpenLoopScheduler[Any]:
        """Send ``schedule`` open loop from ``start_ns`` (monotonic)."""
        if self.sender is None:
            raise LifecycleError(f"simulation {self.run_id} is not started or does not send")
        sender = self.sender
        rotation = self.config.rotation()
        if rotation is not None:
            sender.generation_of = lambda now_ns: rotation.generation_at(now_ns - start_ns)
        self.follow_schedule(start_ns)
        next_sweep = time.monotonic()

        def due() -> None:
            nonlocal next_sweep
            if time.monotonic() >= next_sweep:  # timeouts apply while sending too
                self.check_stages()
                self.sweep()
                next_sweep = time.monotonic() + 0.1

        async def submit(draft: Draft, intended_ns: int) -> asyncio.Future[Any]:
            due()
            return await sender.submit(draft, intended_ns)

        async def submit_prepared(prepared: Prepared, intended_ns: int) -> asyncio.Future[Any]:
            due()
            return await sender.submit_prepared(prepared, intended_ns)

        # yield after every late submit: a sender behind its schedule must not starve the
        # routers and recipients of its own worker (they would look slower than they are)
        scheduler: OpenLoopScheduler[Any]
        if self.sign_ahead is None:
            scheduler = self.scheduler = OpenLoopScheduler(
                schedule, start_ns=start_ns, lag=self.metrics.schedule_lag, yield_every=1)
            await scheduler.run(submit, stop=stop)
        else:
            scheduler = self.scheduler = OpenLoopScheduler(
                self.sign_ahead.schedule(schedule, start_ns), start_ns=start_ns,
                lag=self.metrics.schedule_lag, yield_every=1)
            await scheduler.run(submit_prepared, stop=stop)
        if self.ledger is not None:  # the tracker process: nothing more will be sent
            await self.ledger.close()
        if scheduler.failed_sends:
            self.metrics.record_send_errors("produce_failed", scheduler.failed_sends)
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
        unrotated = [self.topics.ledger] if self.parts.tracks_alone else []

        def update() -> None:
            generations = rotation.read(time.monotonic_ns() - start_ns)
            if self.loop is not None:  # a generation that leaves is read to its end first
                self.loop.want([name for g in generations
                                for name in self.topics.generation(self.topology.platforms, g)
                                if self.dispatcher.reads(name)] + unrotated)
            if self.producer is not None:  # deleted generations leave the producer's metadata
                held = self.oldest_generation_held()
                self.producer.retain(partial(_not_before, generations.start if held is None
                                             else min(held, generations.start)))

        async def follow() -> None:
            while True:
                update()
                await asyncio.sleep(0.5)

        update()
        task = asyncio.create_task(follow(), name="rotation")
        self._stack.callback(task.cancel)

    def oldest_generation_held(self) -> int | None:
        """With topic rotation, the oldest generation this process still needs: one its loop
        reads or drains — and, for a tracker process, the oldest one it needed when its
        checkpoint on disk was taken (a restart resumes from there). The coordinator deletes no
        generation a worker holds. None: no rotation, or nothing read yet.

        A tracker does not hold the generations of deliveries merely not over: once every loop
        has read a generation to its end after its window, nobody would read a late status in
        it anyway, and a stalled lifecycle would otherwise stop all deletion for the rest of
        the run."""
        now = self._generation_needed_now()
        checkpoint = self.checkpoint
        if checkpoint is None or now is None:
            return now
        if not checkpoint.durable:  # a restart would rebuild from what is on the bus
            return self.first_generation or 0
        return min(now, checkpoint.held_when_saved if checkpoint.held_when_saved is not None
                   else now)

    def _generation_needed_now(self) -> int | None:
        """What this process's live state needs (``oldest_generation_held`` without the
        checkpoint's view)."""
        if self.config.rotation() is None or self._schedule_start_ns is None:
            return None
        if self.feed is not None and self.feed.catching_up:
            return self.first_generation or 0  # a rebuilding tracker's backlog may be anywhere
        held = [] if self.loop is None else [
            g for g in map(TopicNames.generation_of, self.loop.holds) if g is not None]
        return min(held, default=None)

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
            self.tracker.sweep(self._read_through_ns())

    def _read_through_ns(self) -> int:
        """Now, or (monotonic) the time up to which this process has read the statuses, if its
        loop lags: a 01 written in time but not read yet is not lost."""
        now = time.monotonic_ns()
        through_ms = self.loop.read_through_ms() if self.loop is not None else None
        if through_ms is None:
            return now
        return min(now, through_ms * 1_000_000 + now - time.time_ns())

    async def follow_senders(self) -> None:
        """A tracker process while its senders send: sweep until every sender of its shard
        wrote its end mark on the ledger."""
        if self.feed is None:
            raise LifecycleError(f"simulation {self.run_id} does not track from the ledger")
        while not self.feed.senders_done:
            self.check_stages()
            self.sweep()
            await asyncio.sleep(0.1)

    async def observe(self, stop: asyncio.Event) -> None:
        """A bus-only run: route, take in and track what outside senders submit until the
        watch says the run is over (``--duration``, ``--idle``) or ``stop`` (Ctrl-C)."""
        watch = self.watch
        if watch is None:
            raise LifecycleError(f"simulation {self.run_id} is not a bus-only run")
        while (ending := watch.due_to_end()) is None:
            self.check_stages()
            self.sweep()
            if stop.is_set():
                ending = Ending.INTERRUPTED
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.1)
        watch.ended_by = ending
        log.info("bus_only_listening_ended", ended_by=ending.value,
                 documents=watch.documents)

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
            **({"at_ns": time.monotonic_ns()} if self.parts.sends else {}),
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
            **({"seen": self.watch.documents} if self.watch is not None else {}),
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
                await self.finish_recording(recording)
        finally:
            await self.stop()
        return self.report(load_s, setup_s=send_began - began, send_s=send_s)

    def start_recording(self) -> RunRecording | None:
        if self.config.record_path is None:
            return None
        trust = (self.pki.export(), *self.trusted) if self.pki is not None else self.trusted
        recording = RunRecording(self.run_plan, self.broker, self.events.codec.registry,
                                 trust=trust)
        recording.start()
        self._stack.callback(recording.cancel)
        return recording

    async def finish_recording(self, recording: RunRecording) -> None:
        self.recorded = await recording.finish()

    def run_facts(self, setup_s: float = 0.0, workers: int = 1) -> dict[str, Any]:
        return run_facts(self.run_plan, self.broker, started_at=self.started_at,
                         bootstrap_source=self.bootstrap_source, setup_s=setup_s,
                         workers=workers, recorded=self.recorded)

    def topology_facts(self) -> dict[str, Any]:
        return self.run_plan.topology_facts()

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

