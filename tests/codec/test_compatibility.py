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
    """The project's own evolution: document v2 and document-event v2 read v1 data."""
    from pathlib import Path

    from lgsp.codec.schema_check import check_schemas
    from lgsp.codec.schema_sources import load_directory

    found = load_directory(Path(__file__).parents[2] / "schemas")
    assert found.modes["lgsp.document"] is M.BACKWARD_TRANSITIVE
    assert [v.version for v in found.versions["lgsp.document"]] == [1, 2]
    result = check_schemas(found)
    assert result.compatible
    assert sorted((p.subject, p.reader, p.writer) for p in result.pairs) == [
        ("lgsp.document", 2, 1), ("lgsp.document-event", 2, 1), ("lgsp.status-event", 2, 1)]


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


def decimal_type(precision, scale):
    return {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}


def nullable(schema):
    return ["null", schema]


class TestMadeOptionalInTheSameChange:
    """A writer type X read as ["null", X]: every check runs inside the branch X resolves to."""

    @pytest.mark.parametrize(("wrap", "path"), [
        pytest.param(lambda t: t, "amount", id="field"),
        pytest.param(lambda t: {"type": "array", "items": t}, "amount[]", id="array-items"),
        pytest.param(lambda t: {"type": "map", "values": t}, "amount{}", id="map-values"),
    ])
    def test_decimal_scale_change_is_caught_when_made_nullable(self, wrap, path):
        v1 = version(1, record({"name": "amount", "type": wrap(decimal_type(10, 2))}))
        if path == "amount":
            made_optional = nullable(decimal_type(10, 3))
        elif path == "amount[]":
            made_optional = {"type": "array", "items": nullable(decimal_type(10, 3))}
        else:
            made_optional = {"type": "map", "values": nullable(decimal_type(10, 3))}
        v2 = version(2, record({"name": "amount", "type": made_optional}))
        (violation,) = check_pair(v2, v1)
        assert (violation.path, violation.rule) == (path, "decimal_changed")

    def test_nested_record_moved_while_made_nullable_is_caught(self):
        inner = lambda ns: record(A, name="Signer", namespace=ns)  # noqa: E731
        v1 = version(1, record({"name": "signer", "type": inner("vn.gov.lgsp")}))
        v2 = version(2, record({"name": "signer", "type": nullable(inner("vn.gov.vdxp")),
                                "default": None}))
        (violation,) = check_pair(v2, v1)
        assert (violation.path, violation.rule) == ("signer", "named_type_moved")

    def test_field_added_inside_a_record_made_nullable_names_the_field(self):
        v1 = version(1, record({"name": "signer", "type": record(A, name="Signer")}))
        v2 = version(2, record({"name": "signer", "type": nullable(record(A, B, name="Signer")),
                                "default": None}))
        (violation,) = check_pair(v2, v1)
        assert (violation.path, violation.rule) == ("signer.b", "field_added_without_default")
        assert violation.message.startswith("field 'b' added without a default")

    def test_int_read_as_nullable_long_is_compatible(self):
        """Promotion still resolves to a branch: int data read as ["null", "long"]."""
        v2 = version(2, record({"name": "a", "type": nullable("long"), "default": None}))
        assert check_pair(v2, version(1, record(A))) == []

    def test_int_read_as_nullable_string_says_which_values_break(self):
        v2 = version(2, record({"name": "a", "type": nullable("string"), "default": None}))
        (violation,) = check_pair(v2, version(1, record(A)))
        assert violation.rule == "union_branch_missing"
        assert violation.message.startswith("int values written by version 1 cannot be read as "
                                            "union null, string by version 2")


class TestRenamedNamedTypes:
    """A record, enum or fixed renamed without an alias: one sentence, one rule."""

    @pytest.mark.parametrize("kind", [
        pytest.param({"type": "record", "fields": [A]}, id="record"),
        pytest.param({"type": "enum", "symbols": ["X"]}, id="enum"),
        pytest.param({"type": "fixed", "size": 4}, id="fixed"),
    ])
    def test_nested_named_type_renamed_without_alias(self, kind):
        typed = lambda name: {"name": "t", "type": {**kind, "name": name}}  # noqa: E731
        old, new = version(1, record(typed("Old"))), version(2, record(typed("New")))
        (violation,) = check_pair(new, old)
        assert (violation.path, violation.rule) == ("t", "named_type_renamed")
        assert violation.message.startswith(
            f"{kind['type']} vn.gov.lgsp.Old was renamed to vn.gov.lgsp.New without an alias "
            "naming vn.gov.lgsp.Old")

    def test_top_level_record_renamed_without_alias(self):
        (violation,) = check_pair(version(2, record(A, name="Doc2")), version(1, record(A)))
        assert (violation.path, violation.rule) == (".", "named_type_renamed")
        assert "record vn.gov.lgsp.Doc was renamed to vn.gov.lgsp.Doc2" in violation.message

    def test_record_renamed_with_an_alias_is_compatible(self):
        renamed = {**record(A, name="Doc2"), "aliases": ["vn.gov.lgsp.Doc"]}
        assert check_pair(version(2, renamed), version(1, record(A))) == []


