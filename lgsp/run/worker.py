"""A load worker: one ``Simulation`` shard driven by the coordinator over a channel, in the
typed protocol of ``lgsp.run.protocol`` (its module docstring has the messages and the worker's
states).

A worker keeps its routers and recipient agents running after its own documents have settled,
until ``Finish``: other workers' documents still pass through its partitions.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import structlog

from lgsp.broker.embedded import die_with_parent
from lgsp.bus.shard import Shard
from lgsp.config import BrokerConfig
from lgsp.errors import LgspError, LifecycleError, RunAborted, StageFailed
from lgsp.logs import configure_logging
from lgsp.metrics.run import RunMetrics
from lgsp.metrics.state import to_state
from lgsp.run import event_loop
from lgsp.run.config import SimulationConfig
from lgsp.run.protocol import (
    EXIT_STAGE_FAILED,
    Abort,
    Begin,
    Channel,
    Eof,
    Failed,
    Finish,
    PipeChannel,
    Ready,
    Result,
    Sent,
    Settled,
    Snapshot,
    State,
    Stop,
    WorkerError,
)
from lgsp.run.roles import ROLES, Role, RoleParts
from lgsp.run.simulation import Simulation
from lgsp.signing.pki import PkiExport

log = structlog.get_logger(__name__)

SNAPSHOT_EVERY_S = 1.0
STATE_EVERY_S = 2.0
STAGE_CHECK_EVERY_S = 0.2


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
    roles: frozenset[Role] = ROLES
    """What this worker does (``lgsp.run.simulation.ROLES``): all of it, or one part of a
    crash-tolerant run (``--bus-workers``)."""
    recover: bool = False
    """A restarted worker: recipients read back what they already answered before consuming, a
    tracker reads the ledger and the statuses again."""
    state_dir: Path | None = None
    """Where a tracker process keeps its checkpoint (the coordinator's directory of the run)."""
    start_ns: int | None = None
    """A restarted worker: the running schedule's start (a tracker times what it reads back
    against it before the coordinator says ``begin``)."""
    first_generation: int | None = None
    """A restarted worker with topic rotation: the oldest generation not deleted (it reads
    every generation from there: its previous life may have left any of them unread)."""


async def run_worker(spec: WorkerSpec, channel: Channel) -> int:
    """The worker's whole life; every outcome ends with a ``result`` or an ``error`` message —
    except a restartable worker whose stage died: it ends without a word and returns
    ``EXIT_STAGE_FAILED`` (its process exits with it and is restarted). Returns 0 otherwise."""
    parts = RoleParts(spec.roles)
    try:
        exports = json.loads(spec.pki_file.read_text())
        simulation = Simulation(spec.config, spec.broker, shard=spec.shard,
                                pki=PkiExport.from_json(exports["own"]),
                                trusted=tuple(PkiExport.from_json(t)
                                              for t in exports["trusted"]),
                                roles=spec.roles, recover=spec.recover,
                                first_generation=spec.first_generation,
                                checkpoint=_checkpoint(spec, parts))
    except (OSError, ValueError, KeyError, LgspError) as exc:
        channel.send(Failed(WorkerError.of(exc, exit_code=4, message=f"worker {spec.shard} "
                                                                     f"could not start: {exc}")))
        return 0
    background: list[asyncio.Task[Any]] = []  # the schedule and settling: never outlive the run
    if spec.start_ns is not None:
        simulation.begin_measuring(spec.start_ns)
    try:
        await simulation.start(senders=list(spec.senders))
        channel.send(Ready())
        match await channel.receive():
            case Begin(start_ns):
                pass
            case Abort():
                raise RunAborted("the run was aborted by the coordinator before it began")
            case Stop() | Finish() | Eof():  # the run ended before it began (Ctrl-C, a failure)
                await simulation.stop()
                channel.send(Result(to_state(simulation.metrics),
                                    {"send_s": 0.0, "run": simulation.run_facts(),
                                     "stopped_early": True}))
                return 0
            case other:
                raise LifecycleError(f"worker {spec.shard} was told {other!r} before Begin")
        # every role counts on the schedule's clock (series intervals, the warm-up's end) and
        # reads the topic generations of its time
        simulation.follow_schedule(start_ns)
        stop = asyncio.Event()
        if not parts.settles:  # routes and/or takes in documents until finish
            finish = asyncio.create_task(_until_finish(channel, stop))
            await _serve_state(simulation, channel, until=finish)
            await simulation.stop()
            channel.send(Result(to_state(simulation.metrics),
                                {"send_s": 0.0, "run": simulation.run_facts(),
                                 "stopped_early": stop.is_set()}))
            return 0
        sending = asyncio.create_task(  # a tracker process: until its senders are done;
            simulation.send_schedule(simulation.plan(), start_ns, stop=stop)  # bus-only: until
            if parts.sends else simulation.observe(stop) if parts.observes  # the window ends
            else simulation.follow_senders())
        background.append(sending)
        await _serve(simulation, channel, stop, until=sending, ticks_from=start_ns)
        sending.result()
        send_s = (max(time.monotonic_ns() - start_ns, 0) / 1e9  # from the schedule start
                  if parts.sends else 0.0)
        channel.send(Sent())
        settling = asyncio.create_task(simulation.settle(finish=False))
        background.append(settling)
        await _serve(simulation, channel, stop, until=settling, ticks_from=start_ns)
        settling.result()
        channel.send(Settled())
        finish = asyncio.create_task(_until_finish(channel, stop))
        await _serve(simulation, channel, stop, until=finish, read=False, ticks_from=start_ns)
        simulation.finish_tracking()
        await simulation.stop()
        channel.send(Result(to_state(simulation.metrics),
                            {"send_s": send_s, "run": simulation.run_facts(),
                             "stopped_early": stop.is_set(),
                             **({"bus_only": simulation.watch.facts()}
                                if simulation.watch is not None else {})}))
    except StageFailed as exc:
        for task in background:
            task.cancel()
        if not parts.restartable:
            log.error("worker_failed", shard=str(spec.shard), error=str(exc))
            channel.send(Failed(WorkerError.of(exc), _confirmed(simulation)))
            return 0
        log.error("stage_failed_restarting", worker=parts.name,
                  shard=str(spec.shard), error=str(exc))
        await simulation.abort()  # uncommitted work is read again by the next incarnation
        return EXIT_STAGE_FAILED
    except (LgspError, OSError) as exc:
        for task in background:
            task.cancel()
        log.error("worker_failed", shard=str(spec.shard), error=str(exc))
        channel.send(Failed(WorkerError.of(exc, exit_code=getattr(exc, "exit_code", 4)),
                            _confirmed(simulation)))
        if isinstance(exc, RunAborted):
            await simulation.abort()
    except Exception as exc:
        log.exception("worker_crashed", shard=str(spec.shard))
        channel.send(Failed(WorkerError.of(exc, exit_code=1,
                                           message=f"worker {spec.shard} crashed: {exc!r}"),
                            _confirmed(simulation)))
    finally:
        await simulation.stop()
    return 0


def _checkpoint(spec: WorkerSpec, parts: RoleParts) -> Path | None:
    """Where a tracker process keeps its checkpoint (other workers keep none)."""
    if spec.state_dir is None or not parts.tracks_alone:
        return None
    return spec.state_dir / f"tracker-{spec.shard.index}.json"


def _confirmed(simulation: Simulation) -> Result:
    """A failed worker's metrics: what was confirmed; deliveries still open count as lost or
    incomplete (the report of a failed run says so)."""
    try:
        simulation.finish_tracking()
        return Result(to_state(simulation.metrics), {"send_s": 0.0, "run": simulation.run_facts(),
                                                     "stopped_early": True})
    except Exception:
        log.exception("worker_state_unavailable")
        return Result(to_state(RunMetrics()), {"send_s": 0.0, "run": {}, "stopped_early": True})


async def _until_finish(channel: Channel, stop: asyncio.Event) -> None:
    while True:
        match await channel.receive():
            case Abort():
                raise RunAborted()
            case Finish() | Eof():
                return
            case Stop():
                stop.set()


async def _serve(simulation: Simulation, channel: Channel, stop: asyncio.Event, *,
                 until: asyncio.Task[Any], ticks_from: int, read: bool = True) -> None:
    """Send snapshots and obey ``stop`` until ``until`` is done.

    Snapshots are taken on ticks of ``SNAPSHOT_EVERY_S`` counted from ``ticks_from`` (the
    schedule start, on the host's monotonic clock that every worker shares), so the workers'
    snapshots of one tick are taken within milliseconds of each other and their counts add up to
    figures of one moment."""
    every_ns = round(SNAPSHOT_EVERY_S * 1e9)
    while not until.done():
        now = time.monotonic_ns()
        next_tick = ticks_from + (max(now - ticks_from, 0) // every_ns + 1) * every_ns
        await asyncio.wait([until], timeout=(next_tick - now) / 1e9)
        channel.send(Snapshot(simulation.snapshot(), simulation.oldest_generation_held()))
        while read and (message := channel.poll()) is not None:
            match message:
                case Abort():
                    raise RunAborted()
                case Stop() | Eof():
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
            channel.send(State(to_state(simulation.metrics), simulation.oldest_generation_held()))


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

    code = event_loop.run(main())
    connection.close()
    if code:
        raise SystemExit(code)
