"""Schema compatibility: the seven Confluent modes, transitive differences, and the two checks
Apache Avro's checker misses (decimal precision/scale, named-type namespace)."""

import json

import pytest

from lgsp.codec.compatibility import (
    CompatibilityMode,
    SchemaVersion,
    check_history,
    check_pair,
)

M = CompatibilityMode


def record(*fields, name="Doc", namespace="vn.gov.lgsp"):
    return {"type": "record", "name": name, "namespace": namespace, "fields": list(fields)}


def version(n, schema, subject="s"):
    return SchemaVersion.from_text(subject, n, f"schemas/s/v{n}.avsc", json.dumps(schema, indent=1))


A = {"name": "a", "type": "int"}
A_DEFAULT = {"name": "a", "type": "int", "default": 0}
B_DEFAULT = {"name": "b", "type": "string", "default": "x"}
B = {"name": "b", "type": "string"}


def rules(pairs):
    return sorted({v.rule for p in pairs for v in p.violations})


def verdict(versions, mode):
    return not [v for p in check_history(versions, mode) for v in p.violations]


class TestModes:
    # v1 {a}, v2 {a, b="x"}, v3 {a, b}: v3 reads v2 data, but not v1 data.
    ADD_CHAIN = (version(1, record(A)), version(2, record(A, B_DEFAULT)),
                 version(3, record(A, B)))
    # v1 {a}, v2 {a=0}, v3 {}: a v2 reader reads v3 data, a v1 reader does not.
    REMOVE_CHAIN = (version(1, record(A)), version(2, record(A_DEFAULT)), version(3, record()))

    @pytest.mark.parametrize(("mode", "compatible"), [
        (M.BACKWARD, True), (M.BACKWARD_TRANSITIVE, False), (M.FORWARD, True),
        (M.FORWARD_TRANSITIVE, True), (M.FULL, True), (M.FULL_TRANSITIVE, False),
        (M.NONE, True)])
    def test_field_made_mandatory_over_three_versions(self, mode, compatible):
        """Only the transitive backward modes see that v3 cannot read v1 data."""
        assert verdict(self.ADD_CHAIN, mode) is compatible

    @pytest.mark.parametrize(("mode", "compatible"), [
        (M.BACKWARD, True), (M.BACKWARD_TRANSITIVE, True), (M.FORWARD, True),
        (M.FORWARD_TRANSITIVE, False), (M.FULL, True), (M.FULL_TRANSITIVE, False),
        (M.NONE, True)])
    def test_field_removed_after_getting_a_default(self, mode, compatible):
        """Only the transitive forward modes see that a v1 reader cannot read v3 data."""
        assert verdict(self.REMOVE_CHAIN, mode) is compatible

    @pytest.mark.parametrize(("mode", "compatible"), [
        (M.BACKWARD, False), (M.BACKWARD_TRANSITIVE, False), (M.FORWARD, True),
        (M.FORWARD_TRANSITIVE, True), (M.FULL, False), (M.FULL_TRANSITIVE, False),
        (M.NONE, True)])
    def test_field_added_without_default(self, mode, compatible):
        assert verdict([version(1, record(A)), version(2, record(A, B))], mode) is compatible

    @pytest.mark.parametrize(("mode", "compatible"), [
        (M.BACKWARD, True), (M.FORWARD, False), (M.FULL, False), (M.NONE, True)])
    def test_field_removed_without_default(self, mode, compatible):
        assert verdict([version(1, record(A, B)), version(2, record(A))], mode) is compatible

    @pytest.mark.parametrize("mode", list(M))
    def test_optional_field_with_default_is_compatible_in_every_mode(self, mode):
        assert verdict([version(1, record(A)), version(2, record(A, B_DEFAULT))], mode)

    def test_int_widened_to_long_is_backward_not_forward(self):
        v1, v2 = version(1, record(A)), version(2, record({"name": "a", "type": "long"}))
        assert verdict([v1, v2], M.BACKWARD)
        assert rules(check_history([v1, v2], M.FORWARD)) == ["type_changed"]


