"""Checking sample records (JSON) against a schema, with a precise error.

JSON has no bytes, dates or timestamps, so values are read the way the Avro JSON encoding reads
them — bytes and fixed as strings of code points 0–255 (or ``hex:...``) — with two conveniences:
ISO dates for ``date`` and ISO date-times for ``timestamp-*``, and unions given as the plain value.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastavro.validation import ValidationError, validate

from lgsp.codec.registry import RegisteredSchema
from lgsp.errors import SampleError


def _bytes(value: Any, path: str) -> Any:
    if isinstance(value, str):
        if value.startswith("hex:"):
            try:
                return bytes.fromhex(value[4:])
            except ValueError:
                raise SampleError(path, f"{value!r} is not valid hex") from None
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            raise SampleError(path, "bytes must be code points 0-255 or 'hex:...'") from None
    return value


def from_json(schema: Any, value: Any, path: str = "") -> Any:
    """Convert a JSON value to what fastavro expects for ``schema`` (a parsed schema)."""
    if isinstance(schema, list):  # union: the first branch the value converts into
        for branch in schema:
            if branch == "null" and value is None:
                return None
            if branch != "null" and value is not None:
                try:
                    return from_json(branch, value, path)
                except SampleError:
                    continue
        return value
    if isinstance(schema, str):
        return _bytes(value, path) if schema == "bytes" else value
    kind, logical = schema.get("type"), schema.get("logicalType")
    if logical == "date" and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise SampleError(path, f"{value!r} is not an ISO date (YYYY-MM-DD)") from None
    if logical and logical.startswith("timestamp") and isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            raise SampleError(path, f"{value!r} is not an ISO date-time") from None
    if kind in ("bytes", "fixed"):
        return _bytes(value, path)
    if kind == "record" and isinstance(value, dict):
        out = dict(value)
        for f in schema["fields"]:
            if f["name"] in value:
                out[f["name"]] = from_json(f["type"], value[f["name"]], f"{path}.{f['name']}")
        return out
    if kind == "array" and isinstance(value, list):
        return [from_json(schema["items"], v, f"{path}[{i}]") for i, v in enumerate(value)]
    if kind == "map" and isinstance(value, dict):
        return {k: from_json(schema["values"], v, f"{path}.{k}") for k, v in value.items()}
    return value


def validate_sample(schema: RegisteredSchema, value: Any) -> None:
    """Raise ``SampleError`` naming the field and what was wrong, or return if it fits."""
    record = from_json(schema.parsed, value, schema.subject)
    try:
        validate(record, schema.parsed, raise_errors=True)
    except ValidationError as exc:
        first = exc.errors[0]
        where = getattr(first, "field", None) or schema.subject
        datum = getattr(first, "datum", None)
        expected = getattr(first, "schema", None)
        if isinstance(expected, dict):
            expected = expected.get("name") or expected.get("type")
        raise SampleError(str(where), f"expected {expected}, got {datum!r} "
                                      f"({type(datum).__name__})") from None
