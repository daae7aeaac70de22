"""The service runs in a child process, started again if the Kafka client crashes it.

librdkafka 2.16 dies of SIGSEGV when the embedded Tansu broker deletes a topic the consumer is
fetching (see idle.py), and a run deletes its topics right after its last status: pausing idle
partitions cannot win that race. The supervisor turns the crash into a logged restart; SIGINT and
SIGTERM are passed on, and the child's own exit code (0 when stopped by a signal) is returned.
What a restart loses: the dedupe memory (records not yet committed are answered again).

The child dies with its supervisor (Linux: ``PR_SET_PDEATHSIG``), so signalling the process a
user started — even with SIGKILL — stops the whole service. A service that keeps dying gives up
after ``MAX_RESTARTS`` restarts within ``RESTART_WINDOW_S`` (one crash at the end of every run
on the embedded broker is not a reason to stop serving the next run).
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

log = logging.getLogger("reference_recipient")

SERVICE = Path(__file__).resolve().with_name("service.py")
MAX_RESTARTS = 20
RESTART_WINDOW_S = 600.0
RESTART_DELAY_S = 1.0
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before it runs: the kernel sends it SIGTERM when its parent dies."""
    name = ctypes.util.find_library("c")
    if sys.platform.startswith("linux") and name:
        ctypes.CDLL(name, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def supervise(argv: list[str], service: Path = SERVICE) -> int:
    """Run ``service ARGV --no-supervise`` (this service's service.py by default; the reference
    router passes its own) until it exits by itself or is told to stop."""
    child: subprocess.Popen[bytes] | None = None
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    restarts: collections.deque[float] = collections.deque()
    while True:
        child = subprocess.Popen(  # noqa: S603 - this service itself, with its own switches
            [sys.executable, str(service), *argv, "--no-supervise"],
            preexec_fn=_die_with_parent)  # prctl only: no lock is taken before exec
        code = child.wait()
        if code >= 0:
            return code
        if stopping:
            return 0 if -code in (signal.SIGINT, signal.SIGTERM) else 1
        now = time.monotonic()
        restarts.append(now)
        while restarts and restarts[0] < now - RESTART_WINDOW_S:
            restarts.popleft()
        if len(restarts) > MAX_RESTARTS:
            log.error("the service died %d times within %.0f s: giving up", len(restarts),
                      RESTART_WINDOW_S)
            return 1
        name = signal.Signals(-code).name
        why = (" (librdkafka crashes when the broker deletes a topic it reads, as a run does "
               "at its end on the embedded broker)" if -code == signal.SIGSEGV else "")
        log.error("the service died of %s%s; starting it again (%d of at most %d within %.0f s)",
                  name, why, len(restarts), MAX_RESTARTS, RESTART_WINDOW_S)
        time.sleep(RESTART_DELAY_S)
        if stopping:
            return 0
