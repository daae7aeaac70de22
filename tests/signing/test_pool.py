"""The signing pool: separate processes make the very signatures the worker would, and a pool
that fails says so instead of leaving a document waiting forever."""

import asyncio
import datetime as dt

import pytest

from lgsp.signing import (
    Pki,
    SignatureAlgorithm,
    SignatureRole,
    SignatureVerifier,
    content_digest,
    sign,
)
from lgsp.signing.pool import SigningError, SigningPool
from lgsp.signing.signature import block_of

SENDERS = ("000.00.00.H56", "000.01.31.H56")
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module", params=list(SignatureAlgorithm), ids=lambda a: a.value)
def pki(request, tmp_path_factory):
    return Pki(request.param, cache_dir=tmp_path_factory.mktemp("keys"))


def _credentials(pki):
    return [pki.credential(code, role, holder=f"holder {code}", organization=f"org {code}")
            for code in SENDERS for role in SignatureRole]


async def test_pool_signatures_verify_against_the_chain(pki):
    """Every signature a pool process makes verifies against the run's certificates, for the
    signer and role it was asked for; and the pool reports the CPU time it took."""
    credentials = _credentials(pki)
    verifier = SignatureVerifier(pki.directory)
    pool = SigningPool(credentials, processes=2)
    await pool.start()
    try:
        digests = [content_digest(f"document {i}".encode(), 1) for i in range(40)]
        answers = await asyncio.wait_for(asyncio.gather(
            *(pool.sign(d, credentials[:2], NOW) for d in digests)), timeout=60)
        for digest, (values, cpu_ns) in zip(digests, answers, strict=True):
            assert len(values) == 2
            assert cpu_ns > 0
            for credential, value in zip(credentials[:2], values, strict=True):
                block = block_of(credential, value, NOW)
                issued = verifier.verify(block, digest, sender=SENDERS[0],
                                         role=credential.issued.role)
                assert issued.serial == credential.issued.serial
    finally:
        await pool.close()


@pytest.fixture(scope="module")
def rsa_pki(tmp_path_factory):
    return Pki(SignatureAlgorithm.RSA2048, cache_dir=tmp_path_factory.mktemp("rsa-keys"))


async def test_pool_makes_the_signature_the_worker_would(rsa_pki):
    """RSA PKCS#1 v1.5 is deterministic: the pool's value equals the worker's in-line one
    (same key, same signed attributes); Ed25519 and ECDSA values are checked by verification
    above."""
    credentials = _credentials(rsa_pki)
    pool = SigningPool(credentials, processes=1)
    await pool.start()
    try:
        digest = content_digest(b"the same content", 7)
        values, _ = await asyncio.wait_for(pool.sign(digest, credentials, NOW), timeout=30)
        assert values == [sign(c, digest, NOW).value for c in credentials]
    finally:
        await pool.close()


async def test_a_signer_that_dies_fails_its_documents(pki):
    """A signing process killed mid-run: what it owed fails with SigningError (the worker's
    send fails loudly), and later requests to it fail at once — nothing waits forever."""
    credentials = _credentials(pki)
    pool = SigningPool(credentials, processes=1)
    await pool.start()
    try:
        pool._signers[0].process.kill()
        with pytest.raises(SigningError):
            await asyncio.wait_for(pool.sign(b"\0" * 32, credentials[:1], NOW), timeout=10)
        await asyncio.sleep(0)
        with pytest.raises(SigningError):
            await asyncio.wait_for(pool.sign(b"\1" * 32, credentials[:1], NOW), timeout=10)
    finally:
        await pool.close()


async def test_an_unknown_key_is_a_signing_error(pki):
    """Asked to sign with a credential it was not given: that document fails, the pool goes
    on signing the next one."""
    credentials = _credentials(pki)
    pool = SigningPool(credentials[:1], processes=1)
    await pool.start()
    try:
        with pytest.raises(SigningError, match="signing failed"):
            await asyncio.wait_for(pool.sign(b"\0" * 32, credentials[1:2], NOW), timeout=10)
        values, _ = await asyncio.wait_for(pool.sign(b"\0" * 32, credentials[:1], NOW),
                                           timeout=10)
        assert len(values) == 1
    finally:
        await pool.close()


def test_a_pool_needs_a_process(pki):
    with pytest.raises(ValueError, match="at least one process"):
        SigningPool(_credentials(pki), processes=0)
