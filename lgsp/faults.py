"""Fault kinds a run can inject (``--inject KIND=RATE,...``) and how each must be detected.

Faults are injected by the simulated software of the parties (the sender's clerk, the recipient's
document software) and detected by the bus's real checks: the recipients' verification (status 02
with a reason), the platforms' routing (transport FAIL), the sender's own refusal, the recipients'
duplicate absorption, and the sender's tracker following the status lifecycle. A detection is
never read from the injection itself: the injector only keeps a ledger that the report joins with
what the checks said.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from lgsp.errors import ConfigError


class FaultKind(StrEnum):
    BAD_SIGNATURE = "bad-signature"
    """The agency signature's bytes are altered after signing."""
    TAMPERED_CONTENT = "tampered-content"
    """The content is altered after it was signed (the digest no longer matches)."""
    EXPIRED_CERTIFICATE = "expired-certificate"
    """Sealed with the agency's certificate that expired before the signing time."""
    REVOKED_CERTIFICATE = "revoked-certificate"
    """Sealed with an agency certificate the CA has revoked (published on the revocation topic)."""
    UNKNOWN_ISSUER = "unknown-issuer"
    """Sealed with a certificate issued by a CA that does not chain to the government root."""
    FOREIGN_SIGNER = "foreign-signer"
    """Sealed by another agency (a commune cannot sign as the province)."""
    UNKNOWN_RECIPIENT = "unknown-recipient"
    """Addressed also to an agency code no platform knows."""
    SCHEMA_INVALID = "schema-invalid"
    """Signed content that is not a record of its declared schema."""
    UNDECODABLE = "undecodable"
    """The event's bytes are not an Avro event at all (routing headers intact)."""
    DUPLICATE_DELIVERY = "duplicate-delivery"
    """The same document record is submitted twice."""
    OUT_OF_ORDER_STATUS = "out-of-order-status"
    """The recipients' software sends 04 (assigned) before 03 (registered)."""
    DROPPED_STATUS = "dropped-status"
    """The recipients' software never sends 03 (registered)."""
    SECRET_DOCUMENT = "secret-document"  # noqa: S105 - a fault name, not a password
    """A secret (mật) document is submitted to the bus."""
    FORGED_STATUS = "forged-status"
    """The recipients' software first sends a forged 06 (completed) that claims to come from the
    recipient but is sealed with another agency's seal (the sender's), then answers genuinely."""


REJECTED = "02 "
"""Prefix of a detection by a recipient's status 02 (followed by its reason)."""
TRANSPORT_FAIL = "transport FAIL "
REFUSED_AT_SEND = "refused at send"
OUT_OF_ORDER = "out-of-order status"
MISSING_STATUS = "missing status"
ABSORBED = "absorbed by recipient (DocumentId, recipient)"
FORGED_REFUSED = "forged status refused"

EXPECTED: dict[FaultKind, str] = {
    FaultKind.BAD_SIGNATURE: REJECTED + "bad_signature",
    FaultKind.TAMPERED_CONTENT: REJECTED + "tampered",
    FaultKind.EXPIRED_CERTIFICATE: REJECTED + "expired",
    FaultKind.REVOKED_CERTIFICATE: REJECTED + "revoked",
    FaultKind.UNKNOWN_ISSUER: REJECTED + "unknown_issuer",
    FaultKind.FOREIGN_SIGNER: REJECTED + "signer_not_sender",
    FaultKind.UNKNOWN_RECIPIENT: TRANSPORT_FAIL + "unknown_recipient",
    FaultKind.SCHEMA_INVALID: REJECTED + "schema_invalid",
    FaultKind.UNDECODABLE: REJECTED + "undecodable",
    FaultKind.DUPLICATE_DELIVERY: ABSORBED,
    FaultKind.OUT_OF_ORDER_STATUS: OUT_OF_ORDER,
    FaultKind.DROPPED_STATUS: MISSING_STATUS,
    FaultKind.SECRET_DOCUMENT: REFUSED_AT_SEND,
    FaultKind.FORGED_STATUS: FORGED_REFUSED,
}
"""How each kind is detected when the bus works as it should (the report shows what happened)."""

