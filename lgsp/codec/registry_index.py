"""``registry.json``, the file schema registry's index, read and checked against its JSON Schema.

The JSON Schema is ``docs/registry.schema.json``; the package carries an identical copy
(``lgsp/codec/registry.schema.json``, a test pins the two) because ``docs/`` is not installed.
A mistake answers one line naming the key, e.g. ``top level: Additional properties are not allowed
('schema' was unexpected)`` for ``"schema"`` written instead of ``"schemas"``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, cast

from jsonschema import (
    Draft202012Validator,
    ValidationError,
)

from lgsp.errors import ConfigError

SCHEMA_FILE = "registry.schema.json"
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
               float: "number", type(None): "null"}


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(resources.files("lgsp.codec").joinpath(SCHEMA_FILE).read_text("utf-8"))
    return Draft202012Validator(schema)


def _describe(error: ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path)
    if error.validator == "type":
        expected = error.validator_value
        kinds = " or ".join(expected) if isinstance(expected, list) else str(expected)
        subject = f"'{where}'" if where else "top level"
        got = _JSON_TYPES.get(type(error.instance), type(error.instance).__name__)
        return f"{subject} must be a JSON {kinds} (got {got})"
    return f"{where or 'top level'}: {error.message}"


def parse_index(text: str, shown: str) -> dict[str, Any]:
    """The index in ``text`` (``shown`` names it in messages), or a ``ConfigError``."""
    try:
        index = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{shown} is not valid JSON: {exc}") from None
    errors = list(_validator().iter_errors(index))
    if errors:
        errors.sort(key=lambda e: [str(p) for p in e.absolute_path])
        found = "; ".join(_describe(e) for e in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise ConfigError(f"{shown} does not follow docs/{SCHEMA_FILE}: {found}{more}"
                          .replace("\n", " "))
    return cast("dict[str, Any]", index)  # the schema requires an object
