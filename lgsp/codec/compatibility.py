"""Schema compatibility: Confluent's seven modes on top of Apache Avro's reader/writer checker.

For one reader/writer pair, ``check_pair`` walks records field by field, arrays' items, maps'
values and unions branch by branch (so every violation has a path), and hands every other pair of
types to ``avro.compatibility`` — the reference checker. A writer type read through a union (e.g.
``X`` made optional, ``["null", X]``) is walked into the branch it resolves to, so every check runs
there too. It adds what that checker misses: a decimal whose precision or scale changed (the bytes
still decode, to a different number), and a named type (record, enum, fixed) whose full name
changed, e.g. moved to another namespace (readers resolving by full name, code generators and
registries see a new type); and it words a renamed named type as one sentence.

Modes, as Confluent defines them for a new version N of a subject:

==================== ==========================================================================
BACKWARD             a reader of N reads data written with N-1           (reader N, writer N-1)
BACKWARD_TRANSITIVE  a reader of N reads data written with every earlier version
FORWARD              a reader of N-1 reads data written with N           (reader N-1, writer N)
FORWARD_TRANSITIVE   a reader of every earlier version reads data written with N
FULL                 BACKWARD and FORWARD with N-1
FULL_TRANSITIVE      BACKWARD and FORWARD with every earlier version
NONE                 no check
==================== ==========================================================================
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import avro.compatibility as avro_compat
import avro.errors
import avro.schema as avro_schema

from lgsp.errors import ConfigError


class CompatibilityMode(StrEnum):
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    NONE = "NONE"

    @classmethod
    def parse(cls, text: str) -> CompatibilityMode:
        try:
            return cls(text.upper())
        except ValueError:
            raise ConfigError(f"unknown compatibility mode {text!r}; use one of "
                              f"{', '.join(m.value for m in cls)}") from None

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")

    @property
    def backward(self) -> bool:
        return self.value.startswith(("BACKWARD", "FULL"))

    @property
    def forward(self) -> bool:
        return self.value.startswith(("FORWARD", "FULL"))


class Rule(StrEnum):
    """The stable name of a broken rule: in text, JSON (docs/schema-check.schema.json), JUnit
    and GitHub annotations."""

    # a reader/writer pair
    FIELD_ADDED_WITHOUT_DEFAULT = "field_added_without_default"
    FIELD_REMOVED_WITHOUT_DEFAULT = "field_removed_without_default"
    TYPE_CHANGED = "type_changed"
    ENUM_SYMBOL_REMOVED = "enum_symbol_removed"
    FIXED_SIZE_CHANGED = "fixed_size_changed"
    UNION_BRANCH_MISSING = "union_branch_missing"
    DECIMAL_CHANGED = "decimal_changed"
    NAMED_TYPE_MOVED = "named_type_moved"
    NAMED_TYPE_RENAMED = "named_type_renamed"
    INCOMPATIBLE = "incompatible"
    """Apache Avro's verdict where the walk found nothing more precise."""
    # one version
    INVALID_DEFAULT = "invalid_default"
    # the history (--against, --registry-url)
    VERSION_REMOVED = "version_removed"
    VERSION_CHANGED_IN_PLACE = "version_changed_in_place"
    SCHEMA_ID_CHANGED = "schema_id_changed"


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """One version of a subject as written in a file."""

    subject: str
    version: int
    file: str
    """Path shown to the user (relative to the repository when known)."""
    text: str
    definition: Any = field(compare=False)
    parsed: avro_schema.Schema = field(compare=False, repr=False)

    @classmethod
    def from_text(cls, subject: str, version: int, file: str, text: str) -> SchemaVersion:
        try:
            definition = json.loads(text)
            parsed = avro_schema.parse(text)
        except (json.JSONDecodeError, avro.errors.AvroException) as exc:
            raise ConfigError(f"{file} ({subject} v{version}) does not parse: {exc}") from None
        return cls(subject, version, file, text, definition, parsed)

    def line_of(self, path: str) -> int:
        """Best-effort line of the last field named in ``path`` (1 when unknown)."""
        name = path.rsplit(".", 1)[-1].split("[", 1)[0]
        needle = f'"name": "{name}"'
        for number, line in enumerate(self.text.splitlines(), start=1):
            if needle in line.replace('":"', '": "'):
                return number
        return 1


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule between a reader and a writer version."""

    subject: str
    reader: SchemaVersion
    writer: SchemaVersion
    mode: CompatibilityMode
    path: str
    """Where in the schema, e.g. ``signer.full_name`` (``.`` = the whole schema)."""
    rule: Rule
    message: str

    @property
    def new(self) -> SchemaVersion:
        """The version under check (the newer of the two)."""
        return self.reader if self.reader.version > self.writer.version else self.writer

    def describe(self) -> str:
        if self.reader.version == self.writer.version:  # one version's rule, or the history's
            return (f"{self.subject} v{self.reader.version}, {self.mode.value}, at {self.path}: "
                    f"{self.message}")
        return (f"{self.subject} v{self.reader.version} (reader) vs v{self.writer.version} "
                f"(writer), {self.mode.value}, at {self.path}: {self.message}")


def _aliases(props: Mapping[str, object]) -> list[str]:
    aliases = props.get("aliases")
    return [a for a in aliases if isinstance(a, str)] if isinstance(aliases, list) else []


def _names(schema: avro_schema.Schema) -> set[str]:
    namespace = getattr(schema, "namespace", None)
    full = {a if "." in a or not namespace else f"{namespace}.{a}"
            for a in _aliases(schema.props)}
    return {getattr(schema, "fullname", ""), *full}


def _field_names(f: avro_schema.Field) -> set[str]:
    return {f.name, *_aliases(f.props)}


def _same_name(r: avro_schema.NamedSchema, w: avro_schema.NamedSchema) -> bool:
    """Avro's name match: the same unqualified name, or the writer's full name among the
    reader's aliases (a namespace move is judged apart, as ``named_type_moved``)."""
    return r.name == w.name or w.fullname in _names(r)


