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

from lgsp.broker.embedded import EmbeddedBroker
from lgsp.bus.admin import clean_up_topics, create_topics
from lgsp.bus.barrier import HostBarrier
from lgsp.bus.reachability import BrokerWatch
from lgsp.bus.revocations import publish_revocations
from lgsp.bus.rotation import TopicRotator
from lgsp.bus.shard import Shard
from lgsp.config import BrokerConfig
from lgsp.errors import BrokerError, ConfigError, LgspError, LifecycleError
from lgsp.metrics.histogram import Histogram
from lgsp.metrics.report import build_report
from lgsp.metrics.state import from_state, merge
from lgsp.run.config import SimulationConfig
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
from lgsp.run.roles import RECEIVE, ROLES, ROUTE, SEND, TRACK
from lgsp.run.simulation import Simulation
from lgsp.run.worker import WorkerSpec, process_main, restartable, run_worker
from lgsp.signing.pki import Pki, PkiExport
from producers.faults import issue_faulty_seals
from producers.sender import issue_credentials

log = structlog.get_logger(__name__)

READY_TIMEOUT_S = 240.0
START_MARGIN_NS = 300_000_000
"""The schedule starts this long after the last worker is ready, so all begin on time."""
FINISH_TIMEOUT_S = 60.0
ABORT_TIMEOUT_S = 10.0
"""After a failure, how long workers get to report what they confirmed (then they are killed)."""
MAX_RESTARTS = 20
"""A bus worker that dies more often than this ends the run (something is wrong, not a test)."""
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

    @property
    def sends(self) -> bool:
        return self.spec is None or SEND in self.spec.roles

    @property
    def settles(self) -> bool:
        """Whether the run waits for this worker to settle (it sends or tracks)."""
        return self.spec is None or bool(self.spec.roles & {SEND, TRACK})

    @property
    def restartable(self) -> bool:
        """A router, recipient or tracker process: started again when it dies (a sender is
        the load itself and is not)."""
        return self.spec is not None and restartable(self.spec)

    @property
    def name(self) -> str:
        roles = "all" if self.spec is None else "+".join(sorted(self.spec.roles))
        return f"{roles} {self.shard}"


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
        self.planner = Simulation(config, broker)
        self.shape = config.load_shape()
        self.run_id = self.planner.run_id
        self.rotator: TopicRotator | None = None
        self.barrier: HostBarrier | None = None
        self.live: dict[str, Any] = {}
        """The latest merged snapshot (live progress, Prometheus)."""
        self.all_workers: list[_Worker] = []
        self.watch: BrokerWatch | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._begun = False
        self._finishing = False
        self._reap_timeout_s = FINISH_TIMEOUT_S

    async def run(self, stop: asyncio.Event | None = None) -> dict[str, Any]:
        stop = stop or asyncio.Event()
        began = time.monotonic()
        self.planner.started_at = dt.datetime.now(dt.UTC)
        async with contextlib.AsyncExitStack() as stack:
            broker = self.broker
            if broker.bootstrap is None:
                embedded = await stack.enter_async_context(EmbeddedBroker())
                broker = broker.with_bootstrap(embedded.bootstrap)
            self.planner.broker = broker
            topics = self.planner.topics.all_for(self.planner.topology.platforms)
            own = [self.planner.topics.control]
            if self.bus_workers:
                own.append(self.planner.topics.ledger)
            await create_topics(broker, [*topics, *own])
            if (not self.config.keep_topics and self.broker.bootstrap is not None
                    and self.host.index == 0):
                stack.push_async_callback(clean_up_topics, broker, [*topics, *own])
            rotation = self.config.rotation()
            self.rotator = None if rotation is None else TopicRotator(
                rotation, self.planner.topics, self.planner.topology.platforms, broker)
            if self.rotator is not None:
                await self.rotator.prepare()
                if self.broker.bootstrap is not None and not self.config.keep_topics:
                    stack.push_async_callback(self.rotator.delete_remaining)
            senders = await asyncio.to_thread(self.planner.senders)
            senders = [c for c in senders if any(shard.owns(c) for shard in self.shards)]
            self.progress("pki", {"agencies": len(senders)})
            pki = await asyncio.to_thread(self._issue, senders)
            if pki.revoked_serials():  # the CA revokes before the run; verifiers follow the topic
                await publish_revocations(broker, self.planner.topics.revocations,
                                          pki.revoked_serials())
            self.barrier = HostBarrier(broker, self.planner.topics.control,
                                       host=self.host.index, hosts=self.host.count)
            exports = await _unless_stopped(self.barrier.arrive(
                "pki", timeout_s=READY_TIMEOUT_S, payload=pki.to_json()), stop)
            trusted = tuple(PkiExport.from_json(v) for host, v in sorted(exports.items())
                            if host != self.host.index)
            config = _with_run_id(self.config, self.run_id)
            pki_file = stack.enter_context(tempfile.TemporaryDirectory(prefix="lgsp-pki-"))
            pki_path = Path(pki_file) / "pki.json"
            pki_path.write_text(json.dumps({"own": pki.to_json(),
                                            "trusted": [t.to_json() for t in trusted]}))
            roles = frozenset({SEND}) if self.bus_workers else ROLES
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
            recording = self.planner.start_recording()
            inbox: asyncio.Queue[tuple[int, Message]] = asyncio.Queue()
            readers = [asyncio.create_task(self._read(i, w, inbox)) for i, w in enumerate(workers)]
            self._readers = readers
            stack.callback(lambda: [r.cancel() for r in self._readers])
            await self._until(workers, inbox, WorkerState.READY, READY_TIMEOUT_S, stop)
            await _unless_stopped(self.barrier.arrive("ready", timeout_s=READY_TIMEOUT_S), stop)
            setup_s = time.monotonic() - began
            start_ns = time.monotonic_ns() + START_MARGIN_NS
            for worker in workers:
                worker.channel.send(Begin(start_ns))
            self._begun = True
            self.progress("started", {"workers": self.workers,
                                      "bus_processes": len(workers) - self.workers})
            if self.bus_workers:
                self.progress("bus_workers", {"processes": self.bus_processes()})
            self.watch = BrokerWatch(str(broker.bootstrap),
                                     lost_after_s=self.config.broker_timeout_s)
            self.watch.start()
            stack.push_async_callback(self.watch.stop)
            failure: LgspError | None = None
            try:
                await self._drive(workers, inbox, stop, start_ns)
            except LgspError as exc:  # the broker lost, a stage failed: report what was confirmed
                failure = exc
                log.error("run_failed", error=str(exc))
                await self._collect(workers, inbox)
            duration_s = (time.monotonic_ns() - start_ns) / 1e9
            if recording is not None and failure is None:
                await self.planner.finish_recording(*recording)
        report = self._report(workers, duration_s, setup_s, stopped=stop.is_set())
        if failure is not None:
            report["run"]["error"] = str(failure)
            report["run"]["exit_code"] = failure.exit_code
        return report

    # ---- setup ----------------------------------------------------------------------------------
    def _issue(self, senders: list[str]) -> PkiExport:
        pki = Pki(self.config.signature_algorithm, cache_dir=self.config.pki_cache)
        generated = pki.prepare(senders)
        for code in senders:
            issue_credentials(pki, self.planner.topology, code)
        topology = self.planner.topology
        issue_faulty_seals(pki, self.config.faults, senders,
                           lambda code: topology.agency(code).name)
        log.info("pki_ready", algorithm=pki.algorithm.value, agencies=len(senders),
                 keys_generated=generated)
        return pki.export()

    def _spawn(self, spec: WorkerSpec, *, own_process: bool = False) -> _Worker:
        if self.workers == 1 and not own_process:
            mine, theirs = QueueChannel.pair()
            worker = _Worker(spec.shard, mine, spec=spec)
            worker.task = asyncio.create_task(run_worker(spec, theirs), name=f"worker {spec.shard}")
            return worker
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        name = "-".join(sorted(spec.roles)) if spec.roles != ROLES else "worker"
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
            case Snapshot(figures):
                worker.snapshot = figures
            case State(metrics):
                worker.last_state = metrics
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

    async def _until(self, workers: list[_Worker], inbox: asyncio.Queue[tuple[int, Message]],
                     state: WorkerState, timeout_s: float, stop: asyncio.Event) -> None:
        deadline = time.monotonic() + timeout_s
        while not all(w.state == state for w in workers):
            if stop.is_set():  # first: a Ctrl-C may also have killed a worker still starting
                raise KeyboardInterrupt
            self._raise_if_failed(workers)
            if time.monotonic() > deadline:
                raise BrokerError(f"workers not {state} after {timeout_s:.0f} s")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.2):
                    index, message = await inbox.get()
                    self._handle(workers[index], message)
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
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.2):
                    index, message = await inbox.get()
                    self._handle(workers[index], message)
            if self.rotator is not None:
                await self.rotator.tick(time.monotonic_ns() - start_ns)
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
        fresh = self._spawn(dataclasses.replace(dead.spec, recover=True, start_ns=start_ns),
                            own_process=True)
        workers[index] = fresh
        self._readers.append(asyncio.create_task(self._read(index, fresh, inbox)))
        deadline = time.monotonic() + READY_TIMEOUT_S
        while fresh.state is not WorkerState.READY:
            self._raise_if_failed([fresh])
            if fresh.state is WorkerState.DIED or time.monotonic() > deadline:
                raise BrokerError(f"{fresh.name} did not come back after a restart")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.2):
                    i, message = await inbox.get()
                    self._handle(workers[i], message)
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
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.2):
                    index, message = await inbox.get()
                    self._handle(workers[index], message)

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
                elif key == "at_ns":  # the oldest snapshot: "due" is counted at that instant
                    live[key] = min(live.get(key, value), value)
                else:
                    live[key] = live.get(key, 0) + value
        if self.host.count == 1:  # the schedule's own count of documents due by now
            shape = self.shape
            as_of_s = (live.get("at_ns", start_ns) - start_ns) / 1e9
            due = shape.integral(min(max(as_of_s, 0.0), shape.duration_s))
            if self.config.documents is not None:
                due = min(due, self.config.documents)
            live["target"] = int(due)
        previous = self.live
        span = live["elapsed_s"] - previous.get("elapsed_s", 0.0)
        if previous and span > 0:
            live["target_rate"] = round((live["target"] - previous["target"]) / span, 1)
            live["achieved_rate"] = round((live["sent"] - previous["sent"]) / span, 1)
        else:
            live["target_rate"] = live["achieved_rate"] = 0.0
        found = latency.percentiles_us(50, 99)
        live["p50_ms"] = round(found[50] / 1000, 1)
        live["p99_ms"] = round(found[99] / 1000, 1)
        live["errors"] = sum(live.get(k, 0) for k in ("rejected", "undeliverable", "lost",
                                                      "send_failed", "dead_letters"))
        live["send_to_arrived"] = latency
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
                        + [from_state(state) for state in self.lost_states])
        send_s = max((r.facts["send_s"] for r in results), default=0.0)
        run = self.planner.run_facts(setup_s, workers=self.workers)
        run["host_shard"] = f"{self.host.index + 1}/{self.host.count}"
        if self.bus_workers:
            run["bus_workers"] = self.bus_workers
            run["restarts"] = dict(sorted(self.restarts.items()))
        run["per_worker"] = [{"worker": str(w.shard),
                              "documents": w.result.metrics["signing"]["documents"],
                              "send_s": round(w.result.facts["send_s"], 3)}
                             for w in workers if w.result is not None and w.sends]
        run["stopped_early"] = stopped
        return build_report(metrics, run=run, topology=self.planner.topology_facts(),
                            duration_s=duration_s, send_duration_s=send_s,
                            load=self.config.load_shape().describe())


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
