"""``lgsp schemas check``: every subject's versions compatible under its mode, optionally only the
changes since a baseline (a git ref, or what a schema registry holds)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lgsp.codec.compatibility import (
    CompatibilityMode,
    PairChecked,
    Rule,
    SchemaVersion,
    Violation,
    check_history,
)
from lgsp.codec.schema_defaults import invalid_defaults
from lgsp.codec.schema_sources import SchemaSet


@dataclass(slots=True)
class CheckResult:
    pairs: list[PairChecked] = field(default_factory=list)
    registry_violations: list[Violation] = field(default_factory=list)
    """Problems of one version or of the history itself: an invalid default, a version changed
    in place or removed, an id reused."""
    subjects: list[str] = field(default_factory=list)

    @property
    def violations(self) -> list[Violation]:
        return [*self.registry_violations, *(v for p in self.pairs for v in p.violations)]

    @property
    def compatible(self) -> bool:
        return not self.violations


def _canonical(version: SchemaVersion) -> str:
    """What must never change in a published version: everything but ``doc`` (documentation
    never changes how data is written, read or resolved — defaults, aliases, order and logical
    types do, so they stay in)."""
    return json.dumps(_without_docs(version.definition), sort_keys=True, separators=(",", ":"))


def _without_docs(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_docs(v) for k, v in node.items() if k != "doc"}
    if isinstance(node, list):
        return [_without_docs(v) for v in node]
    return node


def check_schemas(current: SchemaSet, baseline: SchemaSet | None = None) -> CheckResult:
    """Check ``current``; with a ``baseline``, only versions new since it (and the baseline's
    versions must still be there, unchanged, with the same ids)."""
    result = CheckResult(subjects=sorted(current.versions))
    for subject in result.subjects:
        versions = current.versions[subject]
        mode = current.modes.get(subject, CompatibilityMode.BACKWARD)
        old = {} if baseline is None else {v.version: v
                                             for v in baseline.versions.get(subject, [])}
        for v in versions:
            if v.version not in old:
                result.registry_violations += invalid_defaults(v, mode)
        if baseline is None:
            result.pairs += check_history(versions, mode)
            continue
        now = {v.version: v for v in versions}
        for number, before in sorted(old.items()):
            after = now.get(number)
            if after is None:
                result.registry_violations.append(Violation(
                    subject, before, before, mode, ".", Rule.VERSION_REMOVED,
                    f"version {number} of {subject} was removed; data written with it may "
                    "still exist — keep every published version"))
            elif _canonical(after) != _canonical(before):
                result.registry_violations.append(Violation(
                    subject, after, before, mode, ".", Rule.VERSION_CHANGED_IN_PLACE,
                    f"version {number} of {subject} was changed in place; publish the change "
                    f"as version {max(now) + 1} instead"))
            elif current.ids.get((subject, number)) != baseline.ids.get((subject, number)):
                result.registry_violations.append(Violation(
                    subject, after, before, mode, ".", Rule.SCHEMA_ID_CHANGED,
                    f"{subject} v{number} had schema id {baseline.ids.get((subject, number))}, "
                    f"now {current.ids.get((subject, number))}: ids are on the wire forever"))
        history = [old[n] for n in sorted(old)] + [now[n] for n in sorted(now) if n not in old]
        result.pairs += check_history(history, mode, first_new=len(old))
    return result
