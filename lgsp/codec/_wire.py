"""The Confluent wire format: byte 0 = 0 (magic), 4-byte big-endian schema id, Avro body."""

from __future__ import annotations

import struct

from lgsp.errors import DecodeError

MAGIC = 0
_HEADER = struct.Struct(">bI")
HEADER_SIZE = _HEADER.size


def frame(schema_id: int, body: bytes) -> bytes:
    return _HEADER.pack(MAGIC, schema_id) + body


def read_header(data: bytes) -> int:
    """The schema id of a framed value; ``DecodeError`` if it is not Confluent-framed."""
    if data is None or len(data) < HEADER_SIZE:
        raise DecodeError(f"value of {0 if data is None else len(data)} bytes is shorter than the "
                          "5-byte Confluent header", reason="undecodable")
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise DecodeError(f"value starts with byte {magic}, not the Confluent magic byte 0",
                          reason="undecodable")
    return int(schema_id)
