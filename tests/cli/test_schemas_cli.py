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
DOCS = Path(__file__).parents[2] / "docs"


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
    next_id = max(entry["id"] for entry in index["schemas"]) + 1
    index["schemas"].append({"id": next_id, "subject": "lgsp.document", "version": 3,
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

    def test_a_published_version_may_have_its_docs_corrected(self, repo):
        """Documentation never changes how data is written or read: a doc-only edit of a
        published version passes; a changed default in the same edit does not."""
        path = repo / "schemas/document/v2.avsc"
        v2 = json.loads(path.read_text())
        v2["doc"] = "corrected documentation"
        v2["fields"][0]["doc"] = "corrected too"
        path.write_text(json.dumps(v2))
        r = run(["schemas", "check", "--against", "main"], cwd=repo)
        assert r.returncode == 0, r.stdout + r.stderr
        field = next(f for f in v2["fields"] if "default" in f)
        field["default"] = None if field["default"] is not None else "changed"
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


def one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    """The CLI's answer to bad input: exit 2, one line on stderr, no traceback."""
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def edit_registry(repo: Path, change) -> None:
    path = repo / "schemas/registry.json"
    index = json.loads(path.read_text())
    path.write_text(json.dumps(change(index), indent=2))


class TestInvalidDefault:
    def test_invalid_default_in_a_compatible_change_fails_the_check(self, repo):
        """int with default "x": Avro's checker calls the pair compatible; the check does not."""
        add_document_v3(repo, breaking=False)
        path = repo / "schemas/document/v3.avsc"
        v3 = json.loads(path.read_text())
        v3["fields"].append({"name": "pages", "type": "int", "default": "x"})
        path.write_text(json.dumps(v3, indent=2))
        r = run(["schemas", "check", "--against", "main"], cwd=repo)
        assert r.returncode == 1, r.stdout + r.stderr
        assert ("✗ schemas/document/v3.avsc: lgsp.document v3, BACKWARD_TRANSITIVE, at pages: "
                "default \"x\" of field 'pages' is not a value of type int") in r.stdout


class TestUnlistedFiles:
    def test_schema_file_missing_from_the_registry_fails_the_check(self, repo):
        """A new v3.avsc that registry.json does not list is named, not ignored."""
        add_document_v3(repo, breaking=False)
        edit_registry(repo, lambda i: {**i, "schemas": [e for e in i["schemas"]
                                                        if e["version"] != 3]})
        line = one_line_error(run(["schemas", "check"], cwd=repo))
        assert "schemas/document/v3.avsc is not listed in registry.json" in line

    def test_every_unlisted_file_is_named(self, repo):
        (repo / "schemas/document/v3.avsc").write_text("{}")
        (repo / "schemas/extra").mkdir()
        (repo / "schemas/extra/v1.avsc").write_text("{}")
        line = one_line_error(run(["schemas", "check"], cwd=repo))
        assert "schemas/document/v3.avsc, schemas/extra/v1.avsc are not listed" in line


class TestRegistryFileMistakes:
    @pytest.mark.parametrize(("change", "named"), [
        pytest.param(lambda i: {"subjects": i["subjects"], "schema": i["schemas"]},
                     "'schema' was unexpected", id="schema-not-schemas"),
        pytest.param(lambda i: {**i, "subjects": list(i["subjects"])},
                     "'subjects' must be a JSON object", id="subjects-as-list"),
        pytest.param(lambda i: {**i, "schemas": {"a": i["schemas"][0]}},
                     "'schemas' must be a JSON array", id="schemas-as-object"),
        pytest.param(lambda i: {**i, "schemas": [{**i["schemas"][0], "version": "one"}]},
                     "schemas/0/version", id="version-not-a-number"),
        pytest.param(lambda i: {**i, "subjects": {"lgsp.document": {"compatibility": "SOME"}}},
                     "subjects/lgsp.document/compatibility", id="unknown-mode"),
        pytest.param(lambda i: [i], "top level must be a JSON object", id="list-at-top"),
    ])
    def test_registry_mistake_is_one_line_naming_the_key(self, repo, change, named):
        edit_registry(repo, change)
        line = one_line_error(run(["schemas", "check"], cwd=repo))
        assert "schemas/registry.json" in line
        assert named in line

    def test_shipped_registry_matches_the_documented_json_schema(self):
        import jsonschema

        schema = json.loads((DOCS / "registry.schema.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.validate(json.loads((SCHEMAS / "registry.json").read_text()), schema)

    def test_the_packaged_json_schema_is_the_documented_one(self):
        """The CLI validates with a packaged copy (docs/ is not installed); they are one file."""
        from importlib import resources

        packaged = resources.files("lgsp.codec").joinpath("registry.schema.json").read_text()
        assert packaged == (DOCS / "registry.schema.json").read_text()


class TestUnreadableInput:
    def test_non_utf8_schema_file_is_exit_2(self, repo):
        (repo / "schemas/document/v2.avsc").write_bytes(b'{"type": "string", "doc": "\xff"}')
        line = one_line_error(run(["schemas", "check"], cwd=repo))
        assert "schemas/document/v2.avsc is not UTF-8" in line

    def test_non_utf8_schema_file_at_the_git_ref_is_exit_2(self, repo):
        (repo / "schemas/document/v2.avsc").write_bytes(b'{"type": "string", "doc": "\xff"}')
        git(repo, "-c", "user.email=qa@x", "-c", "user.name=qa", "commit", "-qam", "latin-1")
        (repo / "schemas/document/v2.avsc").write_text('{"type": "string"}')
        line = one_line_error(run(["schemas", "check", "--against", "HEAD"], cwd=repo))
        assert "schemas/document/v2.avsc (git ref HEAD) is not UTF-8" in line

    def test_output_into_a_missing_directory_is_exit_2(self, repo):
        line = one_line_error(run(["schemas", "check", "-o", "no/such/dir/out.xml"], cwd=repo))
        assert "--output no/such/dir/out.xml: the directory no/such/dir does not exist" in line

    def test_validate_with_a_non_utf8_sample_is_exit_2(self, tmp_path):
        sample = tmp_path / "sample.json"
        sample.write_bytes(b'{"a": "\xff"}')
        line = one_line_error(run(["schemas", "validate", "lgsp.status-event", str(sample),
                                   "--dir", str(SCHEMAS)]))
        assert "is not UTF-8" in line


def github_errors(stdout: str) -> list[tuple[dict[str, str], str]]:
    """(properties, message) of each ::error line, unescaped as GitHub does."""
    def unescape(text: str) -> str:
        for code, char in (("%3A", ":"), ("%2C", ","), ("%0D", "\r"), ("%0A", "\n"),
                           ("%25", "%")):
            text = text.replace(code, char)
        return text

    found = []
    for line in stdout.splitlines():
        if line.startswith("::error "):
            head, message = line.removeprefix("::error ").split("::", 1)
            props = dict(p.split("=", 1) for p in head.split(","))
            found.append(({k: unescape(v) for k, v in props.items()}, unescape(message)))
    return found


class TestFindingPaths:
    """Findings name the file from the repository root, whatever --dir and the working dir."""

    @pytest.fixture
    def nested(self, repo: Path) -> Path:
        (repo / "api").mkdir()
        git(repo, "mv", "schemas", "api/schemas")
        git(repo, "-c", "user.email=qa@x", "-c", "user.name=qa", "commit", "-qm", "move")
        shutil.move(repo / "api/schemas", repo / "schemas")
        add_document_v3(repo, breaking=True)
        shutil.move(repo / "schemas", repo / "api/schemas")
        return repo

    @pytest.mark.parametrize(("cwd", "directory"), [
        pytest.param(".", "api/schemas", id="from-root"),
        pytest.param("api", "schemas", id="from-subdirectory"),
        pytest.param("api/schemas", ".", id="from-the-schemas-dir"),
    ])
    def test_github_annotation_points_at_the_file_from_the_repository_root(
            self, nested, cwd, directory):
        r = run(["schemas", "check", "--dir", directory, "--against", "HEAD",
                 "--format", "github"], cwd=nested / cwd)
        assert r.returncode == 1, r.stdout + r.stderr
        props, _ = github_errors(r.stdout)[0]
        assert props["file"] == "api/schemas/document/v3.avsc"
        assert (nested / props["file"]).is_file()

    def test_text_finding_names_the_path_from_the_repository_root(self, nested):
        r = run(["schemas", "check", "--dir", "schemas"], cwd=nested / "api")
        assert r.returncode == 1, r.stdout + r.stderr
        assert r.stdout.startswith("✗ api/schemas/document/v3.avsc: lgsp.document v3")

    def test_outside_a_repository_paths_are_relative_to_the_working_directory(self, tmp_path):
        shutil.copytree(SCHEMAS, tmp_path / "x/schemas")
        add_document_v3(tmp_path / "x", breaking=True)
        r = run(["schemas", "check", "--dir", "x/schemas", "--format", "json"], cwd=tmp_path)
        assert r.returncode == 1, r.stdout + r.stderr
        assert json.loads(r.stdout)["violations"][0]["file"] == "x/schemas/document/v3.avsc"

    def test_annotation_properties_are_escaped(self, repo):
        """A Confluent context subject has colons; a comma would split the properties."""
        subject = ":.ctx:lgsp.document,x"
        add_document_v3(repo, breaking=True)
        edit_registry(repo, lambda i: {
            **i, "subjects": {**i["subjects"], subject: {"compatibility": "BACKWARD"}},
            "schemas": [{**e, "subject": subject} if e["subject"] == "lgsp.document" else e
                        for e in i["schemas"]]})
        r = run(["schemas", "check", "--format", "github"], cwd=repo)
        assert r.returncode == 1, r.stdout + r.stderr
        props, message = github_errors(r.stdout)[0]
        assert props["file"] == "schemas/document/v3.avsc"
        assert props["title"] == f"{subject} v3 field_added_without_default"
        assert message.startswith(f"{subject} v3 (reader) vs v2 (writer)")


class TestAgainstEdges:
    def test_first_schemas_directory_is_checked_against_an_empty_history(self, tmp_path):
        """A PR adding schemas/ for the first time: the base ref has no directory at all."""
        git(tmp_path, "init", "-q", "-b", "main")
        (tmp_path / "README").write_text("x")
        git(tmp_path, "add", ".")
        git(tmp_path, "-c", "user.email=qa@x", "-c", "user.name=qa", "commit", "-qm", "base")
        shutil.copytree(SCHEMAS, tmp_path / "schemas")
        r = run(["schemas", "check", "--against", "main"], cwd=tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.strip().splitlines()[-1].startswith("compatible: 4 subjects, 3 ")
        add_document_v3(tmp_path, breaking=True)
        r = run(["schemas", "check", "--against", "main"], cwd=tmp_path)
        assert r.returncode == 1, r.stdout + r.stderr

    def test_against_outside_a_git_repository_says_so(self, tmp_path):
        shutil.copytree(SCHEMAS, tmp_path / "schemas")
        line = one_line_error(run(["schemas", "check", "--against", "HEAD"], cwd=tmp_path,
                                  env_extra={"GIT_CEILING_DIRECTORIES": str(tmp_path.parent)}))
        assert "is not in a git repository" in line
        assert "not a git revision" not in line


@pytest.fixture(scope="module")
def validator():
    import jsonschema

    schema = json.loads((DOCS / "schema-check.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


class TestJsonOutputSchema:
    """docs/schema-check.schema.json describes what --format json really writes."""

    def test_compatible_output_matches(self, validator):
        r = run(["schemas", "check", "--dir", str(SCHEMAS), "--format", "json"])
        assert r.returncode == 0, r.stdout + r.stderr
        data = json.loads(r.stdout)
        assert [e.message for e in validator.iter_errors(data)] == []
        assert data["violations"] == []

    def test_incompatible_output_with_every_kind_of_violation_matches(self, validator, repo):
        add_document_v3(repo, breaking=True)
        path = repo / "schemas/document/v3.avsc"
        v3 = json.loads(path.read_text())
        v3["fields"].append({"name": "pages", "type": "int", "default": "x"})
        path.write_text(json.dumps(v3, indent=2))
        v2 = repo / "schemas/document/v2.avsc"
        v2.write_text(v2.read_text().replace('"doc"', '"doc_"', 1))
        r = run(["schemas", "check", "--against", "main", "--format", "json"], cwd=repo)
        assert r.returncode == 1, r.stdout + r.stderr
        data = json.loads(r.stdout)
        assert [e.message for e in validator.iter_errors(data)] == []
        assert {v["rule"] for v in data["violations"]} == {
            "field_added_without_default", "invalid_default", "version_changed_in_place"}

    def test_every_rule_is_documented(self, validator):
        """The rule names the check can emit are exactly those the JSON Schema lists."""
        from lgsp.codec.compatibility import Rule

        documented = validator.schema["properties"]["violations"]["items"]["properties"]["rule"]
        assert sorted(documented["enum"]) == sorted(r.value for r in Rule)

    def test_schema_is_closed(self, validator):
        """A key the output does not write is refused: the test above would catch new keys."""
        r = run(["schemas", "check", "--dir", str(SCHEMAS), "--format", "json"])
        data = {**json.loads(r.stdout), "extra": 1}
        assert list(validator.iter_errors(data))


def test_readme_states_the_rules_for_unions_defaults_and_unlisted_files():
    """The README's schema section is where a CI user learns what the check enforces."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Schema compatibility in CI", 1)[1].split("\n## ", 1)[0]
    for rule in ("**Unions.**", "**Defaults.**", "**Unlisted files.**", "**Renames.**",
                 "**Paths.**", "docs/registry.schema.json", "docs/schema-check.schema.json"):
        assert rule in section, rule
