"""A load worker: one ``Simulation`` shard driven by the coordinator over a message channel.

The coordinator and a worker talk in small tuples. Coordinator → worker: ``("begin", start_ns)``
(the shared schedule start on the host's monotonic clock), ``("stop",)`` (stop scheduling: Ctrl-C
or a failed run), ``("finish",)`` (every worker has settled: count what is left, stop, report).
``("abort",)`` (the run failed, e.g. the broker is lost: send what was confirmed at once, no
draining). Worker → coordinator: ``("ready",)``, ``("snapshot", dict)`` about once a second,
``("sent",)``, ``("settled",)``, ``("result", metrics state, facts)`` and ``("error", message,
exit code, metrics state, facts)``.

A worker keeps its routers and recipient agents running after its own documents have settled,
until ``finish``: other workers' documents still pass through its partitions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

import structlog

from lgsp.broker.embedded import die_with_parent
from lgsp.bus.shard import Shard
from lgsp.cli.logging import configure_logging
from lgsp.cli.simulation import ROLES, SEND, TRACK, Simulation, SimulationConfig
from lgsp.config import BrokerConfig
from lgsp.errors import LgspError, StageFailed
from lgsp.metrics.run import RunMetrics
from lgsp.metrics.state import to_state
from lgsp.signing.pki import PkiExport

log = structlog.get_logger(__name__)

EXIT_STAGE_FAILED = 75
"""Exit code of a router, recipient or tracker process whose stage died: the coordinator
restarts it as it restarts a killed one (it recovers its state from the bus)."""
SNAPSHOT_EVERY_S = 1.0
STATE_EVERY_S = 2.0
STAGE_CHECK_EVERY_S = 0.2
Message = tuple[Any, ...]


class RunAborted(LgspError):
    """The coordinator gave up on the run (the broker is lost): report what was confirmed now,
    without draining."""

    def __init__(self) -> None:
        super().__init__("the run was aborted by the coordinator")


class Channel(Protocol):
    def send(self, message: Message) -> None: ...

    async def receive(self) -> Message: ...

    def poll(self) -> Message | None: ...


class QueueChannel:
    """Both ends of an in-process channel (a worker in the coordinator's own event loop)."""

    def __init__(self, inbox: asyncio.Queue[Message], outbox: asyncio.Queue[Message]) -> None:
        self._inbox = inbox
        self._outbox = outbox

    @classmethod
    def pair(cls) -> tuple[QueueChannel, QueueChannel]:
        a: asyncio.Queue[Message] = asyncio.Queue()
        b: asyncio.Queue[Message] = asyncio.Queue()
        return cls(a, b), cls(b, a)

    def send(self, message: Message) -> None:
        self._outbox.put_nowait(message)

    async def receive(self) -> Message:
        return await self._inbox.get()

    def poll(self) -> Message | None:
        try:
            return self._inbox.get_nowait()
        except asyncio.QueueEmpty:
            return None


class PipeChannel:
    """One end of a ``multiprocessing.Pipe`` read through the event loop (no polling thread)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._attached = False

    def attach(self) -> None:
        """Start reading (call inside the running loop)."""
        if not self._attached:
            asyncio.get_running_loop().add_reader(self._connection.fileno(), self._readable)
            self._attached = True

    def detach(self) -> None:
        if self._attached:
            asyncio.get_running_loop().remove_reader(self._connection.fileno())
            self._attached = False

    def _readable(self) -> None:
        try:
            while self._connection.poll():
                self._inbox.put_nowait(self._connection.recv())
        except (EOFError, OSError):
            self.detach()
            self._inbox.put_nowait(("eof",))

    def send(self, message: Message) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self._connection.send(message)

    async def receive(self) -> Message:
        self.attach()
        return await self._inbox.get()

    def poll(self) -> Message | None:
        self.attach()
        try:
            return self._inbox.get_nowait()
        except asyncio.QueueEmpty:
            return None


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    config: SimulationConfig
    broker: BrokerConfig
    shard: Shard
    pki_file: Path
    """JSON of the run's CA and certificates and other hosts' (``own``, ``trusted``): a file, so
    the arguments a worker process is started with stay small."""
    senders: tuple[str, ...]
    log_format: str = "json"
    log_level: str = "warning"
    roles: frozenset[str] = ROLES
    """What this worker does (``lgsp.cli.simulation.ROLES``): all of it, or one part of a
    crash-tolerant run (``--bus-workers``)."""
    recover: bool = False
    """A restarted worker: recipients read back what they already answered before consuming, a
    tracker reads the ledger and the statuses again."""
    state_dir: Path | None = None
    """Where a tracker process keeps its checkpoint (the coordinator's directory of the run)."""
    start_ns: int | None = None
    """A restarted worker: the running schedule's start (a tracker times what it reads back
    against it before the coordinator says ``begin``)."""


def restartable(spec: WorkerSpec) -> bool:
    """A router, recipient or tracker process: the coordinator restarts it when it dies."""
    return SEND not in spec.roles


async def run_worker(spec: WorkerSpec, channel: Channel) -> int:
    """The worker's whole life; every outcome ends with a ``result`` or an ``error`` message —
    except a restartable worker whose stage died: it ends without a word and returns
    ``EXIT_STAGE_FAILED`` (its process exits with it and is restarted). Returns 0 otherwise."""
    try:
        exports = json.loads(spec.pki_file.read_text())
        simulation = Simulation(spec.config, spec.broker, shard=spec.shard,
                                pki=PkiExport.from_json(exports["own"]),
                                trusted=tuple(PkiExport.from_json(t)
                                              for t in exports["trusted"]),
                                roles=spec.roles, recover=spec.recover,
                                checkpoint=None if spec.state_dir is None or spec.roles != {TRACK}
                                else spec.state_dir / f"tracker-{spec.shard.index}.json")
    except (OSError, ValueError, KeyError, LgspError) as exc:
        channel.send(("error", f"worker {spec.shard} could not start: {exc}", 4))
        return 0
    background: list[asyncio.Task[Any]] = []  # the schedule and settling: never outlive the run
    if spec.start_ns is not None:
        simulation.begin_measuring(spec.start_ns)
    try:
        await simulation.start(senders=list(spec.senders))
        channel.send(("ready",))
        message = await channel.receive()
        if message[0] != "begin":
            raise LgspError(f"worker {spec.shard} was told {message[0]!r} before begin")
        # every role counts on the schedule's clock (series intervals, the warm-up's end) and
        # reads the topic generations of its time
        simulation.follow_schedule(message[1])
        stop = asyncio.Event()
        if not spec.roles & {SEND, TRACK}:  # routes and/or takes in documents until finish
            finish = asyncio.create_task(_until_finish(channel, stop))
            await _serve_state(simulation, channel, until=finish)
            await simulation.stop()
            channel.send(("result", to_state(simulation.metrics),
                          {"send_s": 0.0, "run": simulation.run_facts(),
                           "stopped_early": stop.is_set()}))
            return 0
        sending = asyncio.create_task(  # a tracker process: until its senders are done
            simulation.send_schedule(simulation.plan(), message[1], stop=stop)
            if SEND in spec.roles else simulation.follow_senders())
        background.append(sending)
        await _serve(simulation, channel, stop, until=sending)
        sending.result()
        send_s = (max(time.monotonic_ns() - message[1], 0) / 1e9  # from the schedule start
                  if SEND in spec.roles else 0.0)
        channel.send(("sent",))
        settling = asyncio.create_task(simulation.settle(finish=False))
        background.append(settling)
        await _serve(simulation, channel, stop, until=settling)
        settling.result()
        channel.send(("settled",))
        finish = asyncio.create_task(_until_finish(channel, stop))
        await _serve(simulation, channel, stop, until=finish, read=False)
        simulation.finish_tracking()
        await simulation.stop()
        channel.send(("result", to_state(simulation.metrics),
                      {"send_s": send_s, "run": simulation.run_facts(),
                       "stopped_early": stop.is_set()}))
    except StageFailed as exc:
        for task in background:
            task.cancel()
        if not restartable(spec):
            log.error("worker_failed", shard=str(spec.shard), error=str(exc))
            channel.send(("error", str(exc), exc.exit_code, *_confirmed(simulation)))
            return 0
        log.error("stage_failed_restarting", worker="+".join(sorted(spec.roles)),
                  shard=str(spec.shard), error=str(exc))
        await simulation.abort()  # uncommitted work is read again by the next incarnation
        return EXIT_STAGE_FAILED
    except (LgspError, OSError) as exc:
        for task in background:
            task.cancel()
        log.error("worker_failed", shard=str(spec.shard), error=str(exc))
        channel.send(("error", str(exc), getattr(exc, "exit_code", 4),
                      *_confirmed(simulation)))
        if isinstance(exc, RunAborted):
            await simulation.abort()
    except Exception as exc:
        log.exception("worker_crashed", shard=str(spec.shard))
        channel.send(("error", f"worker {spec.shard} crashed: {exc!r}", 1,
                      *_confirmed(simulation)))
    finally:
        await simulation.stop()
    return 0


def _confirmed(simulation: Simulation) -> tuple[dict[str, Any], dict[str, Any]]:
    """A failed worker's metrics: what was confirmed; deliveries still open count as lost or
    incomplete (the report of a failed run says so)."""
    try:
        simulation.finish_tracking()
        return to_state(simulation.metrics), {"send_s": 0.0, "run": simulation.run_facts(),
                                              "stopped_early": True}
    except Exception:
        log.exception("worker_state_unavailable")
        return to_state(RunMetrics()), {"send_s": 0.0, "run": {}, "stopped_early": True}


async def _until_finish(channel: Channel, stop: asyncio.Event) -> None:
    while True:
        message = await channel.receive()
        if message[0] == "abort":
            raise RunAborted()
        if message[0] in ("finish", "eof"):
            return
        if message[0] == "stop":
            stop.set()


async def _serve(simulation: Simulation, channel: Channel, stop: asyncio.Event, *,
                 until: asyncio.Task[Any], read: bool = True) -> None:
    """Send snapshots and obey ``stop`` until ``until`` is done."""
    while not until.done():
        await asyncio.wait([until], timeout=SNAPSHOT_EVERY_S)
        channel.send(("snapshot", simulation.snapshot()))
        while read and (message := channel.poll()) is not None:
            if message[0] == "abort":
                raise RunAborted()
            if message[0] in ("stop", "eof"):
                stop.set()


async def _serve_state(simulation: Simulation, channel: Channel, *,
                       until: asyncio.Task[Any]) -> None:
    """A routing/recipient worker: send its metrics state every few seconds (if it is killed,
    the coordinator keeps what it had counted up to then); raise ``StageFailed`` as soon as its
    stage died (it would otherwise idle until the end while its partitions wait)."""
    last_state = time.monotonic()
    while not until.done():
        await asyncio.wait([until], timeout=STAGE_CHECK_EVERY_S)
        simulation.check_stages()
        if not until.done() and time.monotonic() - last_state >= STATE_EVERY_S:
            last_state = time.monotonic()
            channel.send(("state", to_state(simulation.metrics)))


def process_main(spec: WorkerSpec, connection: Connection) -> None:
    """Entry point of a worker process (spawned by the coordinator)."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    configure_logging(spec.log_format, spec.log_level)
    channel = PipeChannel(connection)

    async def main() -> int:
        try:
            return await run_worker(spec, channel)
        finally:
            channel.detach()

    code = asyncio.run(main())
    connection.close()
    if code:
        raise SystemExit(code)
