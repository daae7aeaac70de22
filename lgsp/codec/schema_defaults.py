"""Field defaults must be values of their field's type — of a union's first branch.

Apache Avro's parser keeps any default, so a compatibility check alone calls ``"type": "int",
"default": "x"`` fine; fastavro refuses that schema when it loads and Confluent Schema Registry
refuses to register it (42201). A reader fills a missing field with its default, so a wrong one
is a broken schema whatever its history. Defaults are JSON as the Avro specification writes them:
bytes and fixed as strings of code points 0-255, records as objects, unions by their first branch.
"""

from __future__ import annotations

import json
from typing import Any

import avro.schema as avro_schema

from lgsp.codec.compatibility import CompatibilityMode, Rule, SchemaVersion, Violation

_INT_RANGE = {"int": 2**31, "long": 2**63}


def _is_bytes(value: Any) -> bool:
    return isinstance(value, str) and all(ord(c) < 256 for c in value)


def fits(schema: avro_schema.Schema, value: Any) -> bool:
    """Whether ``value`` (a default as written in JSON) is a value of ``schema``."""
    if isinstance(schema, avro_schema.UnionSchema):
        return bool(schema.schemas) and fits(schema.schemas[0], value)
    if isinstance(schema, avro_schema.FixedSchema):
        return _is_bytes(value) and len(value) == schema.size
    if isinstance(schema, avro_schema.EnumSchema):
        return value in schema.symbols
    if isinstance(schema, avro_schema.ArraySchema):
        return isinstance(value, list) and all(fits(schema.items, v) for v in value)
    if isinstance(schema, avro_schema.MapSchema):
        return isinstance(value, dict) and all(fits(schema.values, v) for v in value.values())
    if isinstance(schema, avro_schema.RecordSchema):
        return isinstance(value, dict) and all(
            fits(f.type, value[f.name]) if f.name in value else f.has_default
            for f in schema.fields)
    match schema.type:
        case "null":
            return value is None
        case "boolean":
            return isinstance(value, bool)
        case "int" | "long":
            limit = _INT_RANGE[schema.type]
            return (isinstance(value, int) and not isinstance(value, bool)
                    and -limit <= value < limit)
        case "float" | "double":
            return isinstance(value, int | float) and not isinstance(value, bool)
        case "string":
            return isinstance(value, str)
        case "bytes":
            return _is_bytes(value)
    return False


def _label(schema: avro_schema.Schema) -> str:
    return str(getattr(schema, "fullname", None) or schema.type)


class _Finder:
    def __init__(self, version: SchemaVersion, mode: CompatibilityMode) -> None:
        self.version, self.mode = version, mode
        self.found: list[Violation] = []
        self._seen: set[str] = set()  # named types are checked once (recursion, reuse)

    def walk(self, schema: avro_schema.Schema, path: str) -> None:
        if isinstance(schema, avro_schema.NamedSchema):
            if schema.fullname in self._seen:
                return
            self._seen.add(schema.fullname)
        if isinstance(schema, avro_schema.RecordSchema):
            for f in schema.fields:
                here = f"{path}.{f.name}" if path else f.name
                if f.has_default and not fits(f.type, f.default):
                    self._add(here, f)
                self.walk(f.type, here)
        elif isinstance(schema, avro_schema.ArraySchema):
            self.walk(schema.items, f"{path}[]")
        elif isinstance(schema, avro_schema.MapSchema):
            self.walk(schema.values, f"{path}{{}}")
        elif isinstance(schema, avro_schema.UnionSchema):
            for branch in schema.schemas:
                self.walk(branch, path)

    def _add(self, path: str, f: avro_schema.Field) -> None:
        union = isinstance(f.type, avro_schema.UnionSchema)
        target = f.type.schemas[0] if union else f.type
        where = (f"its union's first branch ({_label(target)})" if union
                 else f"type {_label(target)}")
        self.found.append(Violation(
            self.version.subject, self.version, self.version, self.mode, path, Rule.INVALID_DEFAULT,
            f"default {json.dumps(f.default, ensure_ascii=False)} of field '{f.name}' is not "
            f"a value of {where}: readers fill the field with it, so the schema is refused "
            "(fastavro, Confluent 42201)"))


def invalid_defaults(version: SchemaVersion,
                     mode: CompatibilityMode = CompatibilityMode.BACKWARD) -> list[Violation]:
    """Every field of ``version`` whose default is not a value of its type."""
    finder = _Finder(version, mode)
    finder.walk(version.parsed, "")
    return finder.found
