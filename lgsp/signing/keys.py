"""Private keys for the simulated PKI, generated once and cached on disk like tokens.

RSA-2048 key generation costs ~110 ms here, and a province has hundreds of agencies and officials,
so keys are cached under ``LGSP_PKI_CACHE`` (default ``~/.cache/lgsp-sim/keys``) by algorithm and
holder, generated in parallel worker processes on first use. Certificates are issued fresh by
every run's CA; only the key pairs are reused. These are simulation keys: stored unencrypted.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from enum import StrEnum
from pathlib import Path

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from lgsp.errors import ConfigError

log = structlog.get_logger(__name__)

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


class SignatureAlgorithm(StrEnum):
    """Key and signature algorithm of every certificate in a run's PKI."""

    RSA2048 = "rsa2048"   # RSA-2048 PKCS#1 v1.5 / SHA-256: what the government CA issues
    ED25519 = "ed25519"
    P256 = "p256"         # ECDSA P-256 / SHA-256

    @classmethod
    def parse(cls, text: str) -> SignatureAlgorithm:
        try:
            return cls(text.lower())
        except ValueError:
            raise ConfigError(f"unknown signature algorithm {text!r}; use one of "
                              f"{', '.join(a.value for a in cls)}") from None


def generate_key(algorithm: SignatureAlgorithm) -> PrivateKey:
    if algorithm is SignatureAlgorithm.RSA2048:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm is SignatureAlgorithm.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def _generate_pem(algorithm_value: str) -> bytes:
    key = generate_key(SignatureAlgorithm(algorithm_value))
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def default_cache_dir() -> Path:
    env = os.environ.get("LGSP_PKI_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lgsp-sim" / "keys"


class KeyStore:
    """Key pairs by holder label, cached as PEM files in ``cache_dir/<algorithm>/``."""

    def __init__(self, algorithm: SignatureAlgorithm, cache_dir: Path | None = None) -> None:
        self.algorithm = algorithm
        self.directory = (cache_dir or default_cache_dir()) / algorithm.value
        self._keys: dict[str, PrivateKey] = {}

    def _path(self, label: str) -> Path:
        return self.directory / f"{label}.pem"

    def get(self, label: str) -> PrivateKey:
        key = self._keys.get(label)
        if key is None:
            self.ensure([label])
            key = self._keys[label]
        return key

    def ensure(self, labels: list[str], *, workers: int | None = None) -> int:
        """Load or generate the keys of ``labels``; return how many were generated."""
        missing: list[str] = []
        for label in labels:
            if label in self._keys:
                continue
            path = self._path(label)
            if path.exists():
                self._keys[label] = _load(path.read_bytes())
            else:
                missing.append(label)
        if not missing:
            return 0
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.algorithm is SignatureAlgorithm.RSA2048 and len(missing) > 8:
            n = workers or os.cpu_count() or 1
            log.info("pki_generating_keys", count=len(missing), algorithm=self.algorithm.value,
                     workers=n, cache=str(self.directory))
            with ProcessPoolExecutor(max_workers=n) as pool:
                pems = list(pool.map(_generate_pem, [self.algorithm.value] * len(missing),
                                     chunksize=8))
        else:
            pems = [_generate_pem(self.algorithm.value) for _ in missing]
        for label, pem in zip(missing, pems, strict=True):
            self._keys[label] = _load(self._publish(label, pem))
        return len(missing)

    def _publish(self, label: str, pem: bytes) -> bytes:
        """Store a new key unless another process stored one first; return the key that won
        (every process of a run must sign with the key its certificate was issued for)."""
        final = self._path(label)
        tmp = final.with_name(f"{final.name}.{os.getpid()}.{id(pem)}.tmp")
        tmp.write_bytes(pem)
        try:
            os.link(tmp, final)
        except FileExistsError:
            pem = final.read_bytes()
        finally:
            tmp.unlink()
        return pem


def _load(pem: bytes) -> PrivateKey:
    # Our own cache of keys we generated: skip OpenSSL's RSA consistency check, which costs ~40 ms
    # per key (a province has hundreds) and guards against malformed third-party keys.
    key: PrivateKeyTypes = serialization.load_pem_private_key(
        pem, password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
                      | ec.EllipticCurvePrivateKey):
        raise ConfigError("a cached key has an unsupported type; delete the PKI cache directory")
    return key
