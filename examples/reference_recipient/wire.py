"""The wire format of docs/contract.md §3: Confluent framing around Avro binary, with the schema ids
of ``schemas/registry.json``.

Logical types are stripped from the schemas before parsing, so timestamps come out as the plain
µs integers the signatures cover (``signed_at``) and go in as such (``timestamp``).
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro

MAGIC = 0
HEADER = struct.Struct(">BI")

DOCUMENT = "lgsp.document"
DOCUMENT_EVENT = "lgsp.document-event"
STATUS_EVENT = "lgsp.status-event"
DEAD_LETTER = "lgsp.dead-letter"

DEFAULT_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


class WireError(Exception):
    """A value that cannot be read; ``reason`` is the contract's snake_case reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Schema:
    id: int
    subject: str
    version: int
    parsed: Any


def _plain(node: Any) -> Any:
    """The schema without ``logicalType`` annotations (values stay raw ints)."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


class Registry:
    """The file schema registry: every (subject, version) under its stable id."""

    def __init__(self, directory: Path = DEFAULT_SCHEMAS) -> None:
        listing = json.loads((directory / "registry.json").read_text(encoding="utf-8"))
        self.by_id: dict[int, Schema] = {}
        for entry in listing["schemas"]:
            raw = json.loads((directory / entry["file"]).read_text(encoding="utf-8"))
            parsed = fastavro.parse_schema(_plain(raw), named_schemas={})
            self.by_id[int(entry["id"])] = Schema(int(entry["id"]), entry["subject"],
                                                  int(entry["version"]), parsed)

    def latest(self, subject: str) -> Schema:
        """Writers use the latest version of a subject."""
        versions = [s for s in self.by_id.values() if s.subject == subject]
        if not versions:
            raise KeyError(subject)
        return max(versions, key=lambda s: s.version)

    def schema(self, schema_id: int, subject: str) -> Schema:
        found = self.by_id.get(schema_id)
        if found is None or found.subject != subject:
            raise WireError("unknown_schema_id", f"no {subject} schema with id {schema_id}")
        return found

    def decode_body(self, schema_id: int, subject: str, body: bytes) -> dict[str, Any]:
        """Avro binary ``body`` (no framing) written with schema ``schema_id`` of ``subject``;
        every byte must belong to the record."""
        schema = self.schema(schema_id, subject)
        stream = io.BytesIO(body)
        try:
            record = fastavro.schemaless_reader(stream, schema.parsed)
        except Exception as exc:  # any decoder failure is a schema failure
            raise WireError("schema_invalid", f"{subject} v{schema.version}: {exc!r}") from exc
        if stream.tell() != len(body) or not isinstance(record, dict):
            raise WireError("schema_invalid", f"{subject} v{schema.version}: "
                            f"{len(body) - stream.tell()} trailing bytes")
        return record

    def decode_framed(self, value: bytes | None, subject: str) -> tuple[int, dict[str, Any]]:
        """A Confluent-framed value of ``subject``: (schema id, record)."""
        if value is None or len(value) < HEADER.size:
            raise WireError("undecodable", "value shorter than the Confluent header")
        magic, schema_id = HEADER.unpack_from(value)
        if magic != MAGIC:
            raise WireError("undecodable", f"magic byte {magic:#04x}, expected 0x00")
        try:
            return schema_id, self.decode_body(schema_id, subject, value[HEADER.size:])
        except WireError as exc:
            if exc.reason == "schema_invalid":  # the envelope itself is unreadable
                raise WireError("undecodable", exc.detail) from exc
            raise

    def version(self, subject: str, version: int) -> Schema:
        found = [s for s in self.by_id.values() if s.subject == subject and s.version == version]
        if not found:
            raise KeyError(f"{subject} v{version}")
        return found[0]

    def encode_framed(self, subject: str, record: dict[str, Any],
                      version: int | None = None) -> bytes:
        """``record`` with the latest schema of ``subject`` (or that ``version``: a
        misbehaviour), Confluent-framed; fields the schema lacks are left out."""
        schema = self.latest(subject) if version is None else self.version(subject, version)
        out = io.BytesIO()
        out.write(HEADER.pack(MAGIC, schema.id))
        fastavro.schemaless_writer(out, schema.parsed, record)
        return out.getvalue()