def _resolve(readers: list[avro_schema.Schema],
             w: avro_schema.Schema) -> avro_schema.Schema | None:
    """The reader union branch that writer data of type ``w`` is read with: the first of the
    same type (and name, for records, enums and fixed), else the first it promotes to."""
    for rb in readers:
        if rb.type == w.type and (not isinstance(w, avro_schema.NamedSchema)
                                  or (isinstance(rb, avro_schema.NamedSchema)
                                      and _same_name(rb, w))):
            return rb
    checker = avro_compat.ReaderWriterCompatibilityChecker()
    for rb in readers:
        if (checker.get_compatibility(rb, w).compatibility
                is avro_compat.SchemaCompatibilityType.compatible):
            return rb
    return None


def _type_label(schema: avro_schema.Schema) -> str:
    logical = schema.props.get("logicalType")
    base = getattr(schema, "fullname", None) or schema.type
    return f"{base} ({logical})" if logical else str(base)


class _Walker:
    def __init__(self, reader: SchemaVersion, writer: SchemaVersion, mode: CompatibilityMode):
        self.reader, self.writer, self.mode = reader, writer, mode
        self.found: list[Violation] = []
        self._visited: set[tuple[str, str]] = set()  # recursive record types end the walk
        self.rw = (f"a reader of version {reader.version} cannot read data written with "
                   f"version {writer.version}")

    def add(self, path: str, rule: Rule, message: str) -> None:
        self.found.append(Violation(self.reader.subject, self.reader, self.writer, self.mode,
                                    path or ".", rule, message))

    def walk(self, r: avro_schema.Schema, w: avro_schema.Schema, path: str) -> None:
        if isinstance(w, avro_schema.UnionSchema):
            readers = r.schemas if isinstance(r, avro_schema.UnionSchema) else [r]
            self._unions(readers, w, path)
            return
        if isinstance(r, avro_schema.UnionSchema):  # e.g. X made optional: ["null", X]
            self._branch(r.schemas, w, path)
            return
        if self._extra_checks(r, w, path):
            return
        if isinstance(r, avro_schema.RecordSchema) and isinstance(w, avro_schema.RecordSchema):
            self._records(r, w, path)
            return
        if isinstance(r, avro_schema.ArraySchema) and isinstance(w, avro_schema.ArraySchema):
            self.walk(r.items, w.items, f"{path}[]")
            return
        if isinstance(r, avro_schema.MapSchema) and isinstance(w, avro_schema.MapSchema):
            self.walk(r.values, w.values, f"{path}{{}}")
            return
        result = avro_compat.ReaderWriterCompatibilityChecker().get_compatibility(r, w)
        if result.compatibility is avro_compat.SchemaCompatibilityType.compatible:
            return
        kinds = {i.value for i in result.incompatibilities}
        if "missing_enum_symbols" in kinds:
            symbols = sorted(set(getattr(w, "symbols", [])) - set(getattr(r, "symbols", [])))
            self.add(path, Rule.ENUM_SYMBOL_REMOVED,
                     f"enum symbol(s) {', '.join(symbols)} written by version "
                     f"{self.writer.version} are unknown to version {self.reader.version} "
                     f"(no default symbol): {self.rw}")
        elif "fixed_size_mismatch" in kinds:
            self.add(path, Rule.FIXED_SIZE_CHANGED,
                     f"fixed size changed from {getattr(w, 'size', '?')} to "
                     f"{getattr(r, 'size', '?')}: {self.rw}")
        else:
            self.add(path, Rule.TYPE_CHANGED,
                     f"type changed from {_type_label(w)} (version {self.writer.version}) to "
                     f"{_type_label(r)} (version {self.reader.version}): {self.rw}")

    def _records(self, r: avro_schema.RecordSchema, w: avro_schema.RecordSchema,
                 path: str) -> None:
        pair = (r.fullname, w.fullname)
        if pair in self._visited:
            return
        self._visited.add(pair)
        writer_fields = {f.name: f for f in w.fields}
        for rf in r.fields:
            here = f"{path}.{rf.name}" if path else rf.name
            wf = next((writer_fields[n] for n in _field_names(rf) if n in writer_fields), None)
            if wf is None:
                if not rf.has_default:
                    verb = "added" if self.reader.version > self.writer.version else "removed"
                    self.add(here, Rule.FIELD_ADDED_WITHOUT_DEFAULT if verb == "added"
                             else Rule.FIELD_REMOVED_WITHOUT_DEFAULT,
                             f"field '{rf.name}' {verb} without a default: {self.rw}")
                continue
            self.walk(rf.type, wf.type, here)

    def _unions(self, readers: list[avro_schema.Schema], w: avro_schema.UnionSchema,
                path: str) -> None:
        """Every branch the writer may use must be readable by some reader branch."""
        for branch in w.schemas:
            self._branch(readers, branch, path)

    def _branch(self, readers: list[avro_schema.Schema], w: avro_schema.Schema,
                path: str) -> None:
        """Walk into the reader branch that data of type ``w`` resolves to (Avro's rule: the
        first branch that matches it), so every check runs there too."""
        chosen = _resolve(readers, w)
        if chosen is not None:
            self.walk(chosen, w, path)
            return
        target = (_type_label(readers[0]) if len(readers) == 1
                  else "union " + ", ".join(_type_label(rb) for rb in readers) if readers
                  else "an empty union")
        self.add(path, Rule.UNION_BRANCH_MISSING,
                 f"{_type_label(w)} values written by version {self.writer.version} cannot be "
                 f"read as {target} by version {self.reader.version}: {self.rw}")

    def _extra_checks(self, r: avro_schema.Schema, w: avro_schema.Schema, path: str) -> bool:
        """What avro.compatibility lets through (decimal precision/scale, named-type full names)
        or words badly (a renamed named type); True when nothing inside is worth comparing."""
        if (isinstance(r, avro_schema.NamedSchema) and isinstance(w, avro_schema.NamedSchema)
                and r.type == w.type and not _same_name(r, w)):
            self.add(path, Rule.NAMED_TYPE_RENAMED,
                     f"{r.type} {w.fullname} was renamed to {r.fullname} without an alias "
                     f"naming {w.fullname}: readers resolve named types by name, so {self.rw}")
            return True
        if r.props.get("logicalType") == "decimal" and w.props.get("logicalType") == "decimal":
            rp, rs = getattr(r, "precision", None), getattr(r, "scale", 0) or 0
            wp, ws = getattr(w, "precision", None), getattr(w, "scale", 0) or 0
            if (rp, rs) != (wp, ws):
                self.add(path, Rule.DECIMAL_CHANGED,
                         f"decimal changed from precision {wp}, scale {ws} (version "
                         f"{self.writer.version}) to precision {rp}, scale {rs} (version "
                         f"{self.reader.version}): the same bytes decode to a different number "
                         f"or overflow, so {self.rw}")
        if (isinstance(r, avro_schema.NamedSchema) and isinstance(w, avro_schema.NamedSchema)
                and r.type == w.type and r.name == w.name
                and w.fullname not in _names(r)):
            self.add(path, Rule.NAMED_TYPE_MOVED,
                     f"{r.type} {w.fullname} became {r.fullname} (another namespace) without an "
                     f"alias: readers and generated code resolve types by full name, so "
                     f"{self.rw}")
        return False


