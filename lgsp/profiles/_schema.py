"""Profiles are checked against the JSON Schemas shipped beside them (``*.schema.json``).

Types, ranges, required keys and no unknown keys: a violation is one ``ConfigError`` line naming
the file, the key path and the fix (the ``description`` of the schema part that failed), e.g.
``profile my.yaml: communes: 'many' is not of type 'integer'; expected a whole number of
communes ...``. What a schema cannot say (a commune count that does not fit 99 per district, an
unknown Decree 30 type) stays with the code that builds from the data.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from enum import StrEnum
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from lgsp.errors import ConfigError


class ProfileKind(StrEnum):
    """What a profile describes; each has its schema ``<kind>.schema.json``."""

    PROVINCE = "province"
    CENTRAL = "central"
    TRAFFIC = "traffic"


@functools.cache
def _validator(kind: ProfileKind) -> Draft202012Validator:
    text = (resources.files(__package__) / f"{kind.value}.schema.json").read_text(encoding="utf-8")
    return Draft202012Validator(json.loads(text))


def _jsonable(value: Any) -> Any:
    """YAML data as JSON sees it: mapping keys are strings (YAML reads ``0:`` as an int)."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def _key_path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(top level)"


def _fix(error: ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "required":
        return "add the missing key (compare with the shipped profiles)"
    if error.validator == "additionalProperties" and "properties" in schema:
        return f"known keys: {', '.join(schema['properties'])}"
    if error.validator == "propertyNames" and isinstance(error.validator_value, dict):
        return f"expected {error.validator_value.get('description', 'a known key')}"
    description = schema.get("description")
    return f"expected {description}" if description else "compare with the shipped profiles"


def check_profile(data: Any, kind: ProfileKind, source: str) -> dict[str, Any]:
    """``data`` (parsed YAML) if it fits the ``kind``'s schema, else ``ConfigError`` naming
    ``source``, the key path and the fix."""
    plain = _jsonable(data)
    error = best_match(_validator(kind).iter_errors(plain))
    if error is None:
        return data
    message = " ".join(error.message.split())
    raise ConfigError(f"{kind.value} profile {source}: {_key_path(error.absolute_path)}: "
                      f"{message}; {_fix(error)}")