class TestMessages:
    def test_added_field_names_subject_versions_path_and_why(self):
        (violation,) = check_pair(version(2, record(A, B)), version(1, record(A)))
        assert violation.subject == "s"
        assert (violation.reader.version, violation.writer.version) == (2, 1)
        assert violation.path == "b"
        assert violation.message == ("field 'b' added without a default: a reader of version 2 "
                                     "cannot read data written with version 1")

    def test_nested_path_is_given(self):
        inner1 = {"name": "signer", "type": record(A, name="Signer")}
        inner2 = {"name": "signer", "type": record(A, B, name="Signer")}
        (violation,) = check_pair(version(2, record(inner2)), version(1, record(inner1)))
        assert violation.path == "signer.b"

    def test_removed_enum_symbol_is_named(self):
        enum = lambda *s: {"name": "e", "type": {"type": "enum", "name": "E", "symbols": list(s)}}  # noqa: E731
        (violation,) = check_pair(version(2, record(enum("A"))), version(1, record(enum("A", "B"))))
        assert violation.rule == "enum_symbol_removed"
        assert "B" in violation.message

    def test_line_points_at_the_field(self):
        v2 = version(2, record(A, B))
        (violation,) = check_pair(v2, version(1, record(A)))
        assert '"name": "b"' in v2.text.splitlines()[v2.line_of(violation.path) - 1]


class TestBeyondApacheAvro:
    @staticmethod
    def decimal(precision, scale):
        return {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal",
                                           "precision": precision, "scale": scale}}

    @pytest.mark.parametrize(("before", "after"), [
        pytest.param((10, 2), (10, 3), id="scale"),
        pytest.param((10, 2), (8, 2), id="precision"),
    ])
    def test_decimal_precision_or_scale_change_is_incompatible(self, before, after):
        """Apache Avro calls these compatible: the bytes decode, to a different number."""
        v1, v2 = version(1, record(self.decimal(*before))), version(2, record(self.decimal(*after)))
        assert rules(check_history([v1, v2], M.BACKWARD)) == ["decimal_changed"]

    def test_record_moved_to_another_namespace_is_incompatible(self):
        v1 = version(1, record(A, namespace="vn.gov.lgsp"))
        v2 = version(2, record(A, namespace="vn.gov.vdxp"))
        (violation,) = check_pair(v2, v1)
        assert violation.rule == "named_type_moved"
        assert "vn.gov.lgsp.Doc became vn.gov.vdxp.Doc" in violation.message

    def test_namespace_move_with_an_alias_is_compatible(self):
        moved = record(A, namespace="vn.gov.vdxp")
        moved["aliases"] = ["vn.gov.lgsp.Doc"]
        assert check_pair(version(2, moved), version(1, record(A))) == []


def test_shipped_document_v2_passes_backward_transitive():
    """The project's own evolution: document v2 reads v1 data."""
    from pathlib import Path

    from lgsp.codec.schema_check import check_schemas
    from lgsp.codec.schema_sources import load_directory

    found = load_directory(Path(__file__).parents[2] / "schemas")
    assert found.modes["lgsp.document"] is M.BACKWARD_TRANSITIVE
    assert [v.version for v in found.versions["lgsp.document"]] == [1, 2]
    result = check_schemas(found)
    assert result.compatible
    assert [(p.reader, p.writer) for p in result.pairs] == [(2, 1)]


class TestShapes:
    def test_field_added_inside_a_union_branch_has_its_path(self):
        def branch(*fields):
            return {"name": "u", "type": ["null", record(*fields, name="X")], "default": None}

        (violation,) = check_pair(version(2, record(branch(A, B))), version(1, record(branch(A))))
        assert (violation.path, violation.rule) == ("u.b", "field_added_without_default")

    def test_optional_made_required_says_which_values_break(self):
        optional = {"name": "a", "type": ["null", "int"], "default": None}
        (violation,) = check_pair(version(2, record(A)), version(1, record(optional)))
        assert violation.rule == "union_branch_missing"
        assert violation.message.startswith("null values written by version 1 cannot be read "
                                            "as int by version 2")

    def test_recursive_schema_is_checked_without_endless_recursion(self):
        linked = {"name": "next", "type": ["null", "Doc"], "default": None}
        assert check_pair(version(2, record(linked, B_DEFAULT)), version(1, record(linked))) == []
        assert [v.rule for v in check_pair(version(2, record(linked, B)),
                                           version(1, record(linked)))] == [
            "field_added_without_default"]
