"""The REST path: `lgsp registry serve` semantics over real HTTP, and the client the simulator and
the check use with --registry-url."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lgsp.codec.registry_server import RegistryServer
from lgsp.codec.rest_registry import RestSchemaRegistry
from lgsp.errors import DecodeError, RegistryError
from tests.cli.test_cli import run
from tests.cli.test_schemas_cli import add_document_v3

SCHEMAS = Path(__file__).parents[2] / "schemas"


@pytest.fixture
def server(tmp_path):
    shutil.copytree(SCHEMAS, tmp_path / "schemas")
    with RegistryServer(tmp_path / "schemas") as s:
        yield s


class TestClient:
    def test_subjects_versions_and_ids_match_the_files(self, server):
        client = RestSchemaRegistry(server.url)
        assert client.subjects == ["lgsp.dead-letter", "lgsp.document", "lgsp.document-event",
                                   "lgsp.status-event"]
        assert [(s.version, s.id) for s in client.versions("lgsp.document")] == [(1, 1), (2, 5)]
        assert client.latest("lgsp.document").id == 5
        assert client.by_id(3).subject == "lgsp.status-event"
        assert client.compatibility("lgsp.document").value == "BACKWARD_TRANSITIVE"

    def test_unknown_id_is_an_unknown_schema_id_rejection(self, server):
        with pytest.raises(DecodeError) as info:
            RestSchemaRegistry(server.url).by_id(99)
        assert info.value.reason == "unknown_schema_id"

    def test_compatibility_endpoint_gives_the_verdict_and_reasons(self, server):
        client = RestSchemaRegistry(server.url)
        v2 = json.loads((SCHEMAS / "document/v2.avsc").read_text())
        ok, messages = client.check("lgsp.document", json.dumps(v2))
        assert ok
        assert messages == []
        v2["fields"].append({"name": "x", "type": "int"})
        ok, messages = client.check("lgsp.document", json.dumps(v2))
        assert not ok
        assert any("field 'x' added without a default: a reader of version 3" in m
                   for m in messages)

    def test_unreachable_registry_is_a_clear_error(self):
        with pytest.raises(RegistryError, match="unreachable"):
            _ = RestSchemaRegistry("http://127.0.0.1:1").subjects


class TestCheckAgainstRegistry:
    def test_breaking_version_fails_against_the_registry(self, server, tmp_path):
        repo = tmp_path / "work"
        shutil.copytree(SCHEMAS, repo / "schemas")
        add_document_v3(repo, breaking=True)
        r = run(["schemas", "check", "--registry-url", server.url], cwd=repo)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "field 'signing_place' added without a default" in r.stdout

    def test_compatible_version_passes_against_the_registry(self, server, tmp_path):
        repo = tmp_path / "work"
        shutil.copytree(SCHEMAS, repo / "schemas")
        add_document_v3(repo, breaking=False)
        r = run(["schemas", "check", "--registry-url", server.url], cwd=repo)
        assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.e2e
def test_simulation_takes_its_schemas_from_the_registry(server, kafka_bootstrap, pki_cache):
    """Producers and consumers resolve every schema over REST; the run completes."""
    import asyncio
    import uuid

    from tests.e2e.helpers import simulation

    sim = simulation(kafka_bootstrap, pki_cache, f"t{uuid.uuid4().hex[:10]}", documents=30,
                     rate=60.0, registry_url=server.url, document_versions=(1, 2))
    report = asyncio.run(sim.run())
    assert report["totals"]["sent"] == report["totals"]["completed"] > 0
    assert set(report["schemas"]["document_versions_decoded"]) == {"1", "2"}


def test_compatibility_endpoint_refuses_an_invalid_default_with_42201(server):
    """Confluent refuses such a schema (42201); so does the served registry, not 'compatible'."""
    import urllib.error
    import urllib.request

    v2 = json.loads((SCHEMAS / "document/v2.avsc").read_text())
    v2["fields"].append({"name": "x", "type": "int", "default": "x"})
    request = urllib.request.Request(  # noqa: S310 - the test server's own URL
        f"{server.url}/compatibility/subjects/lgsp.document/versions?verbose=true",
        data=json.dumps({"schema": json.dumps(v2)}).encode(), method="POST",
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    assert info.value.code == 422
    body = json.loads(info.value.read())
    assert body["error_code"] == 42201
    assert "default \"x\" of field 'x' is not a value of type int" in body["message"]
    info.value.close()