DEAD_LETTERED = frozenset({FaultKind.SCHEMA_INVALID, FaultKind.UNDECODABLE})
"""Kinds whose records the recipient also keeps whole in the dead-letter topic."""

RECIPIENT_FAULTS = frozenset({FaultKind.OUT_OF_ORDER_STATUS, FaultKind.DROPPED_STATUS,
                              FaultKind.FORGED_STATUS})
"""Kinds the recipients' software commits (told by the simulation's ``lgsp-sim-fault`` header)."""

SEALED_FAULTS = frozenset({FaultKind.FORGED_STATUS})
"""Kinds only status seals detect: injected only when the run checks seals (``--status-seals``)."""

CERTIFICATE_FAULTS = frozenset({FaultKind.EXPIRED_CERTIFICATE, FaultKind.REVOKED_CERTIFICATE,
                                FaultKind.UNKNOWN_ISSUER})
"""Kinds that need an extra certificate per sending agency, issued before the run."""


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """The share of documents that get each fault (at most one fault per document)."""

    rates: tuple[tuple[FaultKind, float], ...] = ()

    @classmethod
    def parse(cls, specs: list[str] | tuple[str, ...], *, seals: bool = True) -> FaultPlan:
        """``["bad-signature=2%,undecodable=0.01", "all=1%"]`` → a plan; ``ConfigError`` on
        anything else. ``all`` sets every kind — those of ``SEALED_FAULTS`` only when the run
        can check ``seals`` — and a later kind overrides an earlier rate."""
        rates: dict[FaultKind, float] = {}
        for spec in specs:
            for item in (part.strip() for part in spec.split(",")):
                if not item:
                    continue
                name, sep, raw = item.partition("=")
                if not sep:
                    raise ConfigError(f"--inject {item!r}: expected KIND=RATE, e.g. "
                                      "bad-signature=2%")
                rate = _rate(item, raw.strip())
                name = name.strip().lower().replace("_", "-")
                if name == "all":
                    rates.update(dict.fromkeys((k for k in FaultKind
                                                if seals or k not in SEALED_FAULTS), rate))
                    continue
                try:
                    rates[FaultKind(name)] = rate
                except ValueError:
                    raise ConfigError(f"--inject: unknown fault kind {name!r}; kinds: all, "
                                      + ", ".join(k.value for k in FaultKind)) from None
        total = sum(rates.values())
        if total > 1.0 + 1e-9:
            raise ConfigError(f"--inject rates add up to {total:.0%} of documents; at most 100% "
                              "(one fault per document)")
        return cls(tuple((k, r) for k, r in rates.items() if r > 0))

    def __bool__(self) -> bool:
        return bool(self.rates)

    @property
    def kinds(self) -> frozenset[FaultKind]:
        return frozenset(kind for kind, _ in self.rates)

    def describe(self) -> str:
        return ", ".join(f"{kind.value}={rate:.3g}" for kind, rate in self.rates) or "none"


def _rate(item: str, raw: str) -> float:
    try:
        rate = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ConfigError(f"--inject {item!r}: cannot read rate {raw!r} (a share like 0.02 or "
                          "2%)") from None
    if not 0 <= rate <= 1:
        raise ConfigError(f"--inject {item!r}: the rate must be between 0 and 1 (or 0% and 100%)")
    return rate


class FaultPicker:
    """Draws the fault (or none) of each document from a plan, reproducibly for a seed."""

    def __init__(self, plan: FaultPlan, seed: int) -> None:
        self.plan = plan
        self._rng = random.Random(seed)
        self._thresholds: list[tuple[float, FaultKind]] = []
        cumulative = 0.0
        for kind, rate in plan.rates:
            cumulative += rate
            self._thresholds.append((cumulative, kind))

    def pick(self) -> FaultKind | None:
        if not self._thresholds:
            return None
        draw = self._rng.random()
        for threshold, kind in self._thresholds:
            if draw < threshold:
                return kind
        return None
