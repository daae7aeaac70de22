"""Avro codec in the Confluent wire format, and the file schema registry."""

from lgsp.codec._wire import frame, read_header
from lgsp.codec.avro import AvroCodec
from lgsp.codec.events import EventCodec, SignedDocument
from lgsp.codec.registry import FileSchemaRegistry, RegisteredSchema

__all__ = [
    "AvroCodec",
    "EventCodec",
    "FileSchemaRegistry",
    "RegisteredSchema",
    "SignedDocument",
    "frame",
    "read_header",
]
