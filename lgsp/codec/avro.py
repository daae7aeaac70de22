"""Avro encoding in the Confluent wire format with parsed schemas from the file registry."""

from __future__ import annotations

import io
import struct
from typing import Any

import fastavro
from fastavro.read import SchemaResolutionError

from lgsp.codec._wire import HEADER_SIZE, frame, read_header
from lgsp.codec.registry import RegisteredSchema, SchemaRegistry
from lgsp.errors import DecodeError

# What fastavro raises on bytes that are not a valid record of the schema.
_MALFORMED = (EOFError, ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError,
              OverflowError, struct.error, SchemaResolutionError)


class AvroCodec:
    """Encodes records as ``0 | schema id | Avro body`` and decodes them by the writer's id."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry

    def encode(self, subject: str, record: dict[str, Any]) -> bytes:
        """Frame ``record`` with the latest version of ``subject``."""
        return self.encode_with(self.registry.latest(subject), record)

    def encode_with(self, schema: RegisteredSchema, record: dict[str, Any]) -> bytes:
        return frame(schema.id, self.encode_body(schema, record))

    @staticmethod
    def encode_body(schema: RegisteredSchema, record: dict[str, Any]) -> bytes:
        out = io.BytesIO()
        try:
            fastavro.schemaless_writer(out, schema.parsed, record)
        except _MALFORMED as exc:
            raise DecodeError(f"record does not fit {schema.subject} v{schema.version}: {exc}",
                              reason="schema_invalid") from None
        return out.getvalue()

    def decode(self, data: bytes, *, expect_subject: str | None = None
               ) -> tuple[RegisteredSchema, dict[str, Any]]:
        """The writer schema and the record of a framed value; ``DecodeError`` with a reason."""
        schema = self.registry.by_id(read_header(data))
        if expect_subject is not None and schema.subject != expect_subject:
            raise DecodeError(f"expected a {expect_subject} record, got schema id {schema.id} "
                              f"({schema.subject})", reason="unexpected_schema")
        return schema, self.decode_body(schema, data, HEADER_SIZE)

    @staticmethod
    def decode_body(schema: RegisteredSchema, data: bytes, offset: int = 0, *,
                    reader: RegisteredSchema | None = None) -> dict[str, Any]:
        """Decode bytes written with ``schema``; with ``reader``, resolve into that schema."""
        buffer = io.BytesIO(data)
        buffer.seek(offset)
        resolve = reader.parsed if reader is not None and reader.id != schema.id else None
        try:
            record = fastavro.schemaless_reader(buffer, schema.parsed, resolve)
        except _MALFORMED as exc:
            raise DecodeError(f"bytes are not a valid {schema.subject} v{schema.version} record: "
                              f"{type(exc).__name__}: {exc}", reason="schema_invalid") from None
        if buffer.tell() != len(data):
            raise DecodeError(f"{len(data) - buffer.tell()} trailing bytes after a "
                              f"{schema.subject} record", reason="schema_invalid")
        if not isinstance(record, dict):
            raise DecodeError(f"{schema.subject} body is not a record", reason="schema_invalid")
        return record
