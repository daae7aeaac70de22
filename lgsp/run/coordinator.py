"""The coordinator of a run: one broker, one PKI, N worker shards, one merged report.

The coordinator starts the embedded broker (unless ``--bootstrap``), creates the run's topics,
issues every sender's certificates once (workers get the CA and certificates; keys come from the
shared key cache), starts the workers — in its own event loop for one worker, as processes for
more — and gives them one schedule start. It relays their snapshots as live progress, stops them
on Ctrl-C, lets them finish once every worker's documents have settled (their routers and agents
serve each other until then), and merges their exact metrics into the report.

Several hosts can run parts of one load: ``--host-shard 2/3`` runs the second third of the
agencies; each host writes its own report and ``lgsp report merge`` adds them up exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import multiprocessing
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import structlog

from lgsp.bus.barrier import HostBarrier
from lgsp.bus.reachability import BrokerWatch
from lgsp.bus.revocations import publish_revocations
from lgsp.bus.rotation import TopicRotator
from lgsp.bus.shard import Shard
from lgsp.codec import AvroCodec, EventCodec
from lgsp.codec.registry import FileSchemaRegistry
from lgsp.codec.rest_registry import RestSchemaRegistry
from lgsp.config import BrokerConfig
from lgsp.errors import BrokerError, ConfigError, LgspError, LifecycleError
from lgsp.metrics.bus_only_report import bus_only_report
from lgsp.metrics.histogram import Histogram
from lgsp.metrics.report import build_report
from lgsp.metrics.run import RunMetrics
from lgsp.metrics.state import from_state, merge
from lgsp.run.bus_setup import open_bus
from lgsp.run.config import SimulationConfig
from lgsp.run.credentials import issue_run_pki, trust_run_pki
from lgsp.run.plan import RunPlan
from lgsp.run.platform_watch import PlatformWatch
from lgsp.run.protocol import (
    Abort,
    Begin,
    Channel,
    Eof,
    Failed,
    Finish,
    Message,
    PipeChannel,
    QueueChannel,
    Ready,
    Result,
    Sent,
    Settled,
    Snapshot,
    State,
    Stop,
    WorkerError,
    WorkerState,
)
from lgsp.run.readiness import Readiness, wait_until_ready
from lgsp.run.recording import RunRecording, run_facts
from lgsp.run.roles import BUS_ONLY, RECEIVE, ROLES, ROUTE, SEND, TRACK, RoleParts
from lgsp.run.worker import WorkerSpec, process_main, run_worker
from lgsp.signing.pki import Pki, PkiExport

log = structlog.get_logger(__name__)

READY_TIMEOUT_S = 240.0
START_MARGIN_NS = 300_000_000
"""The schedule starts this long after the last worker is ready, so all begin on time."""
FINISH_TIMEOUT_S = 60.0
ABORT_TIMEOUT_S = 10.0
"""After a failure, how long workers get to report what they confirmed (then they are killed)."""
MAX_RESTARTS = 20
"""A bus worker that dies more often than this ends the run (something is wrong, not a test)."""
POLL_S = 0.2
"""How long the coordinator waits for a worker's message before it looks around (restarts,
Ctrl-C, rotation, live figures)."""
LiveProgress = Callable[[str, dict[str, Any]], None]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HostShard:
    """This host's part of a load spread over several hosts: ``index`` of ``count`` (0-based)."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> HostShard:
        """``I/N`` with 1 <= I <= N, as a user writes it."""
        try:
            index, count = (int(v) for v in text.split("/"))
        except ValueError:
            raise ConfigError(f"--host-shard {text!r} must look like 1/2 (this host is the first "
                              "of two)") from None
        if count < 1 or not 1 <= index <= count:
            raise ConfigError(f"--host-shard {text!r}: I/N needs N >= 1 hosts and this host's "
                              "number I in 1..N")
        return cls(index - 1, count)


