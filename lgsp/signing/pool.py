"""A pool of signing processes: the private-key operations of document signatures, off a
worker's event loop and onto cores it does not use.

Each process (``lgsp.signing.signer``, a child of the worker: a worker is a daemonic process and
may not start a ``multiprocessing`` pool) gets the signers' private keys once, through its stdin
pipe (they stay within the run's own processes, as in the worker), then signs digests. Requests
go round-robin; ``sign`` returns the signature values with the CPU time they took in the signer,
so a run still reports what signing costs. The values are the very bytes
``lgsp.signing.signature.sign`` makes: same keys, same signed attributes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import pickle
import sys
from collections.abc import Iterable, Sequence

import structlog
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from lgsp.errors import LgspError
from lgsp.signing.pki import Credential, SignatureRole
from lgsp.signing.signer import FRAME, frame

log = structlog.get_logger(__name__)

START_TIMEOUT_S = 60.0
Signed = tuple[list[bytes], int]
"""Signature values (in the order of the signers asked for) and the signer's CPU time in ns."""


class SigningError(LgspError):
    """A signing process failed or ended."""


class _Signer:
    """One signing process and the answers it owes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.owed: dict[int, asyncio.Future[Signed]] = {}
        self.reader: asyncio.Task[None] | None = None
        self.closing = False
        """Ended on purpose: what it still owes is cancelled (documents never sent), not failed."""

    async def read_answers(self) -> None:
        stdout = self.process.stdout
        if stdout is None:
            raise SigningError("a signing process without its pipes")
        error = "the signing process ended"
        try:
            while True:
                head = await stdout.readexactly(FRAME.size)
                body = await stdout.readexactly(FRAME.unpack(head)[0])
                request_id, values, cpu_ns, failure = _loads(body)
                owed = self.owed.pop(request_id, None)
                if owed is None or owed.done():
                    continue
                if failure is not None:
                    owed.set_exception(SigningError(f"signing failed: {failure}"))
                else:
                    owed.set_result((values, cpu_ns))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            error = f"the signing process ended ({exc!r})"
        finally:
            for owed in self.owed.values():
                if owed.done():
                    continue
                if self.closing:
                    owed.cancel()
                else:
                    owed.set_exception(SigningError(error))
            self.owed.clear()


def _loads(body: bytes) -> tuple[int, list[bytes], int, str | None]:
    """An answer of our own child process (nothing else writes to its pipe)."""
    answer: tuple[int, list[bytes], int, str | None] = pickle.loads(body)  # noqa: S301
    return answer


class SigningPool:
    """``processes`` signing processes holding the keys of ``credentials``; an asyncio object
    (``start`` and ``sign`` in the loop that will await the signatures)."""

    def __init__(self, credentials: Iterable[Credential], processes: int) -> None:
        if processes < 1:
            raise ValueError("a signing pool needs at least one process")
        self.processes = processes
        self._keys = {c.issued.serial: c.key.private_bytes(Encoding.DER, PrivateFormat.PKCS8,
                                                           NoEncryption())
                      for c in credentials}
        self._signers: list[_Signer] = []
        self._turn = itertools.count()
        self._ids = itertools.count()

    async def start(self) -> None:
        """Start every process and wait until each holds the keys (not on the first document:
        that would be schedule lag)."""
        async with asyncio.timeout(START_TIMEOUT_S):
            for _ in range(self.processes):
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "lgsp.signing.signer", stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE)
                if process.stdin is None or process.stdout is None:
                    raise SigningError("a signing process without its pipes")
                self._signers.append(signer := _Signer(process))
                process.stdin.write(frame(self._keys))
                head = await process.stdout.readexactly(FRAME.size)
                await process.stdout.readexactly(FRAME.unpack(head)[0])  # "ready"
                signer.reader = asyncio.create_task(signer.read_answers())
        log.info("signing_pool_started", processes=self.processes, keys=len(self._keys))

    def sign(self, digest: bytes, signers: Sequence[Credential],
             signed_at: dt.datetime) -> asyncio.Future[Signed]:
        """The signature values of ``digest`` by each of ``signers`` (in order), and the CPU
        time they took."""
        if not self._signers:
            raise SigningError("the signing pool is not started")
        signer = self._signers[next(self._turn) % len(self._signers)]
        request_id = next(self._ids)
        owed: asyncio.Future[Signed] = asyncio.get_running_loop().create_future()
        stdin = signer.process.stdin
        if signer.reader is None or signer.reader.done() or stdin is None:
            owed.set_exception(SigningError("the signing process ended"))
            return owed
        signer.owed[request_id] = owed
        stdin.write(frame((request_id, digest,
                           [(c.issued.serial, _role(c)) for c in signers], signed_at)))
        return owed

    async def close(self) -> None:
        """End the processes (their input ends); signatures not yet made fail."""
        for signer in self._signers:
            signer.closing = True
            if signer.process.stdin is not None:
                signer.process.stdin.close()
        for signer in self._signers:
            try:
                async with asyncio.timeout(5.0):
                    await signer.process.wait()
            except TimeoutError:
                signer.process.kill()
                await signer.process.wait()
            if signer.reader is not None:
                await asyncio.gather(signer.reader, return_exceptions=True)
        self._signers.clear()


def _role(credential: Credential) -> SignatureRole:
    role = credential.issued.role
    if role is None:
        raise ValueError("a CA certificate does not sign documents")
    return role
