"""Regenerate the worked examples of docs/contract.md (files in docs/contract-example/).

    PYTHONPATH=. python scripts/contract_example.py              # §6: a signed document
    PYTHONPATH=. python scripts/contract_example.py status-seal  # §7a: a sealed status

from the repository root: this tree. Each issues a fresh RSA-2048 PKI (keys in a temporary
directory, thrown away). The first signs one document as its sender would and writes what a
verifier needs: the trust anchors and the signer certificates (PEM), the content bytes and the
whole Kafka value (hex), each signature (base64). The second seals the recipient's 06 about that
document and writes ``status-seal/``: the anchors, the recipient's seal certificate, the Kafka
value and the seal (base64). Each prints the values docs/contract.md quotes; paste them there
(tests/signing/test_contract_example.py checks the document, the files and the openssl commands
agree).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import sys
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from lgsp.codec import AvroCodec, EventCodec, FileSchemaRegistry, SignedDocument
from lgsp.domain import Document, Signer, StatusCode, StatusEvent, StatusLayer
from lgsp.signing import Pki, SignatureAlgorithm, SignatureRole, content_digest, sign
from lgsp.signing.signature import micros
from lgsp.signing.status_seal import seal, status_digest

OUT = Path(__file__).resolve().parents[1] / "docs" / "contract-example"
SIGNED_AT = dt.datetime(2026, 12, 4, 7, 30, tzinfo=dt.UTC)
SENDER = "000.00.00.H56"
RECIPIENT = "000.00.01.H56"
COMPLETED_AT = dt.datetime(2026, 12, 4, 8, 15, tzinfo=dt.UTC)
SEALED_AT = dt.datetime(2026, 12, 4, 8, 15, 0, 250000, tzinfo=dt.UTC)
DOCUMENT = Document(
    document_id=f"{SENDER},2026/12/04,123/QĐ-UBND", number=123, notation="123/QĐ-UBND",
    type_name="quyết định", subject="Ví dụ của tài liệu giao diện", sender=SENDER,
    recipients=("000.00.01.H56", "000.00.00.H26"), promulgation_place="Thanh Hóa",
    promulgation_date=SIGNED_AT.date(), signer=Signer("TM.", "Chủ tịch", "Nguyễn Văn An"))


def status_seal_example() -> int:
    """§7a: the recipient's 06 about the example document, sealed with its agency seal."""
    events = EventCodec(AvroCodec(FileSchemaRegistry()))
    with tempfile.TemporaryDirectory() as keys:
        pki = Pki(SignatureAlgorithm.RSA2048, cache_dir=Path(keys), now=SEALED_AT)
        credential = pki.agency_seal(RECIPIENT, "Văn phòng UBND tỉnh Thanh Hóa")
    status = StatusEvent(layer=StatusLayer.BUSINESS, from_code=RECIPIENT,
                         document_id=DOCUMENT.document_id, sender=SENDER, recipient=RECIPIENT,
                         timestamp=COMPLETED_AT, status_code=StatusCode.COMPLETED)
    sealed = seal(credential, status, SEALED_AT)
    value = events.encode_status(dataclasses.replace(status, seal=sealed))
    out = OUT / "status-seal"
    out.mkdir(parents=True, exist_ok=True)
    for name, cert in (("root-ca", pki.directory.root), ("issuing-ca", pki.directory.issuing_ca),
                       ("recipient-seal", credential.issued)):
        (out / f"{name}.pem").write_bytes(cert.certificate.public_bytes(Encoding.PEM))
    (out / "status-event.hex").write_text(value.hex() + "\n")
    (out / "status-seal.sig.b64").write_text(base64.b64encode(sealed.value).decode() + "\n")
    digest = status_digest(status)
    tbs = digest + b"STATUS" + micros(SEALED_AT).to_bytes(8, "big")
    sys.stdout.write(f"value {len(value)} bytes, schema id {int.from_bytes(value[1:5], 'big')}\n"
                     f"timestamp {micros(COMPLETED_AT)} µs\n"
                     f"status digest {digest.hex()}\n"
                     f"signed_at {micros(SEALED_AT)} µs = {micros(SEALED_AT):016x}\n"
                     f"tbs {tbs.hex()}\n"
                     f"recipient seal serial {credential.issued.serial}\n")
    return 0


def main() -> int:
    if sys.argv[1:] == ["status-seal"]:
        return status_seal_example()
    events = EventCodec(AvroCodec(FileSchemaRegistry()))
    with tempfile.TemporaryDirectory() as keys:
        pki = Pki(SignatureAlgorithm.RSA2048, cache_dir=Path(keys), now=SIGNED_AT)
        seal = pki.credential(SENDER, SignatureRole.AGENCY, holder="UBND tỉnh Thanh Hóa",
                              organization="UBND tỉnh Thanh Hóa")
        personal = pki.credential(SENDER, SignatureRole.PERSONAL, holder="Nguyễn Văn An",
                                  organization="UBND tỉnh Thanh Hóa", title="Chủ tịch")
    schema = events.document_schema
    content = events.encode_content(DOCUMENT, schema)
    digest = content_digest(content, schema.id)
    blocks = {role: sign(cred, digest, SIGNED_AT)
              for role, cred in ((SignatureRole.AGENCY, seal), (SignatureRole.PERSONAL, personal))}
    value = events.encode_signed(SignedDocument(schema.id, content, digest,
                                                blocks[SignatureRole.PERSONAL],
                                                blocks[SignatureRole.AGENCY]))
    OUT.mkdir(parents=True, exist_ok=True)
    for name, cert in (("root-ca", pki.directory.root), ("issuing-ca", pki.directory.issuing_ca),
                       ("agency-seal", seal.issued), ("personal", personal.issued)):
        (OUT / f"{name}.pem").write_bytes(cert.certificate.public_bytes(Encoding.PEM))
    (OUT / "content.hex").write_text(content.hex() + "\n")
    (OUT / "document-event.hex").write_text(value.hex() + "\n")
    for role, name in ((SignatureRole.AGENCY, "agency-seal"),
                       (SignatureRole.PERSONAL, "personal")):
        (OUT / f"{name}.sig.b64").write_text(base64.b64encode(blocks[role].value).decode() + "\n")
    micros = int(SIGNED_AT.timestamp() * 1_000_000)
    tbs = digest + b"AGENCY" + micros.to_bytes(8, "big")
    out = sys.stdout
    out.write(f"content schema id {schema.id}, {len(content)} content bytes, "
              f"value {len(value)} bytes\n")
    out.write(f"digest {digest.hex()}\n")
    out.write(f"signed_at {SIGNED_AT.isoformat()} = {micros} µs = {micros:016x}\n")
    out.write(f"tbs {tbs.hex()}\n")
    out.write(f"sha256(tbs) {hashlib.sha256(tbs).hexdigest()}\n")
    out.write(f"agency serial {seal.issued.serial}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
