"""A Confluent-compatible Schema Registry client over REST (``--registry-url``).

It offers what the codec needs (``by_id``, ``latest``, ``versions``, ``subjects``) and the subject
history the compatibility check compares against. Schemas are fetched once and cached: ids are
immutable in a registry. Requests are synchronous with a timeout; a run preloads every subject at
start so the consume loops never wait on HTTP for known schemas.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

import fastavro

from lgsp.codec.compatibility import CompatibilityMode, SchemaVersion
from lgsp.codec.registry import RegisteredSchema
from lgsp.codec.schema_sources import SchemaSet
from lgsp.errors import ConfigError, DecodeError, RegistryError

TIMEOUT_S = 10.0
ACCEPT = "application/vnd.schemaregistry.v1+json, application/json"


class _NotFound(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class RestSchemaRegistry:
    """Schemas from a registry's REST API, cached by id and by subject."""

    def __init__(self, url: str) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"--registry-url {url!r} must start with http:// or https://")
        self.url = url.rstrip("/")
        self._by_id: dict[int, RegisteredSchema] = {}
        self._versions: dict[str, list[RegisteredSchema]] = {}

    # ---- HTTP --------------------------------------------------------------------------------
    def _request(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.url + path, data=data, method="POST" if data is not None else "GET",
            headers={"Accept": ACCEPT, "Content-Type": "application/vnd.schemaregistry.v1+json"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                body = json.loads(exc.read())
            except (json.JSONDecodeError, ValueError):
                body = {}
            if exc.code == 404:
                raise _NotFound(int(body.get("error_code", 404)),
                                str(body.get("message", exc.reason))) from None
            raise RegistryError(f"schema registry {self.url} answered {exc.code} to {path}: "
                                f"{body.get('message', exc.reason)}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise RegistryError(f"schema registry {self.url} is unreachable: {exc}; check "
                                "--registry-url") from None

    def _registered(self, schema_id: int, subject: str, version: int,
                    text: str) -> RegisteredSchema:
        definition = json.loads(text)
        return RegisteredSchema(schema_id, subject, version, f"{self.url}/schemas/ids/{schema_id}",
                                definition, fastavro.parse_schema(definition))

    # ---- what the codec needs ----------------------------------------------------------------
    @property
    def subjects(self) -> list[str]:
        return sorted(self._request("/subjects"))

    def versions(self, subject: str) -> list[RegisteredSchema]:
        cached = self._versions.get(subject)
        if cached is None:
            try:
                numbers = self._request(f"/subjects/{quote(subject, safe='')}/versions")
            except _NotFound:
                raise ConfigError(f"subject {subject!r} is not in the registry "
                                  f"{self.url}") from None
            cached = []
            for n in sorted(numbers):
                body = self._request(f"/subjects/{quote(subject, safe='')}/versions/{n}")
                schema = self._registered(int(body["id"]), subject, int(body["version"]),
                                          body["schema"])
                self._by_id[schema.id] = schema
                cached.append(schema)
            self._versions[subject] = cached
        return list(cached)

    def latest(self, subject: str) -> RegisteredSchema:
        return self.versions(subject)[-1]

    def by_id(self, schema_id: int) -> RegisteredSchema:
        cached = self._by_id.get(schema_id)
        if cached is not None:
            return cached
        try:
            body = self._request(f"/schemas/ids/{schema_id}")
            where = self._request(f"/schemas/ids/{schema_id}/versions")[0]
        except _NotFound:
            raise DecodeError(f"schema id {schema_id} is not in the schema registry {self.url}",
                              reason="unknown_schema_id") from None
        schema = self._registered(schema_id, where["subject"], int(where["version"]),
                                  body["schema"])
        self._by_id[schema_id] = schema
        return schema

    def preload(self) -> None:
        for subject in self.subjects:
            self.versions(subject)

    def compatibility(self, subject: str) -> CompatibilityMode:
        try:
            body = self._request(f"/config/{quote(subject, safe='')}")
        except _NotFound:
            body = self._request("/config")
        return CompatibilityMode.parse(body.get("compatibilityLevel", "BACKWARD"))

    def schema_set(self) -> SchemaSet:
        """Every subject's registered history, as the compatibility check's baseline."""
        versions: dict[str, list[SchemaVersion]] = {}
        ids: dict[tuple[str, int], int] = {}
        modes: dict[str, CompatibilityMode] = {}
        for subject in self.subjects:
            for schema in self.versions(subject):
                text = json.dumps(schema.definition)
                versions.setdefault(subject, []).append(SchemaVersion.from_text(
                    subject, schema.version, schema.file, text))
                ids[(subject, schema.version)] = schema.id
            modes[subject] = self.compatibility(subject)
        return SchemaSet(versions, modes, ids)

    def check(self, subject: str, schema_text: str) -> tuple[bool, list[str]]:
        """Ask the registry whether a schema is compatible with the subject (its mode)."""
        body = self._request(f"/compatibility/subjects/{quote(subject, safe='')}/versions"
                             "?verbose=true", {"schema": schema_text})
        return bool(body["is_compatible"]), list(body.get("messages", []))