class TestDefaults:
    """A field's default must be a value of its type (of a union's first branch)."""

    @pytest.mark.parametrize(("field", "path"), [
        pytest.param({"name": "a", "type": "int", "default": "x"}, "a", id="int-string"),
        pytest.param({"name": "a", "type": "int", "default": 2**31}, "a", id="int-overflow"),
        pytest.param({"name": "a", "type": "long", "default": 1.5}, "a", id="long-float"),
        pytest.param({"name": "a", "type": "boolean", "default": 0}, "a", id="boolean-int"),
        pytest.param({"name": "a", "type": "string", "default": None}, "a", id="string-null"),
        pytest.param({"name": "a", "type": ["null", "int"], "default": 0}, "a",
                     id="union-not-first-branch"),
        pytest.param({"name": "a", "type": {"type": "enum", "name": "E", "symbols": ["X"]},
                      "default": "Y"}, "a", id="enum-unknown-symbol"),
        pytest.param({"name": "a", "type": {"type": "fixed", "name": "F", "size": 2},
                      "default": "abc"}, "a", id="fixed-wrong-size"),
        pytest.param({"name": "a", "type": {"type": "array", "items": "int"},
                      "default": ["x"]}, "a", id="array-item"),
        pytest.param({"name": "a", "type": {"type": "map", "values": "int"},
                      "default": {"k": "x"}}, "a", id="map-value"),
        pytest.param({"name": "a", "type": record(A, name="Inner"), "default": {}}, "a",
                     id="record-missing-field"),
        pytest.param({"name": "s", "type": record({"name": "b", "type": "int", "default": "x"},
                                                  name="Inner")}, "s.b", id="nested-field"),
    ])
    def test_invalid_default_is_a_violation(self, field, path):
        from lgsp.codec.schema_defaults import invalid_defaults

        (violation,) = invalid_defaults(version(1, record(field)), M.BACKWARD)
        assert (violation.path, violation.rule) == (path, "invalid_default")

    @pytest.mark.parametrize("field", [
        pytest.param({"name": "a", "type": ["null", "int"], "default": None}, id="null-first"),
        pytest.param({"name": "a", "type": "long", "default": 2**40}, id="long"),
        pytest.param({"name": "a", "type": "double", "default": 1}, id="double-from-int"),
        pytest.param({"name": "a", "type": "bytes", "default": "\u00ff"}, id="bytes"),
        pytest.param({"name": "a", "type": decimal_type(4, 2), "default": "\u0001"},
                     id="decimal-bytes"),
        pytest.param({"name": "a", "type": {"type": "fixed", "name": "F", "size": 2},
                      "default": "ab"}, id="fixed"),
        pytest.param({"name": "a", "type": record(A, B_DEFAULT, name="Inner"),
                      "default": {"a": 1}}, id="record-using-inner-default"),
        pytest.param({"name": "a", "type": {"type": "map", "values": "int"},
                      "default": {"k": 1}}, id="map"),
    ])
    def test_valid_default_passes(self, field):
        from lgsp.codec.schema_defaults import invalid_defaults

        assert invalid_defaults(version(1, record(field)), M.BACKWARD) == []

    def test_check_reports_the_invalid_default_of_a_compatible_change(self):
        """int a="x" added to v2: the pair is compatible by Avro's rules, the default is not."""
        from lgsp.codec.schema_check import check_schemas
        from lgsp.codec.schema_sources import SchemaSet

        bad = {"name": "b", "type": "int", "default": "x"}
        versions = [version(1, record(A)), version(2, record(A, bad))]
        result = check_schemas(SchemaSet({"s": versions}, {"s": M.BACKWARD},
                                         {("s", 1): 1, ("s", 2): 2}))
        assert [(v.rule, v.path, v.new.version) for v in result.violations] == [
            ("invalid_default", "b", 2)]
        assert result.violations[0].describe() == (
            "s v2, BACKWARD, at b: default \"x\" of field 'b' is not a value of type int: readers "
            "fill the field with it, so the schema is refused (fastavro, Confluent 42201)")
