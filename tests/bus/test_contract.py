"""``lgsp contract``: the AsyncAPI 3.0 document a user's own service is built against."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from lgsp.bus import headers
from lgsp.bus.contract import build_contract
from lgsp.bus.topics import TopicNames
from lgsp.codec.registry import FileSchemaRegistry
from lgsp.profiles import load_topology
from tests.cli.test_cli import run

VALIDATE = Path(__file__).parents[2] / "scripts" / "asyncapi-validate.sh"
PROFILES = ["thanh-hoa", "hai-duong"]


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    """The official @asyncapi/parser (installed from npm on first use by the script)."""
    return subprocess.run([str(VALIDATE), str(path)], capture_output=True, text=True,
                          timeout=110, check=False)


@pytest.fixture(scope="module")
def contract() -> dict:
    return build_contract(load_topology(PROFILES), FileSchemaRegistry(), version="test",
                          profiles=PROFILES)


class TestAsyncApiDocument:
    def test_written_document_passes_the_official_asyncapi_parser(self, tmp_path):
        """`lgsp contract -o FILE.yaml` exits 0 and @asyncapi/parser finds no error."""
        out = tmp_path / "contract.yaml"
        r = run(["contract", "-o", str(out)])
        assert r.returncode == 0, r.stderr
        checked = _validate(out)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert ("valid AsyncAPI 3.0.0: 8 channels, 21 operations, 4 messages, 10 Avro schemas"
                in checked.stdout), checked.stdout + checked.stderr

    @pytest.mark.parametrize("damage", [
        pytest.param("action", id="operation-action"),
        pytest.param("avro", id="avro-payload"),
    ])
    def test_validator_refuses_a_broken_document(self, contract, tmp_path, damage):
        """The check can fail: a bad operation action or an unknown Avro type is an error."""
        broken = json.loads(json.dumps(contract))
        if damage == "action":
            broken["operations"]["agency-submit-vdxp"]["action"] = "publish"
        else:
            broken["components"]["messages"]["status"]["payload"]["schema"]["fields"][0][
                "type"] = "no-such-type"
        path = tmp_path / "broken.json"
        path.write_text(json.dumps(broken))
        checked = _validate(path)
        assert checked.returncode == 1, checked.stdout + checked.stderr
        assert "INVALID" in checked.stderr

    def test_json_output_is_the_same_document_as_yaml(self, tmp_path):
        """-o x.json writes JSON, stdout YAML; both parse to the same document."""
        r_json = run(["contract", "-o", str(tmp_path / "c.json")])
        r_yaml = run(["contract"])
        assert r_json.returncode == 0, r_json.stderr
        assert r_yaml.returncode == 0, r_yaml.stderr
        assert json.loads((tmp_path / "c.json").read_text()) == yaml.safe_load(r_yaml.stdout)


    @pytest.mark.parametrize(("args", "message"), [
        pytest.param(["-p", "nowhere"], "unknown profile 'nowhere'", id="unknown-profile"),
        pytest.param(["-o", "/proc/no/such/contract.yaml"], "-o /proc/no/such/contract.yaml",
                     id="unwritable-output"),
    ])
    def test_bad_input_is_one_line_and_exit_2(self, args, message):
        """An unknown profile or an unwritable -o: one line on stderr, exit 2, no traceback."""
        r = run(["contract", *args])
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip().count("\n") == 0, r.stderr
        assert message in r.stderr
        assert r.stdout == ""


class TestContractContent:
    def test_channels_are_exactly_the_topics_of_a_run(self, contract):
        """Each channel address with run id filled in is a topic the run creates, and back."""
        topics = TopicNames("r1")
        addresses = {c["address"].replace("{run}", "r1") for c in contract["channels"].values()}
        platforms = load_topology(PROFILES).platforms
        assert addresses == set(topics.all_for(platforms))

    def test_every_lgsp_header_is_described_with_its_format(self, contract):
        """Every header the bus writes (lgsp-* and the W3C trace context) is in the document
        message, with a description; time headers give their unit."""
        written = {v for k, v in vars(headers).items() if k.isupper() and isinstance(v, str)}
        assert {headers.TRACEPARENT, headers.TRACESTATE} <= written
        described = contract["components"]["messages"]["document"]["headers"]["properties"]
        assert written == set(described)
        assert all(described[name]["description"] for name in written)
        assert described[headers.SENT]["x-unit"] == "µs"
        assert described[headers.TRACE]["x-unit"] == "µs"

    def test_payloads_are_the_latest_registered_avro_schemas(self, contract):
        """Message payloads are the registry's latest schemas, Confluent-framed per binding."""
        registry = FileSchemaRegistry()
        for name, subject in [("document", "lgsp.document-event"),
                              ("status", "lgsp.status-event"),
                              ("deadLetter", "lgsp.dead-letter")]:
            message = contract["components"]["messages"][name]
            assert message["payload"]["schema"] == registry.latest(subject).definition
            assert message["bindings"]["kafka"]["schemaIdPayloadEncoding"] == "confluent"
