"""`lgsp schemas` as QA runs it in CI: verdicts, exit codes, formats, --against a git ref."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests.cli.test_cli import run

SCHEMAS = Path(__file__).parents[2] / "schemas"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository holding a copy of the project's schemas, committed."""
    shutil.copytree(SCHEMAS, tmp_path / "schemas")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "-c", "user.email=qa@x", "-c", "user.name=qa", "add", ".")
    git(tmp_path, "-c", "user.email=qa@x", "-c", "user.name=qa", "commit", "-qm", "base")
    return tmp_path


def add_document_v3(repo: Path, *, breaking: bool) -> None:
    """A new version of lgsp.document; breaking = a mandatory field without a default."""
    v2 = json.loads((repo / "schemas/document/v2.avsc").read_text())
    field = {"name": "signing_place", "type": "string"}
    if not breaking:
        field = {**field, "type": ["null", "string"], "default": None}
    v2["fields"].append(field)
    (repo / "schemas/document/v3.avsc").write_text(json.dumps(v2, indent=2, ensure_ascii=False))
    index = json.loads((repo / "schemas/registry.json").read_text())
    index["schemas"].append({"id": 6, "subject": "lgsp.document", "version": 3,
                             "file": "document/v3.avsc"})
    (repo / "schemas/registry.json").write_text(json.dumps(index, indent=2))


class TestCheck:
    def test_shipped_schemas_are_compatible(self):
        r = run(["schemas", "check", "--dir", str(SCHEMAS)])
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.strip().splitlines()[-1].startswith("compatible")

    def test_compatible_new_version_passes_against_the_base_ref(self, repo):
        add_document_v3(repo, breaking=False)
        r = run(["schemas", "check", "--against", "main"], cwd=repo)
        assert r.returncode == 0, r.stdout + r.stderr

    def test_breaking_version_fails_with_subject_versions_path_and_reason(self, repo):
        add_document_v3(repo, breaking=True)
        r = run(["schemas", "check", "--against", "main"], cwd=repo)
        assert r.returncode == 1, r.stdout + r.stderr
        assert ("lgsp.document v3 (reader) vs v2 (writer), BACKWARD_TRANSITIVE, at "
                "signing_place: field 'signing_place' added without a default: a reader of "
                "version 3 cannot read data written with version 2") in r.stdout
        assert "v3 (reader) vs v1 (writer)" in r.stdout  # transitive: v1 too

    def test_version_changed_in_place_is_caught(self, repo):
        path = repo / "schemas/document/v2.avsc"
        v2 = json.loads(path.read_text())
        v2["fields"] = v2["fields"][:-1]
        path.write_text(json.dumps(v2))
        r = run(["schemas", "check", "--against", "main", "--format", "json"], cwd=repo)
        assert r.returncode == 1
        assert "version_changed_in_place" in {v["rule"] for v in json.loads(r.stdout)["violations"]}

    def test_json_format(self, repo):
        add_document_v3(repo, breaking=True)
        r = run(["schemas", "check", "--format", "json"], cwd=repo)
        data = json.loads(r.stdout)
        assert data["compatible"] is False
        first = data["violations"][0]
        assert first["subject"] == "lgsp.document"
        assert first["rule"] == "field_added_without_default"
        assert first["file"] == "schemas/document/v3.avsc"

    def test_junit_format(self, repo, tmp_path):
        add_document_v3(repo, breaking=True)
        out = tmp_path / "junit.xml"
        r = run(["schemas", "check", "--format", "junit", "-o", str(out)], cwd=repo)
        assert r.returncode == 1
        suites = ET.parse(out).getroot()  # noqa: S314 - our own output
        doc = next(s for s in suites if s.get("name") == "lgsp.document")
        assert int(doc.get("failures")) == 2  # v3 vs v2 and v3 vs v1
        assert doc.find("testcase/failure") is not None

    def test_github_format_points_at_file_and_line(self, repo):
        add_document_v3(repo, breaking=True)
        r = run(["schemas", "check", "--format", "github"], cwd=repo)
        assert r.returncode == 1
        errors = [line for line in r.stdout.splitlines() if line.startswith("::error ")]
        assert errors
        text = (repo / "schemas/document/v3.avsc").read_text().splitlines()
        head = errors[0].split("::")[1]
        params = dict(p.split("=", 1) for p in head.removeprefix("error ").split(","))
        assert params["file"] == "schemas/document/v3.avsc"
        assert "signing_place" in text[int(params["line"]) - 1]

    @pytest.mark.parametrize(("args", "message"), [
        pytest.param(["--against", "no-such-ref"], "not a git revision", id="bad-ref"),
        pytest.param(["--format", "xml"], "--format must be one of", id="bad-format"),
    ])
    def test_usage_errors_exit_2(self, repo, args, message):
        r = run(["schemas", "check", *args], cwd=repo)
        assert r.returncode == 2, r.stderr
        assert message in r.stderr

    def test_unparsable_schema_exits_2(self, repo):
        (repo / "schemas/document/v2.avsc").write_text('{"type": "record", "name": ')
        r = run(["schemas", "check"], cwd=repo)
        assert r.returncode == 2
        assert "does not parse" in r.stderr


class TestValidate:
    def test_valid_sample(self, tmp_path):
        sample = {"layer": "BUSINESS", "from_code": "000.00.01.H56", "document_id": "d",
                  "sender": "000.00.00.H56", "recipient": "000.00.01.H56", "status_code": "01",
                  "timestamp": "2023-03-01T08:00:00+07:00"}
        path = tmp_path / "ok.json"
        path.write_text(json.dumps([sample, sample]))
        r = run(["schemas", "validate", "lgsp.status-event", str(path), "--dir", str(SCHEMAS)])
        assert r.returncode == 0, r.stdout + r.stderr
        assert "2 of 2 record(s) valid" in r.stderr

    def test_invalid_sample_names_the_field(self, tmp_path):
        sample = {"layer": "BUSINESS", "from_code": 12, "document_id": "d", "sender": "s",
                  "recipient": "r", "timestamp": "2023-03-01T08:00:00+07:00"}
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(sample))
        r = run(["schemas", "validate", "lgsp.status-event", str(path), "--dir", str(SCHEMAS)])
        assert r.returncode == 1
        assert "record 0: vn.gov.lgsp.StatusEvent.from_code: expected string, got 12" in r.stdout


def test_readme_ci_recipe_works_as_written(repo, tmp_path):
    """The README's recipe: a clone with origin/main, `--against origin/main --format github`."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    command = "lgsp schemas check --against origin/main --format github"
    assert command in readme
    args = command.split()[1:]
    assert run(args, cwd=clone).returncode == 0
    add_document_v3(clone, breaking=True)
    r = run(args, cwd=clone)
    assert r.returncode == 1
    assert r.stdout.startswith("::error file=schemas/document/v3.avsc,line=")
