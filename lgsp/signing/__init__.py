"""PKI, signing and verification with real keys and X.509 certificates."""

from lgsp.signing.keys import KeyStore, SignatureAlgorithm
from lgsp.signing.pki import (
    CertificateDirectory,
    Credential,
    IssuedCertificate,
    Pki,
    SignatureRole,
)
from lgsp.signing.signature import SignatureBlock, SignatureVerifier, content_digest, sign
from lgsp.signing.status_seal import StatusSealCheck, status_digest

__all__ = [
    "CertificateDirectory",
    "Credential",
    "IssuedCertificate",
    "KeyStore",
    "Pki",
    "SignatureAlgorithm",
    "SignatureBlock",
    "SignatureRole",
    "SignatureVerifier",
    "StatusSealCheck",
    "content_digest",
    "sign",
    "status_digest",
]
