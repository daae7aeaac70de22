"""A signing process (``python -m lgsp.signing.signer``), started by ``lgsp.signing.pool``.

It reads length-prefixed pickled frames on stdin and writes the answers on stdout: first the keys
(PKCS#8 DER by certificate serial), then requests ``(id, digest, [(serial, role)], signed_at)``
answered by ``(id, [signature value], cpu_ns, error)``. It ends at the end of its input, and with
its parent (a worker killed by SIGKILL leaves no signer behind). Only its parent talks to it.
"""

from __future__ import annotations

import pickle
import signal
import struct
import sys
import time
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.serialization import load_der_private_key

from lgsp.broker.embedded import die_with_parent
from lgsp.signing.keys import PrivateKey
from lgsp.signing.signature import signature_value

FRAME = struct.Struct(">I")


def read_frame(stream: BinaryIO) -> Any:
    """The next pickled frame, or None at the end of the stream."""
    head = stream.read(FRAME.size)
    if len(head) < FRAME.size:
        return None
    return pickle.loads(stream.read(FRAME.unpack(head)[0]))  # noqa: S301 - our parent only


def frame(obj: Any) -> bytes:
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return FRAME.pack(len(body)) + body


def main() -> None:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    # The parent's own keys (it loaded them, checked, from its cache): OpenSSL's RSA consistency
    # check would cost ~35 ms per key here, half a minute for a province's hundreds of keys.
    keys: dict[str, PrivateKey] = {
        serial: load_der_private_key(  # type: ignore[misc]
            der, password=None, unsafe_skip_rsa_key_validation=True)
        for serial, der in (read_frame(source) or {}).items()}
    sink.write(frame("ready"))
    sink.flush()
    while (request := read_frame(source)) is not None:
        request_id, digest, signers, signed_at = request
        start = time.process_time_ns()
        answer: tuple[int, list[bytes], int, str | None]
        try:
            values = [signature_value(keys[serial], digest, role, signed_at)
                      for serial, role in signers]
            answer = (request_id, values, time.process_time_ns() - start, None)
        except Exception as exc:  # noqa: BLE001 - told to the parent, which fails that document
            answer = (request_id, [], 0, repr(exc))
        sink.write(frame(answer))
        sink.flush()


if __name__ == "__main__":
    main()
