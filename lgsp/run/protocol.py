"""The coordinator ↔ worker protocol: typed messages over a channel (a pipe to a worker process,
or a pair of queues for a worker in the coordinator's own event loop).

Coordinator → worker: ``Begin(start_ns)`` (the shared schedule start on the host's monotonic
clock), ``Stop`` (stop scheduling: Ctrl-C), ``Finish`` (every worker has settled: count what is
left, stop, report), ``Abort`` (the run failed, e.g. the broker is lost: send what was confirmed at
once, no draining).

Worker → coordinator: ``Ready``, ``Snapshot`` about once a second (live figures), ``State`` every
few seconds from a router/recipient process (its metrics, kept if it dies), ``Sent``, ``Settled``,
``Result`` and ``Failed`` (its error, with what it had confirmed). ``Eof`` is made by the
channel when the other end is gone (the process died).

A worker's states, as the coordinator sees them (``WorkerState``)::

    state      entered on                    next
    ---------  ----------------------------  -------------------------------------------------
    starting   spawned                       ready | failed | died (before begin: the run fails)
    ready      Ready                         sent (senders, trackers) | result (bus workers)
    sent       Sent: its schedule is over    settled
    settled    Settled: lifecycles finished  result (after Finish)
    result     Result                        — (final)
    failed     Failed, or died when it       — (final: the run fails with its error)
               cannot be restarted
    died       Eof without Result/Failed     restarted: a fresh worker in ``starting``
               (router, recipient, tracker)  on the same partitions

A router, recipient or tracker process whose stage died exits with ``EXIT_STAGE_FAILED``
without a message: it is ``died`` and restarted like a killed one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field
from enum import StrEnum
from multiprocessing.connection import Connection
from typing import Any, Protocol

from lgsp import errors
from lgsp.errors import LgspError

EXIT_STAGE_FAILED = 75
"""Exit code of a router, recipient or tracker process whose stage died: the coordinator
restarts it as it restarts a killed one (it recovers its state from the bus)."""


class WorkerState(StrEnum):
    """Where a worker is in its life, as the coordinator sees it (table in the module doc)."""

    STARTING = "starting"
    READY = "ready"
    SENT = "sent"
    SETTLED = "settled"
    RESULT = "result"
    FAILED = "failed"
    DIED = "died"

    @property
    def final(self) -> bool:
        return self in (WorkerState.RESULT, WorkerState.FAILED)


# ---- coordinator → worker ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Begin:
    start_ns: int
    """The schedule's start on the host's monotonic clock (shared by every worker)."""


@dataclass(frozen=True, slots=True)
class Stop:
    """Stop scheduling (Ctrl-C); keep routing and answering until ``Finish``."""


@dataclass(frozen=True, slots=True)
class Finish:
    """Every worker has settled: count what is left, stop, send the result."""


@dataclass(frozen=True, slots=True)
class Abort:
    """The run failed: send what was confirmed now, without draining."""


# ---- worker → coordinator ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Ready:
    """Started: topics, consumers, routers and credentials are ready; waiting for ``Begin``."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    figures: dict[str, Any]
    """Live figures (``Simulation.snapshot``) for the progress lines and Prometheus."""
    holds: int | None = None
    """With topic rotation: the oldest topic generation this worker still needs (reading it,
    or lifecycles of its documents not over); None: it reads nothing."""


@dataclass(frozen=True, slots=True)
class State:
    metrics: dict[str, Any]
    """A router/recipient process's metrics state (``lgsp.metrics.state``), kept if it dies."""
    holds: int | None = None
    """As ``Snapshot.holds``."""


@dataclass(frozen=True, slots=True)
class Sent:
    """This worker's schedule is over (a tracker: its senders' schedules are)."""


@dataclass(frozen=True, slots=True)
class Settled:
    """Every delivery of this worker reached a terminal status or was declared lost."""


@dataclass(frozen=True, slots=True)
class Result:
    metrics: dict[str, Any]
    """The worker's metrics state, merged by the coordinator into the run's report."""
    facts: dict[str, Any]
    """``send_s``, ``run`` facts and ``stopped_early``."""


@dataclass(frozen=True, slots=True)
class WorkerError:
    """An error as it crosses the pipe: its class (from ``lgsp.errors``), message, exit code and
    reason, so the coordinator raises what the worker raised."""

    kind: str
    message: str
    exit_code: int
    reason: str | None = None

    @classmethod
    def of(cls, exc: BaseException, *, exit_code: int | None = None,
           message: str | None = None) -> WorkerError:
        code = exit_code if exit_code is not None else getattr(exc, "exit_code", 1)
        return cls(type(exc).__name__ if isinstance(exc, LgspError) else "LgspError",
                   message if message is not None else str(exc), code,
                   getattr(exc, "reason", None))

    def to_exception(self) -> LgspError:
        kind = getattr(errors, self.kind, LgspError)
        if not (isinstance(kind, type) and issubclass(kind, LgspError)):
            kind = LgspError
        error: LgspError
        try:
            error = kind(self.message)
        except TypeError:  # a class with another signature: keep the facts on the root
            error = LgspError(self.message)
        error.exit_code = self.exit_code
        if self.reason is not None and hasattr(error, "reason"):
            error.reason = self.reason
        return error


@dataclass(frozen=True, slots=True)
class Failed:
    error: WorkerError
    confirmed: Result | None = None
    """What the worker had confirmed before failing (merged into the failed run's report)."""


@dataclass(frozen=True, slots=True)
class Eof:
    """The other end is gone (made by the channel, never sent)."""


ToWorker = Begin | Stop | Finish | Abort
ToCoordinator = Ready | Snapshot | State | Sent | Settled | Result | Failed | Eof
Message = ToWorker | ToCoordinator


class Channel(Protocol):
    def send(self, message: Message) -> None: ...

    async def receive(self) -> Message: ...

    def poll(self) -> Message | None: ...

    def detach(self) -> None: ...


@dataclass
class QueueChannel:
    """One end of an in-process channel (a worker in the coordinator's own event loop)."""

    _inbox: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)
    _outbox: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)

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

    def detach(self) -> None:
        """Nothing to release."""


class PipeChannel:
    """One end of a ``multiprocessing.Pipe`` read through the event loop (no polling thread)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._attached = False

    def attach(self) -> None:
        """Start reading (call inside the running loop)."""
        if not self._attached:
            fd = self._connection.fileno()
            asyncio.get_running_loop().add_reader(fd, self._readable)
            # uvloop's add_reader makes the descriptor non-blocking (libuv's uv_poll_init), and
            # ``Connection`` assumes a blocking one: a message larger than the socket's buffer —
            # a worker's Result at the end of a long run — was sent in part (the error
            # swallowed below) or read in part, and the coordinator took the worker for dead
            os.set_blocking(fd, True)
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
            self._inbox.put_nowait(Eof())

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
