"""The sender's side of fault injection (``--inject``): each document draws its fault, and the
clerk's software then commits it — a broken seal, altered content, a bad certificate, a bad
address, bytes that are not an event, a second submission, a secret document — or tells the
recipients' software to misbehave with its statuses. What was injected goes to the tracker's
ledger; detection is left to the bus's real checks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zlib
from collections.abc import Callable, Iterable

from lgsp.codec.events import SignedDocument
from lgsp.domain.document import Document, Secrecy
from lgsp.faults import FaultKind, FaultPicker, FaultPlan
from lgsp.signing.pki import CertificateFault, Credential, Pki
from lgsp.signing.signature import content_digest, sign
from producers.traffic import Draft

UNKNOWN_ABROAD = "000.00.00.H99"
"""Well formed, but no province has the code H99: the sender's LGSP forwards it to VDXP, which
answers transport FAIL."""


def unknown_at_home(sender: str) -> str:
    """A well-formed code of the sender's own unit that its platform does not know: the sender's
    own platform (its LGSP, or VDXP for a central body) answers transport FAIL."""
    return f"000.99.99.{sender.rsplit('.', 1)[-1]}"
UNDECODABLE = b"\xde\xad\xbe\xef this is not an Avro event"

CERTIFICATE_OF = {FaultKind.EXPIRED_CERTIFICATE: CertificateFault.EXPIRED,
                  FaultKind.REVOKED_CERTIFICATE: CertificateFault.REVOKED,
                  FaultKind.UNKNOWN_ISSUER: CertificateFault.ROGUE_ISSUER}
SEALED = frozenset({FaultKind.BAD_SIGNATURE, FaultKind.EXPIRED_CERTIFICATE,
                    FaultKind.REVOKED_CERTIFICATE, FaultKind.UNKNOWN_ISSUER,
                    FaultKind.FOREIGN_SIGNER})
"""Kinds that act on the agency signature: the draft must carry one."""

Credentials = Callable[[str], tuple[Credential, Credential]]
"""An agency's (personal, seal) credentials."""


def issue_faulty_seals(pki: Pki, plan: FaultPlan, senders: list[str],
                       holder_of: Callable[[str], str]) -> int:
    """Before the run, by the process that made the CA: the expired, to-be-revoked and
    rogue-issued seals the plan needs, for every sender; returns how many were issued."""
    wanted = [CERTIFICATE_OF[kind] for kind in plan.kinds if kind in CERTIFICATE_OF]
    for code in senders:
        for fault in wanted:
            pki.faulty_seal(code, fault, holder=holder_of(code))
    return len(wanted) * len(senders)


class FaultInjector:
    """Draws and applies faults for one sender process."""

    def __init__(self, plan: FaultPlan, *, seed: int, pki: Pki, signers: Iterable[str],
                 credentials: Credentials, holder_of: Callable[[str], str],
                 unknown_at_home: bool = True) -> None:
        """``unknown_at_home``: every other unknown-recipient fault names a code of the
        sender's own unit (off when LGSPs are lenient: they would deliver it, not fail it)."""
        self.home_unknowns = unknown_at_home
        self.picker = FaultPicker(plan, seed)
        self.pki = pki
        self.signers = sorted(signers)
        """Agencies holding credentials: a foreign signer is taken from them."""
        self.credentials = credentials
        self.holder_of = holder_of
        self.unknown_recipients = 0
        """unknown-recipient faults prepared (they alternate: unknown at home, abroad)."""

    def pick(self) -> FaultKind | None:
        return self.picker.pick()

    def prepare(self, draft: Draft, kind: FaultKind) -> Draft:
        """The draft as the faulty clerk's software makes it."""
        if kind is FaultKind.SECRET_DOCUMENT:
            return dataclasses.replace(draft, secrecy=Secrecy.SECRET)
        if kind is FaultKind.UNKNOWN_RECIPIENT:  # every other one unknown at home, so both
            self.unknown_recipients += 1            # an LGSP and VDXP have to answer FAIL
            unknown = (unknown_at_home(draft.sender)
                       if self.home_unknowns and self.unknown_recipients % 2 else UNKNOWN_ABROAD)
            return dataclasses.replace(draft, recipients=(*draft.recipients, unknown))
        if kind in SEALED:
            return dataclasses.replace(draft, sign_agency=True)
        return draft

    def corrupt(self, document: Document, signed: SignedDocument,
                kind: FaultKind) -> SignedDocument:
        """The signed event as the faulty software submits it."""
        now = dt.datetime.now(dt.UTC)
        if kind is FaultKind.BAD_SIGNATURE:
            block = signed.agency_signature
            if block is None:
                raise LookupError("a bad-signature fault needs a sealed draft (see prepare)")
            return dataclasses.replace(signed, agency_signature=dataclasses.replace(
                block, value=bytes([block.value[0] ^ 0xFF]) + block.value[1:]))
        if kind is FaultKind.TAMPERED_CONTENT:
            altered = bytearray(signed.content)
            altered[len(altered) // 2] ^= 0x01
            return dataclasses.replace(signed, content=bytes(altered))
        if kind in CERTIFICATE_OF:
            credential = self.pki.faulty_seal(document.sender, CERTIFICATE_OF[kind],
                                              holder=self.holder_of(document.sender))
            return dataclasses.replace(signed, agency_signature=sign(
                credential, signed.content_digest, now))
        if kind is FaultKind.FOREIGN_SIGNER:
            _, foreign_seal = self.credentials(self.foreign_signer(document.sender))
            return dataclasses.replace(signed, agency_signature=sign(
                foreign_seal, signed.content_digest, now))
        if kind is FaultKind.SCHEMA_INVALID:
            # properly signed, but the bytes stop halfway through the record
            content = signed.content[: len(signed.content) // 2]
            digest = content_digest(content, signed.content_schema_id)
            personal_credential, seal = self.credentials(document.sender)
            return dataclasses.replace(
                signed, content=content, content_digest=digest,
                personal_signature=None if signed.personal_signature is None
                else sign(personal_credential, digest, now),
                agency_signature=None if signed.agency_signature is None
                else sign(seal, digest, now))
        return signed

    def foreign_signer(self, sender: str) -> str:
        others = [code for code in self.signers if code != sender]
        if not others:
            raise LookupError("a foreign-signer fault needs a second sending agency")
        return others[zlib.crc32(sender.encode()) % len(others)]
