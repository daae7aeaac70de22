"""Regenerate the worked example of docs/contract.md (files in docs/contract-example/).

    PYTHONPATH=. python scripts/contract_example.py   # from the repository root: this tree

Issues a fresh RSA-2048 PKI (keys in a temporary directory, thrown away), signs one document as
its sender would, and writes what a verifier needs: the trust anchors and the signer certificates
(PEM), the content bytes and the whole Kafka value (hex), each signature (base64). Prints the
values docs/contract.md quotes; paste them there (tests/signing/test_contract_example.py checks
the document, the files and the openssl commands agree).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import sys
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from lgsp.codec import AvroCodec, EventCodec, FileSchemaRegistry, SignedDocument
from lgsp.domain import Document, Signer
from lgsp.signing import Pki, SignatureAlgorithm, SignatureRole, content_digest, sign

OUT = Path(__file__).resolve().parents[1] / "docs" / "contract-example"
SIGNED_AT = dt.datetime(2026, 12, 4, 7, 30, tzinfo=dt.UTC)
SENDER = "000.00.00.H56"
DOCUMENT = Document(
    document_id=f"{SENDER},2026/12/04,123/QĐ-UBND", number=123, notation="123/QĐ-UBND",
    type_name="quyết định", subject="Ví dụ của tài liệu giao diện", sender=SENDER,
    recipients=("000.00.01.H56", "000.00.00.H26"), promulgation_place="Thanh Hóa",
    promulgation_date=SIGNED_AT.date(), signer=Signer("TM.", "Chủ tịch", "Nguyễn Văn An"))


def main() -> int:
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