def check_pair(reader: SchemaVersion, writer: SchemaVersion,
               mode: CompatibilityMode = CompatibilityMode.BACKWARD) -> list[Violation]:
    """Every violation found when ``reader`` reads data written with ``writer``."""
    walker = _Walker(reader, writer, mode)
    walker.walk(reader.parsed, writer.parsed, "")
    if not walker.found:  # safety net: the reference checker's verdict on the whole schema
        result = avro_compat.ReaderWriterCompatibilityChecker().get_compatibility(
            reader.parsed, writer.parsed)
        if result.compatibility is not avro_compat.SchemaCompatibilityType.compatible:
            walker.add(".", Rule.INCOMPATIBLE, f"{'; '.join(sorted(result.messages))}: "
                       f"{walker.rw}")
    return walker.found


@dataclass(frozen=True, slots=True)
class PairChecked:
    subject: str
    reader: int
    writer: int
    mode: CompatibilityMode
    violations: tuple[Violation, ...]


def check_history(versions: Sequence[SchemaVersion], mode: CompatibilityMode, *,
                  first_new: int = 1) -> list[PairChecked]:
    """Check each version from index ``first_new`` against its predecessors, as the registry
    would have when it was registered (versions sorted by version number)."""
    ordered = sorted(versions, key=lambda v: v.version)
    checked: list[PairChecked] = []
    if mode is CompatibilityMode.NONE:
        return checked
    for i in range(max(first_new, 1), len(ordered)):
        new = ordered[i]
        targets = ordered[:i] if mode.transitive else ordered[i - 1:i]
        for old in reversed(targets):
            if mode.backward:
                checked.append(PairChecked(new.subject, new.version, old.version, mode,
                                           tuple(check_pair(new, old, mode))))
            if mode.forward:
                checked.append(PairChecked(new.subject, old.version, new.version, mode,
                                           tuple(check_pair(old, new, mode))))
    return checked
