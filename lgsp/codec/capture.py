"""The capture file: an Avro object container file (fastavro) of Kafka records, self-describing.

Each record keeps topic, partition, offset, timestamp and its type, key, headers and the value
bytes exactly as on the wire (never decoded and re-encoded), plus the Confluent schema id the value
names. The file header's metadata holds ``lgsp.capture`` (format, capture id, source, topics and
their partition counts), ``lgsp.schemas`` (every schema the registry knew, by id), so a capture
can be read, filtered and replayed without the registry that wrote it, and, for a run's own
recording (``simulate --record``), ``lgsp.trust``: the run's trust anchors (root and issuing CA
certificates, PEM), so its signatures (which carry their certificates) can be audited from the
capture alone.

Blocks are flushed often, so an interrupted recording leaves a readable file up to its last block.
Reading parses the container block by block: a truncated or corrupt block raises ``CaptureError``
naming the first record index that cannot be read; ``skip_corrupt`` resynchronises on the next
sync marker instead.
"""

from __future__ import annotations

import io
import json
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import fastavro
from fastavro.write import Writer

from lgsp.errors import CaptureError

FORMAT_VERSION = 1
CAPTURE_SCHEMA = fastavro.parse_schema({
    "type": "record", "name": "CapturedRecord", "namespace": "vn.gov.lgsp.capture",
    "fields": [
        {"name": "index", "type": "long", "doc": "position in the capture, from 0"},
        {"name": "topic", "type": "string"},
        {"name": "partition", "type": "int"},
        {"name": "offset", "type": "long"},
        {"name": "timestamp_ms", "type": "long", "doc": "Kafka record timestamp, ms since epoch"},
        {"name": "timestamp_type", "type": "int", "doc": "0 create time, 1 log append time"},
        {"name": "key", "type": ["null", "bytes"], "default": None},
        {"name": "value", "type": ["null", "bytes"], "default": None},
        {"name": "headers", "type": {"type": "array", "items": {
            "type": "record", "name": "Header", "fields": [
                {"name": "key", "type": "string"},
                {"name": "value", "type": ["null", "bytes"], "default": None}]}}},
        {"name": "value_schema_id", "type": ["null", "int"], "default": None},
    ],
})
_HEADER_SCHEMA = fastavro.parse_schema({
    "type": "record", "name": "org.apache.avro.file.Header", "fields": [
        {"name": "magic", "type": {"type": "fixed", "name": "Magic", "size": 4}},
        {"name": "meta", "type": {"type": "map", "values": "bytes"}},
        {"name": "sync", "type": {"type": "fixed", "name": "Sync", "size": 16}}]})
_MAGIC = b"Obj\x01"


@dataclass(frozen=True, slots=True)
class CapturedRecord:
    index: int
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    timestamp_type: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    value_schema_id: int | None = None

    def header(self, name: str) -> bytes | None:
        return next((v for k, v in self.headers if k == name), None)


