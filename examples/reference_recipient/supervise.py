"""The service runs in a child process, started again if the Kafka client crashes it.

librdkafka 2.16 dies of SIGSEGV when the embedded Tansu broker deletes a topic the consumer is
fetching (see idle.py), and a run deletes its topics right after its last status: pausing idle
partitions cannot win that race. The supervisor turns the crash into a logged restart; SIGINT and
SIGTERM are passed on, and the child's own exit code (0 when stopped by a signal) is returned.
What a restart loses: the dedupe memory (records not yet committed are answered again).
"""

from __future__ import annotations

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
RESTART_DELAY_S = 1.0


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
    for attempt in range(MAX_RESTARTS + 1):
        child = subprocess.Popen(  # noqa: S603 - this service itself, with its own switches
            [sys.executable, str(service), *argv, "--no-supervise"])
        code = child.wait()
        if code >= 0:
            return code
        if stopping:
            return 0 if -code in (signal.SIGINT, signal.SIGTERM) else 1
        name = signal.Signals(-code).name
        log.error("the service died of %s (librdkafka crashes when the broker deletes a topic it "
                  "reads, as a run does at its end on the embedded broker); starting it again "
                  "(%d of %d)", name, attempt + 1, MAX_RESTARTS)
        time.sleep(RESTART_DELAY_S)
        if stopping:
            return 0
    log.error("the service died %d times: giving up", MAX_RESTARTS + 1)
    return 1
