"""``lgsp registry serve``: the file registry behind the subset of the Confluent Schema Registry
REST API that lgsp's client uses — subjects, versions, schemas by id, lookup, compatibility checks
and config — read-only, over real HTTP (``http.server``), so the REST path is tested here.

Errors use Confluent's codes: 40401 subject not found, 40402 version not found, 40403 schema not
found, 42201 invalid schema (it does not parse, or a field's default is not a value of its type),
404 unknown endpoint.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import structlog

from lgsp.codec.compatibility import CompatibilityMode, SchemaVersion, check_pair
from lgsp.codec.schema_defaults import invalid_defaults
from lgsp.codec.schema_sources import SchemaSet, load_directory
from lgsp.errors import ConfigError, LifecycleError

log = structlog.get_logger(__name__)
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class _ApiError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _canonical(definition: Any) -> str:
    return json.dumps(definition, sort_keys=True, separators=(",", ":"))


class RegistryApi:
    """The request logic, independent of the HTTP server."""

    def __init__(self, schemas: SchemaSet) -> None:
        self.schemas = schemas
        self.by_id = {schema_id: next(v for v in schemas.versions[s] if v.version == n)
                      for (s, n), schema_id in schemas.ids.items()}

    def _subject(self, subject: str) -> list[SchemaVersion]:
        versions = self.schemas.versions.get(subject)
        if not versions:
            raise _ApiError(404, 40401, f"Subject '{subject}' not found.")
        return versions

    def _version(self, subject: str, version: str) -> SchemaVersion:
        versions = self._subject(subject)
        if version == "latest":
            return versions[-1]
        found = [v for v in versions if str(v.version) == version]
        if not found:
            raise _ApiError(404, 40402, f"Version {version} not found.")
        return found[0]

    def _body(self, v: SchemaVersion) -> dict[str, Any]:
        return {"subject": v.subject, "version": v.version,
                "id": self.schemas.ids[(v.subject, v.version)], "schema": v.text}

    def _candidate(self, subject: str, payload: dict[str, Any]) -> SchemaVersion:
        """The schema in a request, numbered as the subject's next version."""
        if payload.get("schemaType", "AVRO") != "AVRO":
            raise _ApiError(422, 42201, "only AVRO schemas are served here")
        versions = self.schemas.versions.get(subject) or []
        number = max((v.version for v in versions), default=0) + 1
        try:
            candidate = SchemaVersion.from_text(subject, number, "(request)",
                                                str(payload["schema"]))
        except (KeyError, ConfigError) as exc:
            raise _ApiError(422, 42201, f"Invalid schema: {exc}") from None
        broken = invalid_defaults(candidate)
        if broken:
            raise _ApiError(422, 42201, "Invalid schema: " + "; ".join(
                f"at {v.path}: {v.message}" for v in broken))
        return candidate

    def get(self, parts: list[str]) -> Any:
        match parts:
            case ["subjects"]:
                return sorted(self.schemas.versions)
            case ["subjects", subject, "versions"]:
                return [v.version for v in self._subject(subject)]
            case ["subjects", subject, "versions", version]:
                return self._body(self._version(subject, version))
            case ["subjects", subject, "versions", version, "schema"]:
                return json.loads(self._version(subject, version).text)
            case ["schemas", "ids", schema_id]:
                v = self._by_id(schema_id)
                return {"schema": v.text}
            case ["schemas", "ids", schema_id, "versions"]:
                v = self._by_id(schema_id)
                return [{"subject": v.subject, "version": v.version}]
            case ["config"]:
                return {"compatibilityLevel": CompatibilityMode.BACKWARD.value}
            case ["config", subject]:
                self._subject(subject)
                return {"compatibilityLevel": self.schemas.modes[subject].value}
        raise _ApiError(404, 404, f"no such endpoint: /{'/'.join(parts)}")

    def _by_id(self, schema_id: str) -> SchemaVersion:
        try:
            return self.by_id[int(schema_id)]
        except (KeyError, ValueError):
            raise _ApiError(404, 40403, f"Schema {schema_id} not found") from None

    def post(self, parts: list[str], payload: dict[str, Any], verbose: bool) -> Any:
        match parts:
            case ["subjects", subject]:
                candidate = self._candidate(subject, payload)
                for v in self._subject(subject):
                    if _canonical(v.definition) == _canonical(candidate.definition):
                        return self._body(v)
                raise _ApiError(404, 40403, "Schema not found")
            case ["compatibility", "subjects", subject, "versions", version]:
                return self._compatibility(subject, payload, [self._version(subject, version)],
                                           verbose)
            case ["compatibility", "subjects", subject, "versions"]:
                versions = self._subject(subject)
                mode = self.schemas.modes[subject]
                targets = versions if mode.transitive else versions[-1:]
                return self._compatibility(subject, payload, targets, verbose)
        raise _ApiError(404, 404, f"no such endpoint: POST /{'/'.join(parts)}")

    def _compatibility(self, subject: str, payload: dict[str, Any],
                       targets: list[SchemaVersion], verbose: bool) -> dict[str, Any]:
        candidate = self._candidate(subject, payload)
        mode = self.schemas.modes[subject]
        messages: list[str] = []
        if mode is not CompatibilityMode.NONE:
            for old in targets:
                if mode.backward:
                    messages += [v.describe() for v in check_pair(candidate, old, mode)]
                if mode.forward:
                    messages += [v.describe() for v in check_pair(old, candidate, mode)]
        answer: dict[str, Any] = {"is_compatible": not messages}
        if verbose:
            answer["messages"] = messages
        return answer


def _handler(api: RegistryApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "lgsp-registry/1"

        def _reply(self, status: int, body: Any) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self) -> tuple[list[str], dict[str, list[str]]]:
            url = urlsplit(self.path)
            return [unquote(p) for p in url.path.split("/") if p], parse_qs(url.query)

        def do_GET(self) -> None:
            parts, _ = self._route()
            try:
                self._reply(200, api.get(parts))
            except _ApiError as exc:
                self._reply(exc.status, {"error_code": exc.code, "message": exc.message})

        def do_POST(self) -> None:
            parts, query = self._route()
            try:
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(payload, dict):
                    raise _ApiError(422, 42201, "request body must be a JSON object")
                verbose = query.get("verbose", ["false"])[0].lower() == "true"
                self._reply(200, api.post(parts, payload, verbose))
            except json.JSONDecodeError:
                self._reply(422, {"error_code": 42201, "message": "request body is not JSON"})
            except _ApiError as exc:
                self._reply(exc.status, {"error_code": exc.code, "message": exc.message})

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("registry_request", line=fmt % args)

    return Handler


class RegistryServer:
    """Serves a schemas directory over HTTP on ``host:port`` (port 0 = a free one)."""

    def __init__(self, directory: Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.api = RegistryApi(load_directory(directory))
        try:
            self._server = ThreadingHTTPServer((host, port), _handler(self.api))
        except OSError as exc:  # unknown host, port taken, no permission
            raise ConfigError(f"cannot serve the registry on {host}:{port}: "
                              f"{exc.strerror or exc}; pick another --host or --port") from None
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        if isinstance(host, bytes):  # an AF_UNIX-style address; ours is always TCP
            host = host.decode()
        return f"http://{host}:{port}"

    def start(self) -> str:
        if self._thread is not None:
            raise LifecycleError(f"registry server on {self.url} is already started")
        self._thread = threading.Thread(target=self._server.serve_forever, name="registry",
                                        daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> RegistryServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