@dataclass(slots=True)
class CaptureInfo:
    """The capture header: who recorded what, and the schemas the values reference."""

    capture_id: str
    source: str
    topics: dict[str, int] = field(default_factory=dict)
    """Topic -> partition count at recording time."""
    schemas: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Schema id -> {subject, version, schema}."""
    recorded_at: str = ""
    trust_anchors: dict[str, list[str]] = field(default_factory=dict)
    """``{"roots": [PEM, ...], "issuing_cas": [PEM, ...]}`` of the run recorded, if known."""


def _value_schema_id(value: bytes | None) -> int | None:
    if value is not None and len(value) >= 5 and value[0] == 0:
        return int.from_bytes(value[1:5], "big")
    return None


class CaptureWriter:
    """Appends records to a capture file; ``close()`` (or the context manager) finishes it."""

    def __init__(self, path: Path, info: CaptureInfo, *, flush_every: int = 500) -> None:
        self.path = path
        self._file: BinaryIO = path.open("wb")
        metadata = {
            "lgsp.capture": json.dumps({"format": FORMAT_VERSION, "capture_id": info.capture_id,
                                        "source": info.source, "topics": info.topics,
                                        "recorded_at": info.recorded_at}),
            "lgsp.schemas": json.dumps({str(k): v for k, v in info.schemas.items()}),
        }
        if info.trust_anchors:
            metadata["lgsp.trust"] = json.dumps(info.trust_anchors)
        self._writer = Writer(self._file, CAPTURE_SCHEMA, codec="deflate", metadata=metadata,
                              sync_interval=256 * 1024)
        self._flush_every = flush_every
        self.count = 0

    def write(self, *, topic: str, partition: int, offset: int, timestamp_ms: int,
              timestamp_type: int, key: bytes | None, value: bytes | None,
              headers: list[tuple[str, bytes | None]]) -> None:
        self._writer.write({
            "index": self.count, "topic": topic, "partition": partition, "offset": offset,
            "timestamp_ms": timestamp_ms, "timestamp_type": timestamp_type, "key": key,
            "value": value, "headers": [{"key": k, "value": v} for k, v in headers],
            "value_schema_id": _value_schema_id(value)})
        self.count += 1
        if self.count % self._flush_every == 0:
            self.flush()

    def flush(self) -> None:
        """End the current block and push it to disk: the file is readable up to here."""
        self._writer.flush()
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self.flush()
            self._file.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def new_capture_id() -> str:
    return uuid.uuid4().hex


class CaptureReader:
    """Reads a capture file block by block, with precise errors."""

    def __init__(self, path: Path, *, skip_corrupt: bool = False) -> None:
        self.path = path
        self.skip_corrupt = skip_corrupt
        self.skipped_blocks = 0
        try:
            self._data = path.read_bytes()
        except FileNotFoundError:
            raise CaptureError(f"capture file {path} does not exist") from None
        if not self._data.startswith(_MAGIC):
            raise CaptureError(f"{path} is not an Avro container file (no 'Obj' magic)")
        buffer = io.BytesIO(self._data)
        try:
            header = fastavro.schemaless_reader(buffer, _HEADER_SCHEMA, None)
        except (EOFError, ValueError, IndexError) as exc:
            raise CaptureError(f"{path}: the file header is truncated or corrupt ({exc})") from None
        if not isinstance(header, dict) or header.get("magic") != _MAGIC:
            raise CaptureError(f"{path}: the file header is not an Avro container header")
        self._sync: bytes = header["sync"]
        self._start = buffer.tell()
        meta = {k: bytes(v) for k, v in header["meta"].items()}
        self._codec = meta.get("avro.codec", b"null").decode()
        try:
            capture = json.loads(meta["lgsp.capture"])
            schemas = json.loads(meta.get("lgsp.schemas", b"{}"))
            trust = json.loads(meta.get("lgsp.trust", b"{}"))
        except (KeyError, json.JSONDecodeError):
            raise CaptureError(f"{path} is an Avro file but not an lgsp capture") from None
        self.info = CaptureInfo(capture_id=capture["capture_id"], source=capture.get("source", ""),
                                topics=capture.get("topics", {}),
                                schemas={int(k): v for k, v in schemas.items()},
                                recorded_at=capture.get("recorded_at", ""),
                                trust_anchors=trust)

    def _decompress(self, data: bytes) -> bytes:
        if self._codec == "deflate":
            return zlib.decompress(data, -15)
        if self._codec == "null":
            return data
        raise CaptureError(f"{self.path}: unsupported codec {self._codec}")

    def __iter__(self) -> Iterator[CapturedRecord]:
        position, expected_index = self._start, 0
        data = self._data
        while position < len(data):
            try:
                records, position = self._block(position)
            except (EOFError, ValueError, IndexError, zlib.error, CaptureError) as exc:
                if not self.skip_corrupt:
                    raise CaptureError(
                        f"{self.path}: truncated or corrupt at record {expected_index} (byte "
                        f"{position}): {exc}; records before it are intact; use --skip-corrupt "
                        "to continue past it") from None
                self.skipped_blocks += 1
                next_sync = data.find(self._sync, position + 1)
                if next_sync < 0:
                    return
                position = next_sync + len(self._sync)
                continue
            if not self.skip_corrupt:
                for offset, record in enumerate(records):
                    if record.index != expected_index + offset:
                        raise CaptureError(
                            f"{self.path}: record {expected_index + offset} is missing or "
                            f"altered (found index {record.index}); use --skip-corrupt to go on")
            for record in records:
                expected_index = record.index + 1
                yield record

    def _block(self, position: int) -> tuple[list[CapturedRecord], int]:
        data = self._data
        count, position = _read_long(data, position)
        size, position = _read_long(data, position)
        end = position + size
        if count < 0 or size < 0 or end + 16 > len(data):
            raise EOFError("block extends past the end of the file")
        if data[end:end + 16] != self._sync:
            raise ValueError("sync marker mismatch")
        body = io.BytesIO(self._decompress(data[position:end]))
        out = []
        for _ in range(count):
            r = fastavro.schemaless_reader(body, CAPTURE_SCHEMA, None)
            if not isinstance(r, dict):
                raise ValueError("a captured record is not an Avro record")
            out.append(CapturedRecord(
                r["index"], r["topic"], r["partition"], r["offset"], r["timestamp_ms"],
                r["timestamp_type"], r["key"], r["value"],
                tuple((h["key"], h["value"]) for h in r["headers"]), r["value_schema_id"]))
        if body.read(1):
            raise ValueError("the block holds more bytes than its records")
        return out, end + 16


def _read_long(data: bytes, position: int) -> tuple[int, int]:
    """A zig-zag varint at ``position``; returns (value, next position)."""
    shift = result = 0
    while True:
        if position >= len(data):
            raise EOFError("unexpected end of file in a block header")
        b = data[position]
        position += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if shift > 63:
            raise ValueError("malformed varint in a block header")
    return (result >> 1) ^ -(result & 1), position
