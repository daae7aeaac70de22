"""The recipient agencies' seals: every business status they send is sealed (docs/contract.md §7a).

A run that requires seals (``--status-seals``) hands its recipients one ``StatusSealer``. Each
agency's ``agency-seal`` credential is issued from the run's CA on the agency's first status — in
a thread, since issuing may load or generate its key — and kept for the rest of the run; statuses
of that agency wait for it, later ones find it ready. Sealing itself is measured as the stage
``seal`` (CPU per status). A run without seals has no sealer: nothing is issued or measured.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time

import structlog

from lgsp.domain.status import StatusEvent
from lgsp.domain.topology import Topology
from lgsp.metrics.run import RunMetrics
from lgsp.metrics.stages import Stage
from lgsp.signing.pki import Credential, Pki
from lgsp.signing.status_seal import seal

log = structlog.get_logger(__name__)


class StatusSealer:
    """Seals statuses with the seal of the agency that answers, issuing each seal once."""

    def __init__(self, pki: Pki, topology: Topology, metrics: RunMetrics) -> None:
        self.pki = pki
        self.topology = topology
        self.metrics = metrics
        self._credentials: dict[str, asyncio.Future[Credential]] = {}
        """Agency code → its seal, issued (or being issued) in a thread."""

    def _issue(self, code: str) -> Credential:
        start = time.perf_counter()
        credential = self.pki.agency_seal(code, self.topology.agency(code).name)
        log.debug("status_seal_issued", agency=code, serial=credential.issued.serial,
                  took_ms=round((time.perf_counter() - start) * 1000, 1))
        return credential

    async def credential(self, code: str) -> Credential:
        """``code``'s seal: issued on its first call, the same credential afterwards."""
        issuing = self._credentials.get(code)
        if issuing is None:
            issuing = self._credentials[code] = asyncio.ensure_future(
                asyncio.to_thread(self._issue, code))
        return await issuing

    async def seal(self, status: StatusEvent, *, by: str | None = None) -> StatusEvent:
        """``status`` sealed by its recipient — or, ``by`` (fault injection only: a forged
        status), with the seal of that other agency."""
        credential = await self.credential(by or status.recipient)
        start = time.perf_counter_ns()
        sealed = seal(credential, status, dt.datetime.now(dt.UTC))
        self.metrics.stage(Stage.SEAL).record_ns(time.perf_counter_ns() - start)
        return dataclasses.replace(status, seal=sealed)
