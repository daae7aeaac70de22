"""Parties of a run that the user's own services play (``--external``), and the readiness probe.

``--external recipient=CODE[,CODE...]``: lgsp-sim does not take in the documents addressed to
those agencies; the user's service reads them from its platform's ``deliver`` topic and answers
with statuses (docs/contract.md). A share of the documents (``--external-share``, all by default)
is addressed to one of them, so the load goes where the user's service is. Before the schedule
starts, each external recipient gets a *probe*: one real, validly signed document whose notation
is ``PROBE_NOTATION``; the run waits (bounded) until a status about it comes back from that
recipient. Probe documents are not part of the run's figures.

``--external platform=LGSP-Hnn`` / ``--external vdxp``: lgsp-sim runs no router for that
platform; the user's router reads its inbound topic and writes what the contract's routing table
says (docs/contract.md §10). The probe for a platform is a document from one member to another,
submitted on its inbound topic: the platform is ready once a status about it comes back on its
deliver topic (the probe went through the user's router both ways).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lgsp.domain.topology import VDXP, Topology
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
    """How long to wait for each external party to answer its probe."""
    platforms: tuple[str, ...] = ()
    """Platform codes (``VDXP``, ``LGSP-H56``) whose routing an outside router does."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0 or math.isnan(self.share):
            raise ConfigError(f"--external-share {self.share:g} must be from 0 to 1 (the share "
                              "of documents addressed to an external recipient)")
        if self.ready_timeout_s <= 0:
            raise ConfigError("--external-timeout must be > 0 seconds")
        for what, names in (("an agency", self.recipients), ("a platform", self.platforms)):
            if len(set(names)) != len(names):
                raise ConfigError(f"--external names {what} twice: "
                                  + ", ".join(sorted({c for c in names if names.count(c) > 1})))

    def __bool__(self) -> bool:
        return bool(self.recipients or self.platforms)

    @property
    def platform_set(self) -> frozenset[str]:
        return frozenset(self.platforms)

    @property
    def recipient_set(self) -> frozenset[str]:
        return frozenset(self.recipients)

    @classmethod
    def parse(cls, specs: Sequence[str], *, share: float = 1.0,
              ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S) -> ExternalParties:
        """``recipient=CODE[,CODE...]``, ``platform=LGSP-Hnn[,...]`` and ``vdxp`` options, as a
        user writes them (repeatable; platform codes in any case)."""
        codes: list[str] = []
        platforms: list[str] = []
        for spec in specs:
            kind, sep, value = spec.partition("=")
            kind = kind.strip().lower()
            if kind == "vdxp" and not sep:
                platforms.append(VDXP)
                continue
            if kind not in ("recipient", "platform") or not sep:
                raise ConfigError(f"--external {spec!r} must look like recipient=CODE[,CODE...]"
                                  ", platform=LGSP-CODE[,...] or vdxp (codes from "
                                  "`lgsp topology`)")
            parts = [c.strip() for c in value.split(",")]
            if not all(parts):
                raise ConfigError(f"--external {spec!r}: an empty "
                                  f"{'agency' if kind == 'recipient' else 'platform'} code")
            if kind == "recipient":
                codes.extend(parts)
            else:
                platforms.extend(p.upper() for p in parts)
        return cls(tuple(codes), share=share, ready_timeout_s=ready_timeout_s,
                   platforms=tuple(platforms))

    def check(self, topology: Topology) -> None:
        """Every external code is an agency of the run's topology (exit 2 otherwise)."""
        unknown = [c for c in self.recipients if c not in topology.agencies]
        if unknown:
            raise ConfigError(f"--external recipient={','.join(unknown)}: not an agency of "
                              f"this run's topology (profiles: see `lgsp topology`)")
        if self.recipients and len(topology.agencies) - len(self.recipients) < 1:
            raise ConfigError("--external: no agency is left for lgsp-sim to send from")
        strange = [p for p in self.platforms if p not in topology.platforms]
        if strange:
            raise ConfigError(f"--external platform={','.join(strange)}: not a platform of this "
                              f"run's topology ({', '.join(topology.platforms)}; the province "
                              "profiles give the LGSPs)" + _hint(strange[0]))
        for platform in self.platforms:
            if len(topology.members(platform)) < 2:
                raise ConfigError(f"--external platform={platform}: it has fewer than two "
                                  "member agencies, so no probe can go through it")

    def external(self, codes: Iterable[str]) -> list[str]:
        """Those of ``codes`` that are external recipients."""
        mine = self.recipient_set
        return [c for c in codes if c in mine]


def _hint(platform: str) -> str:
    """What the user may have meant by an unknown platform code."""
    from lgsp.domain.topology import platform_for_unit
    from lgsp.profiles import available_profiles, load_profile

    unit = platform.removeprefix("LGSP-")
    if platform == unit and len(unit) == 3 and unit[0].isalpha() and unit[1:].isdigit():
        return f"; did you mean LGSP-{unit}?"
    for name in available_profiles():
        try:
            if platform_for_unit(str(load_profile(name).get("unit"))) == platform:
                return f"; {platform} is profile {name}: add -p {name}"
        except Exception:  # noqa: BLE001, S112 - a hint only: an unreadable profile is no hint
            continue
    return ""
