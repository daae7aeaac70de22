"""The file schema registry: ``schemas/registry.json`` gives each (subject, version) a stable id.

Schemas are parsed once (fastavro ``parse_schema``) when the registry loads. An id not in the file
is an ``unknown_schema_id`` rejection, never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Protocol

import fastavro

from lgsp.codec.registry_index import parse_index
from lgsp.errors import ConfigError, DecodeError


def _read(file: Path | Traversable, missing: str) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(missing) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror or exc}") from None


@dataclass(frozen=True, slots=True)
class RegisteredSchema:
    id: int
    subject: str
    version: int
    file: str
    """Path relative to the schemas directory."""
    definition: dict[str, Any]
    """The JSON schema as written."""
    parsed: Any
    """fastavro's parsed form, reused for every record."""


class SchemaRegistry(Protocol):
    """What the codec needs of a registry: the file one, or a REST one (``--registry-url``)."""

    def by_id(self, schema_id: int) -> RegisteredSchema: ...
    def latest(self, subject: str) -> RegisteredSchema: ...
    def versions(self, subject: str) -> list[RegisteredSchema]: ...
    @property
    def subjects(self) -> list[str]: ...


class FileSchemaRegistry:
    """Schemas by id and by (subject, version), loaded from a directory with ``registry.json``."""

    def __init__(self, root: Path | Traversable | None = None) -> None:
        self.root: Path | Traversable = root if root is not None else resources.files("schemas")
        index_file = self.root / "registry.json"
        index = parse_index(_read(index_file, f"no registry.json in {self.root}"),
                            str(index_file))
        self.compatibility: dict[str, str] = {
            subject: str(cfg.get("compatibility", "BACKWARD"))
            for subject, cfg in index.get("subjects", {}).items()
        }
        self._by_id: dict[int, RegisteredSchema] = {}
        self._latest: dict[str, RegisteredSchema] = {}
        named: dict[str, Any] = {}
        for entry in sorted(index["schemas"], key=lambda e: (e["subject"], e["version"])):
            schema_id = int(entry["id"])
            if schema_id in self._by_id:
                raise ConfigError(f"schema id {schema_id} appears twice in registry.json")
            text = _read(self.root / entry["file"], f"schema {entry['file']} is listed in "
                         f"registry.json but missing in {self.root}")
            try:
                definition = json.loads(text)
                parsed = fastavro.parse_schema(definition, named_schemas=dict(named))
            except (json.JSONDecodeError, fastavro.schema.SchemaParseException, KeyError,
                    ValueError) as exc:
                raise ConfigError(f"schema {entry['file']} does not parse: {exc}") from None
            registered = RegisteredSchema(schema_id, entry["subject"], int(entry["version"]),
                                          entry["file"], definition, parsed)
            self._by_id[schema_id] = registered
            latest = self._latest.get(registered.subject)
            if latest is None or registered.version > latest.version:
                self._latest[registered.subject] = registered

    def by_id(self, schema_id: int) -> RegisteredSchema:
        try:
            return self._by_id[schema_id]
        except KeyError:
            raise DecodeError(f"schema id {schema_id} is not in the schema registry "
                              f"(known ids: {sorted(self._by_id)}); run `lgsp schemas list`",
                              reason="unknown_schema_id") from None

    def latest(self, subject: str) -> RegisteredSchema:
        try:
            return self._latest[subject]
        except KeyError:
            raise ConfigError(f"subject {subject!r} is not in the schema registry") from None

    def versions(self, subject: str) -> list[RegisteredSchema]:
        return sorted((s for s in self._by_id.values() if s.subject == subject),
                      key=lambda s: s.version)

    @property
    def subjects(self) -> list[str]:
        return sorted(self._latest)

    def __iter__(self) -> Iterator[RegisteredSchema]:
        return iter(sorted(self._by_id.values(), key=lambda s: s.id))
