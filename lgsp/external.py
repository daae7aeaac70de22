"""Parties of a run that the user's own services play (``--external``), and the readiness probe.

``--external recipient=CODE[,CODE...]``: lgsp-sim does not take in the documents addressed to
those agencies; the user's service reads them from its platform's ``deliver`` topic and answers
with statuses (docs/contract.md). A share of the documents (``--external-share``, all by default)
is addressed to one of them, so the load goes where the user's service is. Before the schedule
starts, each external recipient gets a *probe*: one real, validly signed document whose notation
is ``PROBE_NOTATION``; the run waits (bounded) until a status about it comes back from that
recipient. Probe documents are not part of the run's figures.

Only recipients can be external in this version; an LGSP or the national axis played by an
outside router is refused with a clear error (not built yet).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lgsp.domain.topology import Topology
from lgsp.errors import ConfigError

PROBE_NOTATION = "KT-LGSPSIM"
"""The notation of a readiness probe's DocumentId (``<sender>,<date>,<n>/KT-LGSPSIM``)."""
DEFAULT_READY_TIMEOUT_S = 60.0
PARTY_KINDS = ("recipient", "platform", "vdxp")


def is_probe(document_id: str) -> bool:
    """Whether ``document_id`` is a readiness probe's (its statuses are not the run's)."""
    return document_id.endswith("/" + PROBE_NOTATION)


@dataclass(frozen=True, slots=True)
class ExternalParties:
    """Who the user's services play in a run."""

    recipients: tuple[str, ...] = ()
    """Agency codes whose documents an outside service takes in and answers."""
    share: float = 1.0
    """Share of documents addressed (also) to one of ``recipients``."""
    ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S
    """How long to wait for each external recipient to answer its probe."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0 or math.isnan(self.share):
            raise ConfigError(f"--external-share {self.share:g} must be from 0 to 1 (the share "
                              "of documents addressed to an external recipient)")
        if self.ready_timeout_s <= 0:
            raise ConfigError("--external-timeout must be > 0 seconds")
        if len(set(self.recipients)) != len(self.recipients):
            raise ConfigError("--external names an agency twice: "
                              + ", ".join(sorted({c for c in self.recipients
                                                  if self.recipients.count(c) > 1})))

    def __bool__(self) -> bool:
        return bool(self.recipients)

    @property
    def recipient_set(self) -> frozenset[str]:
        return frozenset(self.recipients)

    @classmethod
    def parse(cls, specs: Sequence[str], *, share: float = 1.0,
              ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S) -> ExternalParties:
        """``recipient=CODE[,CODE...]`` options, as a user writes them (repeatable)."""
        codes: list[str] = []
        for spec in specs:
            kind, sep, value = spec.partition("=")
            kind = kind.strip().lower()
            if kind in ("platform", "vdxp"):
                raise ConfigError(f"--external {spec}: an outside {kind} router is not "
                                  "supported yet; only recipient=CODE[,CODE...] parties can be "
                                  "external in this version")
            if kind != "recipient" or not sep:
                raise ConfigError(f"--external {spec!r} must look like recipient=CODE[,CODE...]"
                                  " (an agency code from `lgsp topology`)")
            parts = [c.strip() for c in value.split(",")]
            if not all(parts):
                raise ConfigError(f"--external {spec!r}: an empty agency code")
            codes.extend(parts)
        return cls(tuple(codes), share=share, ready_timeout_s=ready_timeout_s)

    def check(self, topology: Topology) -> None:
        """Every external code is an agency of the run's topology (exit 2 otherwise)."""
        unknown = [c for c in self.recipients if c not in topology.agencies]
        if unknown:
            raise ConfigError(f"--external recipient={','.join(unknown)}: not an agency of "
                              f"this run's topology (profiles: see `lgsp topology`)")
        if self.recipients and len(topology.agencies) - len(self.recipients) < 1:
            raise ConfigError("--external: no agency is left for lgsp-sim to send from")

    def external(self, codes: Iterable[str]) -> list[str]:
        """Those of ``codes`` that are external recipients."""
        mine = self.recipient_set
        return [c for c in codes if c in mine]
