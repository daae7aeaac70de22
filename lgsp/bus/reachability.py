"""Is the broker there? A coordinator-side watch that tells a network outage the clients ride out
(aiokafka retries with backoff) from a broker that is gone for good.

The probe is a TCP connection to the bootstrap servers (any of them): it needs no credentials, so
it works the same for PLAINTEXT, TLS and SASL listeners. The run is declared to have lost its
broker once no bootstrap server accepted a connection for ``lost_after_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog

from lgsp.errors import BrokerError

log = structlog.get_logger(__name__)
PROBE_TIMEOUT_S = 1.0


async def reachable(bootstrap: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            async with asyncio.timeout(timeout_s):
                _reader, writer = await asyncio.open_connection(host.strip("[]"), int(port))
        except (OSError, TimeoutError, ValueError):
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return False


class BrokerWatch:
    """Probes the bootstrap servers every ``every_s``; ``check()`` raises ``BrokerError`` once
    they have been unreachable for ``lost_after_s``."""

    def __init__(self, bootstrap: str, *, lost_after_s: float, every_s: float = 1.0) -> None:
        self.bootstrap = bootstrap
        self.lost_after_s = lost_after_s
        self.every_s = every_s
        self.unreachable_since: float | None = None
        self.outages = 0
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            ok = await reachable(self.bootstrap)
            now = time.monotonic()
            if ok and self.unreachable_since is not None:
                log.warning("broker_reachable_again", bootstrap=self.bootstrap,
                            after_s=round(now - self.unreachable_since, 1))
                self.unreachable_since = None
            elif not ok and self.unreachable_since is None:
                self.unreachable_since = now
                self.outages += 1
                log.warning("broker_unreachable", bootstrap=self.bootstrap,
                            giving_up_after_s=self.lost_after_s)
            await asyncio.sleep(self.every_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="broker watch")

    def check(self) -> None:
        since = self.unreachable_since
        if since is not None and time.monotonic() - since > self.lost_after_s:
            raise BrokerError(f"lost the broker: {self.bootstrap} has not accepted a connection "
                              f"for {self.lost_after_s:.0f} s (--broker-timeout)")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