@dataclass(slots=True)
class _Worker:
    shard: Shard
    channel: Channel
    process: Any = None
    task: asyncio.Task[int] | None = None
    snapshot: dict[str, Any] = field(default_factory=dict)
    state: WorkerState = WorkerState.STARTING
    result: Result | None = None
    error: WorkerError | None = None
    spec: WorkerSpec | None = None
    last_state: dict[str, Any] | None = None
    """A routing/recipient worker's latest metrics state (kept if it dies)."""
    holds: int | None = None
    """With topic rotation: the oldest generation it said it still needs."""

    @property
    def parts(self) -> RoleParts:
        return RoleParts(ROLES if self.spec is None else self.spec.roles)

    @property
    def sends(self) -> bool:
        return self.parts.sends

    @property
    def settles(self) -> bool:
        """Whether the run waits for this worker to settle (it sends or tracks)."""
        return self.parts.settles

    @property
    def restartable(self) -> bool:
        """A router, recipient or tracker process: started again when it dies (a sender is
        the load itself and is not)."""
        return self.spec is not None and self.parts.restartable

    @property
    def name(self) -> str:
        return f"{self.parts.name} {self.shard}"


class LoadRun:
    """Runs one load with ``workers`` shards on this host and returns the merged report."""

    def __init__(self, config: SimulationConfig, broker: BrokerConfig, *, workers: int = 1,
                 host: HostShard | None = None, progress: LiveProgress | None = None,
                 log_format: str = "json", log_level: str = "warning",
                 bus_workers: int = 0) -> None:
        """``bus_workers`` > 0: a crash-tolerant run — the ``workers`` only send, each followed
        by a tracker process that learns what was sent from the senders' ledger, and the
        platforms' routers and the recipients run in ``bus_workers`` router processes and as
        many recipient processes; routers, recipients and trackers are restarted (recovering
        their state from the bus) when they die."""
        if workers < 1:
            raise ConfigError("--workers must be at least 1")
        if bus_workers < 0:
            raise ConfigError("--bus-workers must be 0 or more")
        if bus_workers > broker.partitions:
            raise ConfigError(f"{bus_workers} bus workers need --partitions of at least "
                              f"{bus_workers} (now {broker.partitions})")
        self.bus_workers = bus_workers
        self.restarts: Counter[str] = Counter()
        """Bus workers restarted after dying, by name."""
        self.recorded: int | None = None
        """Records captured by ``--record``."""
        self.lost_states: list[dict[str, Any]] = []
        """The last metrics states of bus workers that died (merged into the report)."""
        self.config = config
        self.broker = broker
        self.workers = workers
        self.host = host or HostShard()
        total = workers * self.host.count
        if broker.partitions < total:
            raise ConfigError(f"{total} workers need --partitions of at least {total} (now "
                              f"{broker.partitions})")
        self.shards = [Shard(self.host.index * workers + i, total, broker.partitions)
                       for i in range(workers)]
        self.progress = progress or (lambda _event, _data: None)
        self.log_format = log_format
        self.log_level = log_level
        if config.bus_only is not None and (workers != 1 or bus_workers or self.host.count > 1):
            raise ConfigError("--bus-only runs in one process: leave out --workers, "
                              "--bus-workers and --host-shard")
        self.plan = RunPlan.of(config)
        self.shape = None if config.bus_only is not None else config.load_shape()
        """The schedule (None: a bus-only run has none)."""
        self.run_id = self.plan.run_id
        self.started_at: dt.datetime | None = None
        self.bus_broker = broker
        """The broker of the run once it is set up (the embedded one's bootstrap)."""
        self.rotator: TopicRotator | None = None
        self.barrier: HostBarrier | None = None
        self.live: dict[str, Any] = {}
        """The latest merged snapshot (live progress, Prometheus)."""
        self.all_workers: list[_Worker] = []
        self.watch: BrokerWatch | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._rotating: asyncio.Task[None] | None = None
        self._begun = False
        self._finishing = False
        self._reap_timeout_s = FINISH_TIMEOUT_S
        self.readiness: Readiness | None = None
        """How the external parties answered their probes (``--external``)."""
        self.platform_watch: PlatformWatch | None = None
        """Follows what outside routers read and write (``--external platform=…``)."""
        self.platform_metrics: RunMetrics | None = None
        """Their grades, merged into the report."""

    async def run(self, stop: asyncio.Event | None = None) -> dict[str, Any]:
        stop = stop or asyncio.Event()
        began = time.monotonic()
        self.started_at = dt.datetime.now(dt.UTC)
        plan = self.plan
        async with contextlib.AsyncExitStack() as stack:
            own = [plan.topics.control] + ([plan.topics.ledger] if self.bus_workers else [])
            broker = self.bus_broker = await open_bus(
                stack, self.broker, [*plan.bus_topics(), *own],
                clean_up=not self.config.keep_topics and self.host.index == 0)
            rotation = self.config.rotation()
            self.rotator = None if rotation is None else TopicRotator(
                rotation, plan.topics, plan.topology.platforms, broker)
            if self.rotator is not None:
                await self.rotator.prepare()
                if self.broker.bootstrap is not None and not self.config.keep_topics:
                    stack.push_async_callback(self.rotator.delete_remaining)
            bus_only = self.config.bus_only is not None
            senders = [] if bus_only else await asyncio.to_thread(plan.senders)
            senders = [c for c in senders if any(shard.owns(c) for shard in self.shards)]
            trusted_beside: tuple[PkiExport, ...] = ()
            if bus_only:  # it issues nothing: it trusts the senders' CA
                run_pki, trusted_beside = await asyncio.to_thread(trust_run_pki, self.config)
            else:
                self.progress("pki", {"agencies": len(senders)})
                recipients = (await asyncio.to_thread(plan.recipients)
                              if self.config.seals_required else [])
                run_pki = await asyncio.to_thread(issue_run_pki, self.config, plan.topology,
                                                  senders, recipients)
            pki = run_pki.export()
            if pki.revoked_serials():  # the CA revokes before the run; verifiers follow the topic
                await publish_revocations(broker, plan.topics.revocations,
                                          pki.revoked_serials())
            self.barrier = HostBarrier(broker, plan.topics.control,
                                       host=self.host.index, hosts=self.host.count)
            exports = await _unless_stopped(self.barrier.arrive(
                "pki", timeout_s=READY_TIMEOUT_S, payload=pki.to_json()), stop)
            trusted = trusted_beside + tuple(PkiExport.from_json(v)
                                             for host, v in sorted(exports.items())
                                             if host != self.host.index)
            config = _with_run_id(self.config, self.run_id)
            pki_file = stack.enter_context(tempfile.TemporaryDirectory(prefix="lgsp-pki-"))
            pki_path = Path(pki_file) / "pki.json"
            pki_path.write_text(json.dumps({  # its workers issue too (recipients' seals)
                "own": run_pki.export(with_key=True).to_json(),
                "trusted": [t.to_json() for t in trusted]}))
            roles = BUS_ONLY if bus_only else frozenset({SEND}) if self.bus_workers else ROLES
            workers = [self._spawn(WorkerSpec(config, broker, shard, pki_path, tuple(senders),
                                              self.log_format, self.log_level, roles=roles))
                       for shard in self.shards]
            workers.extend(self._spawn(WorkerSpec(  # each sender's tracker, in its own process
                config, broker, shard, pki_path, tuple(senders), self.log_format,
                self.log_level, roles=frozenset({TRACK}), state_dir=pki_path.parent),
                own_process=True)
                for shard in (self.shards if self.bus_workers else ()))
            workers.extend(self._spawn(WorkerSpec(
                config, broker, Shard(i, self.bus_workers, broker.partitions), pki_path,
                tuple(senders), self.log_format, self.log_level, roles=frozenset({role})),
                own_process=True)
                for role in ((ROUTE, RECEIVE) if self.bus_workers else ())
                for i in range(self.bus_workers))
            self.all_workers = workers
            stack.push_async_callback(self._reap, workers)
            recording = None
            if self.config.record_path is not None:
                recording = RunRecording(plan, broker, FileSchemaRegistry()
                                         if self.config.registry_url is None
                                         else RestSchemaRegistry(self.config.registry_url),
                                         trust=(pki, *trusted))
                recording.start()
                stack.callback(recording.cancel)
            inbox: asyncio.Queue[tuple[int, Message]] = asyncio.Queue()
            readers = [asyncio.create_task(self._read(i, w, inbox)) for i, w in enumerate(workers)]
            self._readers = readers
            stack.callback(lambda: [r.cancel() for r in self._readers])
            await self._until(workers, inbox, WorkerState.READY, READY_TIMEOUT_S, stop)
            if self.config.external.platforms:
                self.platform_watch = PlatformWatch(plan, broker, self._events())
                self.platform_watch.start()
                stack.callback(self.platform_watch.cancel)
            if self.config.external:  # after the workers: a router's probe needs recipients
                self.readiness = await self._external_ready(run_pki, stop)
            await _unless_stopped(self.barrier.arrive("ready", timeout_s=READY_TIMEOUT_S), stop)
            setup_s = time.monotonic() - began
            start_ns = time.monotonic_ns() + START_MARGIN_NS
            if self.platform_watch is not None:  # an outside router's hop after the warm-up
                self.platform_watch.measure_from(time.time() * 1000 + START_MARGIN_NS / 1e6
                                                 + self.config.warmup_s * 1000)
            for worker in workers:
                worker.channel.send(Begin(start_ns))
            self._begun = True
            self.progress("started", {"workers": self.workers, "bus_only": bus_only,
                                      "bus_processes": len(workers) - self.workers})
            if self.bus_workers:
                self.progress("bus_workers", {"processes": self.bus_processes()})
            if self.config.bus_only is not None:
                self.progress("bus_only", {
                    "run_id": self.run_id, "bootstrap": broker.bootstrap,
                    "inbound": plan.topics.inbound("<platform>"),
                    "platforms": len(plan.topology.platforms),
                    "window_s": self.config.bus_only.window_s,
                    "idle_s": self.config.bus_only.idle_s})
            self.watch = BrokerWatch(str(broker.bootstrap),
                                     lost_after_s=self.config.broker_timeout_s)
            self.watch.start()
            stack.push_async_callback(self.watch.stop)
            if self.rotator is not None:
                self._rotating = asyncio.create_task(self._rotate(self.rotator, start_ns),
                                                     name="rotation")
                stack.callback(self._rotating.cancel)
            failure: LgspError | None = None
            try:
                await self._drive(workers, inbox, stop, start_ns)
            except LgspError as exc:  # the broker lost, a stage failed: report what was confirmed
                failure = exc
                log.error("run_failed", error=str(exc))
                await self._collect(workers, inbox)
            duration_s = (time.monotonic_ns() - start_ns) / 1e9
            if recording is not None and failure is None:
                self.recorded = await recording.finish()
            if self.platform_watch is not None and failure is None:
                self.platform_metrics = await self.platform_watch.finish()
        report = self._report(workers, duration_s, setup_s, stopped=stop.is_set())
        if failure is not None:
            report["run"]["error"] = str(failure)
            report["run"]["exit_code"] = failure.exit_code
        return report

    # ---- setup ----------------------------------------------------------------------------------
    async def _external_ready(self, run_pki: Pki, stop: asyncio.Event) -> Readiness:
        """Probe every external party until it answers (``lgsp.run.readiness``)."""
        plan, external = self.plan, self.config.external
        self.progress("external_wait", {
            "deliver": {code: plan.topics.deliver(plan.topology.agency(code).platform)
                        for code in external.recipients},
            "routers": {platform: plan.topics.inbound(platform)
                        for platform in external.platforms},
            "timeout_s": external.ready_timeout_s})
        readiness = await _unless_stopped(wait_until_ready(
            parties=external, topology=plan.topology, topics=plan.topics,
            broker=self.bus_broker, pki=run_pki, events=self._events(),
            on_resend=lambda code, left_s: self.progress(
                "external_probe", {"recipient": code, "left_s": left_s})), stop)
        self.progress("external_ready", {"after_s": readiness.answered_after_s})
        return readiness

    def _events(self) -> EventCodec:
        return EventCodec(AvroCodec(FileSchemaRegistry() if self.config.registry_url is None
                                    else RestSchemaRegistry(self.config.registry_url)))

    def _spawn(self, spec: WorkerSpec, *, own_process: bool = False) -> _Worker:
        if self.workers == 1 and not own_process:
            mine, theirs = QueueChannel.pair()
            worker = _Worker(spec.shard, mine, spec=spec)
            worker.task = asyncio.create_task(run_worker(spec, theirs), name=f"worker {spec.shard}")
            return worker
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        name = "-".join(sorted(spec.roles)) if spec.roles != ROLES else "worker"  # process title
        process = context.Process(target=process_main, args=(spec, child),
                                  name=f"lgsp-{name}-{spec.shard.index}", daemon=True)
        process.start()  # small arguments: a child killed while starting never blocks the pipe
        child.close()
        return _Worker(spec.shard, PipeChannel(parent), process=process, spec=spec)

    def bus_processes(self) -> dict[str, int]:
        """name → pid of the live router, recipient and tracker processes (``bus_workers``)."""
        return {w.name: w.process.pid for w in self.all_workers
                if w.restartable
                and w.state in (WorkerState.READY, WorkerState.SENT, WorkerState.SETTLED)
                and w.process is not None and w.process.is_alive()}

    # ---- the conversation ---------------------------------------------------------------------
    @staticmethod
    async def _read(index: int, worker: _Worker, inbox: asyncio.Queue[tuple[int, Message]]
                    ) -> None:
        while True:
            message = await worker.channel.receive()
            await inbox.put((index, message))
            if isinstance(message, Eof):
                return

    def _handle(self, worker: _Worker, message: Message) -> None:
        match message:
            case Snapshot(figures, holds):
                worker.snapshot = figures
                worker.holds = holds
            case State(metrics, holds):
                worker.last_state = metrics
                worker.holds = holds
            case Ready():
                worker.state = WorkerState.READY
            case Sent():
                worker.state = WorkerState.SENT
            case Settled():
                worker.state = WorkerState.SETTLED
            case Result():
                worker.result = message
                worker.state = WorkerState.RESULT
            case Failed(error, confirmed):
                worker.error = error
                worker.result = confirmed  # what it had confirmed before failing
                worker.state = WorkerState.FAILED
            case Eof() if not worker.state.final:
                code = worker.process.exitcode if worker.process is not None else None
                if worker.restartable and self._begun and not self._finishing:
                    worker.state = WorkerState.DIED  # restarted by _drive
                    return
                worker.error = WorkerError("BrokerError",
                                           f"worker {worker.name} died (exit code {code})", 4)
                worker.state = WorkerState.FAILED
            case Eof():
                pass
            case _:
                raise LifecycleError(f"worker {worker.name} sent {message!r}, which only the "
                                     "coordinator sends")

    async def _rotate(self, rotator: TopicRotator, start_ns: int) -> None:
        """Create topic generations ahead and delete those over and released by every worker,
        on a clock of its own: a restart or a busy message loop never delays a generation."""
        while True:
            await rotator.tick(time.monotonic_ns() - start_ns, held_from=self._held_from(rotator))
            await asyncio.sleep(POLL_S)

    def _held_from(self, rotator: TopicRotator) -> int:
        """The oldest generation a worker still needs; a reader that is (re)starting or has
        not said yet holds everything not deleted (its previous life may have left any of it
        unread)."""
        floor = rotator.deleted + 1
        held = [floor if w.state in (WorkerState.STARTING, WorkerState.DIED)
                or w.holds is None else w.holds
                for w in self.all_workers
                if w.parts.roles != {SEND} and not w.state.final]
        return min(held, default=rotator.created + 1)

    async def _next_message(self, workers: list[_Worker],
                            inbox: asyncio.Queue[tuple[int, Message]]) -> None:
        """Handle the next message of any worker, waiting at most ``POLL_S`` for one."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(POLL_S):
                index, message = await inbox.get()
                self._handle(workers[index], message)

    async def _until(self, workers: list[_Worker], inbox: asyncio.Queue[tuple[int, Message]],
                     state: WorkerState, timeout_s: float, stop: asyncio.Event) -> None:
        deadline = time.monotonic() + timeout_s
        while not all(w.state == state for w in workers):
            if stop.is_set():  # first: a Ctrl-C may also have killed a worker still starting
                raise KeyboardInterrupt
            self._raise_if_failed(workers)
            if time.monotonic() > deadline:
                raise BrokerError(f"workers not {state} after {timeout_s:.0f} s")
            await self._next_message(workers, inbox)
        self._raise_if_failed(workers)

    @staticmethod
    def _raise_if_failed(workers: list[_Worker]) -> None:
        for worker in workers:
            if worker.error is not None:
                raise worker.error.to_exception()

    async def _drive(self, workers: list[_Worker], inbox: asyncio.Queue[tuple[int, Message]],
                     stop: asyncio.Event, start_ns: int) -> None:
        """Relay progress until every worker sent its result (or one failed)."""
        told_stop = told_finish = False
        last_live = 0.0
        while not all(w.state is WorkerState.RESULT for w in workers):
            for index, worker in enumerate(workers):
                if worker.state is WorkerState.DIED:
                    await self._restart(index, workers, inbox, start_ns)
            self._raise_if_failed(workers)
            if self.watch is not None:
                self.watch.check()
            if stop.is_set() and not told_stop:
                told_stop = True
                for worker in workers:
                    worker.channel.send(Stop())
            if not told_finish and all(w.state in (WorkerState.SETTLED, WorkerState.RESULT)
                                       for w in workers if w.settles):
                told_finish = self._finishing = True
                await self._hosts_settled()
                for worker in workers:
                    worker.channel.send(Finish())
            await self._next_message(workers, inbox)
            if self._rotating is not None and self._rotating.done():
                self._rotating.result()  # a topic generation could not be created or deleted
            if time.monotonic() - last_live >= 1.0:
                last_live = time.monotonic()
                self._publish_live(workers, start_ns)
        self._publish_live(workers, start_ns)

    async def _restart(self, index: int, workers: list[_Worker],
                       inbox: asyncio.Queue[tuple[int, Message]], start_ns: int) -> None:
        """A routing, recipient or tracker worker died: start it again on the same partitions
        (recipients first read back what they already answered, a tracker rebuilds from the
        ledger and the statuses), then let it join the running schedule."""
        dead = workers[index]
        if dead.last_state is not None:
            self.lost_states.append(dead.last_state)
        self.restarts[dead.name] += 1
        if self.restarts[dead.name] > MAX_RESTARTS:
            dead.error = WorkerError("BrokerError",
                                     f"{dead.name} died {MAX_RESTARTS + 1} times; giving up", 4)
            dead.state = WorkerState.FAILED
            return
        if dead.process is not None:
            await asyncio.to_thread(dead.process.join, 5)
            dead.channel.detach()
        code = dead.process.exitcode if dead.process is not None else None
        log.warning("bus_worker_restarting", worker=dead.name, exit_code=code,
                    restart=self.restarts[dead.name])
        assert dead.spec is not None  # noqa: S101 - bus workers always have one
        first = None if self.rotator is None else self.rotator.deleted + 1
        fresh = self._spawn(dataclasses.replace(dead.spec, recover=True, start_ns=start_ns,
                                                first_generation=first),
                            own_process=True)
        workers[index] = fresh
        self._readers.append(asyncio.create_task(self._read(index, fresh, inbox)))
        deadline = time.monotonic() + READY_TIMEOUT_S
        while fresh.state is not WorkerState.READY:
            self._raise_if_failed([fresh])
            if fresh.state is WorkerState.DIED or time.monotonic() > deadline:
                raise BrokerError(f"{fresh.name} did not come back after a restart")
            await self._next_message(workers, inbox)
        fresh.channel.send(Begin(start_ns))
        self.progress("restarted", {"worker": fresh.name, "exit_code": code,
                                    "pid": fresh.process.pid if fresh.process else None})

    async def _collect(self, workers: list[_Worker],
                       inbox: asyncio.Queue[tuple[int, Message]]) -> None:
        """After a failure: abort every worker and take what each had confirmed (bounded)."""
        self._finishing = True
        self._reap_timeout_s = ABORT_TIMEOUT_S
        for worker in workers:
            if not worker.state.final:
                worker.channel.send(Abort())
        deadline = time.monotonic() + ABORT_TIMEOUT_S
        while (any(not w.state.final and w.state is not WorkerState.DIED for w in workers)
               and time.monotonic() < deadline):
            await self._next_message(workers, inbox)

    async def _hosts_settled(self) -> None:
        """Other hosts' documents may still need this host's routers and agents: wait for every
        host to settle before finishing (bounded like a settle)."""
        if self.barrier is not None and self.host.count > 1:
            self.progress("hosts", {"hosts": self.host.count})
            await self.barrier.arrive("settled", timeout_s=self.config.settle_timeout_s
                                      + self.config.ack_timeout_s)

    def _publish_live(self, workers: list[_Worker], start_ns: int) -> None:
        snapshots = [w.snapshot for w in workers if w.snapshot]
        if not snapshots:
            return
        live: dict[str, Any] = {"elapsed_s": round((time.monotonic_ns() - start_ns) / 1e9, 1),
                                "workers": len(workers)}
        latency = Histogram()
        for snapshot in snapshots:
            for key, value in snapshot.items():
                if key == "send_to_arrived":
                    latency.merge(Histogram.decode(value))
                elif key == "behind_ms":
                    live[key] = max(live.get(key, 0.0), value)
                elif key == "at_ns":  # the newest sender's snapshot: "due" is counted then
                    live[key] = max(live.get(key, value), value)
                else:
                    live[key] = live.get(key, 0) + value
        # workers snapshot on the same ticks of the schedule clock (ms apart), so the newest
        # instant is one at which every sender had counted what it sent: sent <= due on schedule
        at_ns = live.get("at_ns", time.monotonic_ns())
        if self.shape is None:  # a bus-only run: no schedule, what it saw
            self._publish_seen(live, latency, at_ns)
            return
        as_of_s = (at_ns - start_ns) / 1e9
        if self.host.count == 1:  # the schedule's own count of documents due by now
            live["target"] = self.shape.due_by(as_of_s, self.config.documents)
        live["schedule_done"] = as_of_s >= self.shape.duration_s
        live["in_warmup"] = as_of_s < self.config.warmup_s  # latency leaves it out, as the report
        previous = self.live
        span = (at_ns - previous["at_ns"]) / 1e9 if previous.get("at_ns") else 0.0
        if live["schedule_done"] and self.shape.duration_s > 0:
            # the schedule is over: its rates as a whole, not those of the last second's tail
            live["target_rate"] = round(live["target"] / self.shape.duration_s, 1)
            live["achieved_rate"] = round(live["sent"] / self.shape.duration_s, 1)
        elif span > 0:  # both rates over the same span of snapshot time
            live["target_rate"] = round((live["target"] - previous["target"]) / span, 1)
            live["achieved_rate"] = round((live["sent"] - previous["sent"]) / span, 1)
        else:  # no newer snapshot since the last line
            live["target_rate"] = previous.get("target_rate", 0.0)
            live["achieved_rate"] = previous.get("achieved_rate", 0.0)
        live["at_ns"] = at_ns
        found = latency.percentiles_us(50, 99)
        live["p50_ms"] = round(found[50] / 1000, 1)
        live["p99_ms"] = round(found[99] / 1000, 1)
        live["errors"] = sum(live.get(k, 0) for k in ("rejected", "undeliverable", "lost",
                                                      "send_failed", "dead_letters"))
        live["send_to_arrived"] = latency
        self.live = live
        self.progress("live", live)

    def _publish_seen(self, live: dict[str, Any], latency: Histogram, at_ns: int) -> None:
        """The live figures of a bus-only run: documents seen, not a schedule's progress."""
        found = latency.percentiles_us(50, 99)
        live.update(bus_only=True, at_ns=at_ns, p50_ms=round(found[50] / 1000, 1),
                    p99_ms=round(found[99] / 1000, 1), send_to_arrived=latency,
                    errors=sum(live.get(k, 0) for k in ("rejected", "undeliverable", "lost",
                                                        "dead_letters")))
        self.live = live
        self.progress("live", live)

    async def _reap(self, workers: list[_Worker]) -> None:
        """Leave no worker behind: ask, wait, then kill."""
        for worker in workers:
            if not worker.state.final:
                worker.channel.send(Stop())
                worker.channel.send(Finish())
        deadline = time.monotonic() + self._reap_timeout_s
        for worker in workers:
            if worker.task is not None:
                with contextlib.suppress(TimeoutError, Exception):
                    async with asyncio.timeout(max(deadline - time.monotonic(), 0.1)):
                        await worker.task
                worker.task.cancel()
            if worker.process is not None:
                await asyncio.to_thread(worker.process.join, max(deadline - time.monotonic(), 1))
                if worker.process.is_alive():
                    worker.process.kill()
                    await asyncio.to_thread(worker.process.join, 5)
                worker.channel.detach()

    # ---- the result ---------------------------------------------------------------------------
    def _report(self, workers: list[_Worker], duration_s: float, setup_s: float, *,
                stopped: bool) -> dict[str, Any]:
        results = [w.result for w in workers if w.result is not None]
        metrics = merge([from_state(r.metrics) for r in results]
                        + [from_state(state) for state in self.lost_states]
                        + ([self.platform_metrics] if self.platform_metrics is not None else []))
        send_s = max((r.facts["send_s"] for r in results), default=0.0)
        run = run_facts(self.plan, self.bus_broker, started_at=self.started_at,
                        bootstrap_source="external" if self.broker.bootstrap else "embedded",
                        setup_s=setup_s, workers=self.workers, recorded=self.recorded)
        run["host_shard"] = f"{self.host.index + 1}/{self.host.count}"
        if self.bus_workers:
            run["bus_workers"] = self.bus_workers
            run["restarts"] = dict(sorted(self.restarts.items()))
        run["per_worker"] = [{"worker": str(w.shard),
                              "documents": w.result.metrics["signing"]["documents"],
                              "send_s": round(w.result.facts["send_s"], 3)}
                             for w in workers if w.result is not None and w.sends]
        run["stopped_early"] = stopped
        if self.readiness is not None:
            run["external_ready_after_s"] = self.readiness.answered_after_s
        if self.config.external.platforms:
            run["external_platforms"] = list(self.config.external.platforms)
        report = build_report(metrics, run=run, topology=self.plan.topology_facts(),
                              duration_s=duration_s, send_duration_s=send_s,
                              load=None if self.shape is None else self.shape.describe())
        if self.config.bus_only is not None:
            facts: dict[str, Any] = next((r.facts["bus_only"] for r in results
                                          if "bus_only" in r.facts), {})
            settings = self.config.bus_only
            report["bus_only"] = bus_only_report(
                metrics, facts, inbound=self.plan.topics.inbound("<platform>"),
                idle_s=settings.idle_s, window_s=settings.window_s,
                trust=f"--trust-capture {settings.trust_capture}" if settings.trust_capture
                else f"--pki {self.config.pki_dir}")
        return report


async def _unless_stopped(work: Coroutine[Any, Any, T], stop: asyncio.Event) -> T:
    """``work``, unless Ctrl-C comes first (then KeyboardInterrupt: nothing was sent yet)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([task, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise KeyboardInterrupt
    return task.result()


def _with_run_id(config: SimulationConfig, run_id: str) -> SimulationConfig:
    """The workers' config: the run's id; topics are the coordinator's to delete."""
    return dataclasses.replace(config, run_id=run_id, keep_topics=True)
